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


def effective_rank(W: torch.Tensor) -> torch.Tensor:
    """Roy & Vetterli (2007): exp of the entropy of the normalised singular values."""
    W = W.double()
    out = torch.full(W.shape[:-2], float("nan"), dtype=torch.float64, device=W.device)
    ok = torch.isfinite(W).flatten(-2).all(-1)  # a diverged network has no spectrum: NaN, not an error
    if ok.any():
        s = torch.linalg.svdvals(W[ok])
        p = s / s.sum(dim=-1, keepdim=True)
        out[ok] = torch.exp(-(p * torch.log(p.clamp_min(1e-300))).sum(dim=-1))
    return out.float()


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
