"""Metrics of stacked networks: alignment of W to B, effective rank, accuracy, calibration (the area
under a learning curve is a summary of the tidy table: ``analysis.summary.auc``).

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
    For a convolution's kernels (models, out, in, k, k) the unit is an input *channel*: its
    outgoing kernel slice ``W[:, :, i]`` (out x k x k) against B's (``noisefa.nets.cnn``).
    """
    W, B = W.double(), B.double()
    dims = 1 if W.dim() == 3 else (1, *range(3, W.dim()))
    dot = (W * B).sum(dim=dims)
    norm = (W * W).sum(dim=dims).sqrt() * (B * B).sum(dim=dims).sqrt() if W.dim() > 3 else W.norm(dim=1) * B.norm(dim=1)
    return _cos_to_deg(dot / norm.clamp_min(1e-300)).float()


def unfolded(W: torch.Tensor) -> torch.Tensor:
    """A layer's weights as matrices (models, out, in): a linear layer's as they are, a convolution's
    kernels (models, out, in, k, k) unfolded to (models, out, in*k*k), the matrix the convolution
    applies to each image patch (what its effective rank is read from)."""
    return W if W.dim() == 3 else W.flatten(2)


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
    # (M, F, F); silent neurons give zero rows/cols, zero eigenvalues. With more neurons than samples
    # (a convolution's maps: every channel at every position) the (M, N, N) matrix hn hnᵀ has the same
    # nonzero eigenvalues, and zero ones add nothing to the entropy: the same erank at a fraction of
    # the cost (F = 3,136 units of a 16-channel 14x14 map: an eigendecomposition 30x smaller).
    gram = hn.transpose(1, 2) @ hn if h.shape[2] <= h.shape[1] else hn @ hn.transpose(1, 2)
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


def logit_range(logits: torch.Tensor) -> torch.Tensor:
    """Per model, the median over images of (largest logit - smallest logit), shape (models,).

    The scale of a network's outputs in nats: multiplying the logits by c multiplies it by c. A
    cross-entropy (and its generalisation gap) grows with this scale as much as with what the network
    gets wrong, so it is logged beside the losses. A network with a non-finite logit (diverged) gets NaN.
    """
    z = logits.double()
    r = z.amax(-1) - z.amin(-1)  # (M, N)
    s = r.sort(dim=1).values
    n = s.shape[1]
    med = (s[:, (n - 1) // 2] + s[:, n // 2]) / 2
    return med.masked_fill(~torch.isfinite(z).flatten(1).all(1), float("nan"))


# The temperature search: log T in [LOG_T_MIN, LOG_T_MAX], T from 1e-7 (a readout scaled down a
# millionfold) to 6e27 (the logits of a blown-up depth-5 FA network reach 1e22 nats); 45
# golden-section steps narrow the bracket of log T from 80 to 3e-8 (the loss is then at its minimum
# to ~1e-15: it is flat to second order there).
LOG_T_MIN, LOG_T_MAX, TEMPERATURE_STEPS = -16.0, 64.0, 45


def _scaled_ce(logits: torch.Tensor, y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy per model of ``logits / t`` (t per model), in float64."""
    M_, N, C = logits.shape
    y = y.expand(M_, N) if y.dim() == 1 else y
    z = logits.double() / t.view(-1, 1, 1)
    return (torch.logsumexp(z, -1) - z.gather(-1, y.unsqueeze(-1)).squeeze(-1)).mean(1)


def fit_temperature(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per model, the temperature T minimising the mean cross-entropy of ``logits / T`` on (logits, y).

    The cross-entropy is convex in 1/T, hence unimodal in log T: a golden-section search on log T
    over [LOG_T_MIN, LOG_T_MAX] finds the minimum, or a bound: the lower where the set is separated
    (the loss falls as T -> 0), the upper where the logits do worse than none (it falls as T -> inf,
    to ln C). Scaling a network's logits by c scales its T by c, so the loss at T is scale-free. A
    network with non-finite logits gets NaN. float64 throughout.
    """
    M_ = logits.shape[0]
    ok = torch.isfinite(logits.double()).flatten(1).all(1)
    z = torch.where(ok.view(-1, 1, 1), logits.double(), torch.zeros((), dtype=torch.float64, device=logits.device))
    lo = torch.full((M_,), LOG_T_MIN, dtype=torch.float64, device=logits.device)
    hi = torch.full((M_,), LOG_T_MAX, dtype=torch.float64, device=logits.device)
    g = (math.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = _scaled_ce(z, y, a.exp()), _scaled_ce(z, y, b.exp())
    for _ in range(TEMPERATURE_STEPS):
        left = fa <= fb  # the minimum lies in [lo, b]: b becomes hi, a becomes b
        lo, hi = torch.where(left, lo, a), torch.where(left, b, hi)
        a_new = torch.where(left, hi - g * (hi - lo), b)
        b_new = torch.where(left, a, lo + g * (hi - lo))
        f_new = _scaled_ce(z, y, torch.where(left, a_new, b_new).exp())
        fa, fb = torch.where(left, f_new, fb), torch.where(left, fa, f_new)
        a, b = a_new, b_new
    t = ((lo + hi) / 2).exp()
    return t.masked_fill(~ok, float("nan"))


def cross_entropy_at(logits: torch.Tensor, y: torch.Tensor, temperature: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy per model of ``logits / temperature`` (one temperature per model), float64."""
    return _scaled_ce(logits, y, temperature.to(logits.device, torch.float64))
