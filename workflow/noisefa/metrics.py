"""Metrics of stacked networks: alignment of W to B, effective rank, accuracy, AUC.

All functions take stacked tensors (models first) and return one value per model
(or per model and neuron), so one call measures every network of a job.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _cos_to_deg(cos: torch.Tensor) -> torch.Tensor:
    return torch.rad2deg(torch.arccos(cos.clamp(-1.0, 1.0)))


def neuron_angles(W: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """Per-neuron alignment angle in degrees, shape (models, in).

    Neuron i of a layer's input sends its activity forward through column
    ``W[:, :, i]`` and receives its error through column ``B[:, :, i]`` (B is
    stored in W's shape); the angle between the two columns is its alignment.
    """
    W, B = W.double(), B.double()
    dot = (W * B).sum(dim=1)
    norm = W.norm(dim=1) * B.norm(dim=1)
    return _cos_to_deg(dot / norm.clamp_min(1e-300)).float()


def matrix_angle(W: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """Angle in degrees between vec(W) and vec(B), shape (models,)."""
    return vector_angle(W.flatten(1), B.flatten(1))


def vector_angle(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Angle in degrees between matching rows of two (models, n) tensors."""
    a, b = a.double(), b.double()
    cos = (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(1e-300)
    return _cos_to_deg(cos).float()


def wb_distance(W: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """Frobenius distance ||W - B|| per model."""
    return (W - B).flatten(1).norm(dim=1)


def wb_distance_normalised(W: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """||W/||W|| - B/||B|||| per model: distance of directions, blind to W's growth in norm.

    Noise training grows ||W||, so the raw distance can rise while W turns toward B;
    this one is 2 sin(angle/2) of the matrix angle, in [0, 2].
    """
    Wf, Bf = W.flatten(1).double(), B.flatten(1).double()
    Wn = Wf / Wf.norm(dim=1, keepdim=True).clamp_min(1e-300)
    Bn = Bf / Bf.norm(dim=1, keepdim=True).clamp_min(1e-300)
    return (Wn - Bn).norm(dim=1).float()


def erank_of_values(s: torch.Tensor) -> torch.Tensor:
    """exp(entropy of s / sum(s)) over the last dim, for non-negative spectra."""
    s = s.double().clamp_min(0)
    p = s / s.sum(dim=-1, keepdim=True).clamp_min(1e-300)
    return torch.exp(-(p * torch.log(p.clamp_min(1e-300))).sum(dim=-1))


def effective_rank(W: torch.Tensor) -> torch.Tensor:
    """Roy & Vetterli (2007): exp of the entropy of the normalised singular values."""
    W = W.double()
    out = torch.full(W.shape[:-2], float("nan"), dtype=torch.float64, device=W.device)
    ok = torch.isfinite(W).flatten(-2).all(-1)  # a diverged network has no spectrum: NaN, not an error
    if ok.any():
        out[ok] = erank_of_values(torch.linalg.svdvals(W[ok]))
    return out.float()


def gram_erank(h: torch.Tensor) -> torch.Tensor:
    """Effective dimensionality of the hidden features, per model (Fig. 4g,h).

    ``h`` is (models, samples, neurons). The Gram matrix is the cosine similarity of
    the neurons' feature vectors over the samples (neurons x neurons, PSD); its
    effective rank is that of its eigenvalues. Silent neurons (all-zero features) are
    left out: they span no dimension. Independent features give ~neurons, one shared
    feature 1.
    """
    h = h.double()
    norm = h.norm(dim=1, keepdim=True)  # (M, 1, F)
    alive = norm > 1e-12
    hn = torch.where(alive, h / norm.clamp_min(1e-300), torch.zeros_like(h))
    gram = hn.transpose(1, 2) @ hn  # (M, F, F); silent neurons give zero rows/cols, zero eigenvalues
    out = torch.full(h.shape[:1], float("nan"), dtype=torch.float64, device=h.device)
    ok = torch.isfinite(h).flatten(1).all(1)  # a diverged network has no features: NaN
    if ok.any():
        out[ok] = erank_of_values(torch.linalg.eigvalsh(gram[ok]))
    return out.float()


def readout_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Softmax of (models, probes, classes) logits, in float64."""
    return torch.softmax(logits.double(), dim=-1)


def stacked_cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy per model, shape (models,); y is (models, N) or (N,)."""
    M, N, C = logits.shape
    y = y.expand(M, N) if y.dim() == 1 else y
    return F.cross_entropy(logits.reshape(M * N, C), y.reshape(M * N), reduction="none").view(M, N).mean(1)


def stacked_accuracy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    M, N, _ = logits.shape
    y = y.expand(M, N) if y.dim() == 1 else y
    return (logits.argmax(-1) == y).float().mean(1)


def auc(x, y) -> float:
    """Area under a curve by the trapezoid rule, divided by the x-range.

    For a test-accuracy curve over epochs this is the mean accuracy over
    training: 1.0 means perfect from the first evaluation on.
    """
    x = [float(v) for v in x]
    y = [float(v) for v in y]
    if len(x) != len(y) or len(x) < 2:
        raise ValueError("auc needs at least two points of equal-length x and y")
    area = sum((x[i + 1] - x[i]) * (y[i + 1] + y[i]) / 2 for i in range(len(x) - 1))
    span = x[-1] - x[0]
    if span <= 0 or not math.isfinite(area):
        raise ValueError("auc needs increasing x")
    return area / span
