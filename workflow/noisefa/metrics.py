"""Metrics of stacked networks: alignment of W to B, effective rank, accuracy, calibration, AUC.

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


def gram_erank(h: torch.Tensor, centred: bool = False) -> torch.Tensor:
    """Effective dimensionality of the hidden features, per model (Fig. 4g,h).

    ``h`` is (models, samples, neurons). The Gram matrix is the cosine similarity of
    the neurons' feature vectors over the samples (neurons x neurons, PSD); its
    effective rank is that of its eigenvalues. Silent neurons (all-zero features) are
    left out: they span no dimension. Independent features give ~neurons, one shared
    feature 1.

    The paper's measure is uncentred: for ReLU features it mostly measures their mean (a
    shared positive offset is one dominant direction). On 100 independent features it gives
    ~40 for relu(z), 11 for relu(z + 1), 4 for relu(z + 2), against ~95 centred. With
    ``centred=True`` each neuron's mean over the samples is removed first (the Gram matrix is
    then the neurons' correlation matrix): the dimensionality of how features *vary*.
    """
    h = h.double()
    if centred:
        h = h - h.mean(dim=1, keepdim=True)
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


def reliability_sums(logits: torch.Tensor, y: torch.Tensor, n_bins: int = 15) -> torch.Tensor:
    """Per model and confidence bin: (count, sum of confidences, number correct), (models, n_bins, 3).

    Confidence is the largest softmax probability, the prediction the argmax of the logits
    (as ``stacked_accuracy``). Bins are equal-width and right-closed: bin b holds the
    confidences in (b/n_bins, (b+1)/n_bins] (Guo et al. 2017). The sums are additive, so a
    dataset evaluated in chunks gives the same sums as in one piece; float64. A network with
    non-finite logits (diverged) gets NaN sums, hence a NaN ECE, not an error.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    Mn, N, _ = logits.shape
    y = y.expand(Mn, N) if y.dim() == 1 else y
    conf = torch.softmax(logits.double(), dim=-1).amax(-1)  # (M, N)
    correct = (logits.argmax(-1) == y).double()
    # a diverged network's NaN confidence lands in bin 0 and makes its sums (and ECE) NaN
    b = (torch.ceil(conf.nan_to_num(0.0) * n_bins) - 1).clamp(0, n_bins - 1).long()
    out = torch.zeros(Mn, n_bins, 3, dtype=torch.float64, device=logits.device)
    out[:, :, 0].scatter_add_(1, b, torch.ones_like(conf))
    out[:, :, 1].scatter_add_(1, b, conf)
    out[:, :, 2].scatter_add_(1, b, correct)
    return out


def ece_from_sums(sums: torch.Tensor) -> torch.Tensor:
    """ECE per model from ``reliability_sums``: sum_b |acc_b - conf_b| n_b / N = sum_b |correct_b - conf_sum_b| / N."""
    n = sums[..., 0].sum(-1)
    return ((sums[..., 2] - sums[..., 1]).abs().sum(-1) / n.clamp_min(1)).float()


def reliability_from_sums(sums: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(count, mean confidence, accuracy), each (models, n_bins); NaN confidence and accuracy in empty bins."""
    count = sums[..., 0]
    safe = count.clamp_min(1)
    empty = count == 0
    conf = (sums[..., 1] / safe).masked_fill(empty, float("nan"))
    acc = (sums[..., 2] / safe).masked_fill(empty, float("nan"))
    return count, conf, acc


def expected_calibration_error(logits: torch.Tensor, y: torch.Tensor, n_bins: int = 15) -> torch.Tensor:
    """Expected calibration error per model, shape (models,).

    ``logits`` is (models, N, classes), ``y`` (N,) or (models, N). ECE = sum over ``n_bins``
    equal-width confidence bins of |accuracy(bin) - mean confidence(bin)| * n_bin / N, with
    confidence = max softmax probability (see ``reliability_sums`` for the bins). 0 for a
    calibrated model; 1 for one that is always certain and always wrong.
    """
    return ece_from_sums(reliability_sums(logits, y, n_bins))


def reliability_bins(logits: torch.Tensor, y: torch.Tensor, n_bins: int = 15):
    """Reliability diagram per model and bin: (count, mean confidence, accuracy), each (models, n_bins)."""
    return reliability_from_sums(reliability_sums(logits, y, n_bins))


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
