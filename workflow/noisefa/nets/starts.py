"""Where a data-trained network starts: the registry behind the training conditions' ``start``.

The paper has two starts: ``init`` (the seeded random W and B: BP, FA w/o) and ``noise`` (the
noise-pretrained checkpoint: FA w/). The *controls* (issue 22; ``conditions.CONTROLS``) each take
one ingredient of noise pretraining and leave out the rest, so that a downstream effect of FA w/
can be traced to its cause. Each starts from the same seeded networks as FA w/o and, where it
needs one, from its noise-pretrained *twin* (the checkpoint FA w/ of the same seeds starts from):

- ``aligned``: the untrained W with, in every layer whose B carries an error (all but the first),
  each input neuron's outgoing weights (a column of W) rotated toward its feedback weights (the
  same column of B) in their common plane, to a target angle, norms kept: alignment without noise
  (the one-time soft alignment of Cheon, Bae & Paik 2025). Target ``matched``: per network and
  layer the twin's mean neuron angle; or a number of degrees (the dose-response).
- ``newb``: the twin's W (and biases, BatchNorm) with a fresh random B from its own seed key:
  everything noise did to W except the alignment to the B that then trains it.
- ``scaled``: the untrained W with the readout layer's W rescaled, per network, to the Frobenius
  norm of the twin's readout: the flatter readout any training gives, without noise or alignment.

A start is a function (fresh, twin, params) -> model; it never changes ``fresh`` or ``twin``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..seeds import generator
from . import metrics as M
from .stack import Stack

MATCHED = "matched"  # fa_aligned's target: the twin's angle, per network and layer


@dataclass(frozen=True)
class Start:
    name: str
    needs_twin: bool  # whether it reads the noise-pretrained twin's checkpoint
    build: Callable[[Stack, Stack | None, dict], Stack]
    doc: str


@torch.no_grad()
def rotate_toward(W: torch.Tensor, B: torch.Tensor, angle_deg: torch.Tensor | float) -> torch.Tensor:
    """Each column of W (models, out, in) rotated in its plane with the same column of B to
    ``angle_deg`` from it (a number, or one per model: shape (models,)), its norm kept.

    w' = |w| (cos t u + sin t v), u = b/|b|, v the unit part of w orthogonal to u: the column stays
    in span(w, b), on w's side of b. A column parallel to b (no plane) keeps sin t v = 0 only at
    t = 0; random columns never are (probability 0), and a zero column stays zero. Computed in
    float64, returned in W's dtype. A convolution's kernels (models, out, in, k, k) rotate per input
    channel: its outgoing slice (out x k x k) is the column (``metrics.neuron_angles``' unit)."""
    if W.dim() > 3:
        M, n_in = W.shape[0], W.shape[2]
        columns = lambda t: t.movedim(2, -1).reshape(M, -1, n_in)  # noqa: E731
        turned = rotate_toward(columns(W), columns(B), angle_deg)
        return turned.reshape(*W.movedim(2, -1).shape).movedim(-1, 2).contiguous()
    Wd, Bd = W.double(), B.double()
    t = torch.deg2rad(torch.as_tensor(angle_deg, dtype=torch.float64, device=W.device))
    t = t.reshape(-1, 1, 1) if t.dim() else t
    u = Bd / Bd.norm(dim=1, keepdim=True).clamp_min(1e-300)
    orth = Wd - (Wd * u).sum(1, keepdim=True) * u
    v = orth / orth.norm(dim=1, keepdim=True).clamp_min(1e-300)
    out = Wd.norm(dim=1, keepdim=True) * (torch.cos(t) * u + torch.sin(t) * v)
    return out.to(W.dtype)


def _copy(model: Stack) -> Stack:
    return model.select(list(range(model.n_models)))


def _init(fresh: Stack, twin: Stack | None, params: dict) -> Stack:
    return fresh


def _noise(fresh: Stack, twin: Stack | None, params: dict) -> Stack:
    return twin


def target_angles(fresh: Stack, twin: Stack | None, target) -> list[torch.Tensor | None]:
    """Per layer (None for the first: its B carries no error) the target angle of every network:
    the twin's mean neuron angle of that layer (``matched``) or ``target`` degrees."""
    out: list[torch.Tensor | None] = [None]
    for i in range(1, fresh.arch.depth):
        if target == MATCHED:
            out.append(M.neuron_angles(twin.weights[i].detach(), twin.feedback[i]).double().mean(1))
        else:
            out.append(torch.full((fresh.n_models,), float(target), dtype=torch.float64))
    return out


def _aligned(fresh: Stack, twin: Stack | None, params: dict) -> Stack:
    target = params.get("aligned_angle", MATCHED)
    if target == MATCHED and twin is None:
        raise ValueError("fa_aligned with aligned_angle 'matched' needs the noise-pretrained twin's checkpoint")
    if target != MATCHED and not (0.0 <= float(target) <= 180.0):
        raise ValueError(f"aligned_angle must be 'matched' or a number of degrees in [0, 180], got {target!r}")
    model = _copy(fresh)
    with torch.no_grad():
        for W, B, t in zip(model.weights, model.feedback, target_angles(fresh, twin, target)):
            if t is not None:
                W.copy_(rotate_toward(W, B, t.to(W.device)))
    return model


def new_feedback(model: Stack) -> list[torch.Tensor]:
    """A fresh He-normal B per layer and network, from its own seed key (never the init's)."""
    Bs = [torch.empty_like(b, device="cpu") for b in model.feedback]
    for m, seed in enumerate(model.seeds):
        gen = generator("feedback-newb", *model.arch.init_keys(seed))
        for b in Bs:
            b[m] = torch.randn(b.shape[1:], generator=gen) * math.sqrt(2.0 / math.prod(b.shape[2:]))  # fan_in
    return Bs


def _newb(fresh: Stack, twin: Stack | None, params: dict) -> Stack:
    model = _copy(twin)
    with torch.no_grad():
        for old, new in zip(model.feedback, new_feedback(model)):
            old.copy_(new.to(old.device))
        if model.direct_feedback:  # D of the last hidden layer is B's copy (model.py); FA never reads it
            model.direct_feedback[-1].copy_(model.feedback[-1])
    return model


def _scaled(fresh: Stack, twin: Stack | None, params: dict) -> Stack:
    model = _copy(fresh)
    with torch.no_grad():
        W, target = model.weights[-1], twin.weights[-1].detach().double().flatten(1).norm(dim=1)
        scale = target.to(W.device) / W.double().flatten(1).norm(dim=1).clamp_min(1e-300)
        W.copy_((W.double() * scale.view(-1, 1, 1)).to(W.dtype))
    return model


STARTS: dict[str, Start] = {
    "init": Start("init", False, _init, "the seeded random W and B (BP, FA w/o)"),
    "noise": Start("noise", True, _noise, "the noise-pretrained checkpoint (FA w/)"),
    "aligned": Start("aligned", False, _aligned, "untrained W, each neuron rotated toward B to a target angle"),
    "newb": Start("newb", True, _newb, "noise-pretrained W with a fresh random B"),
    "scaled": Start("scaled", True, _scaled, "untrained W, readout rescaled to the noise-pretrained norm"),
}


def get_start(name: str) -> Start:
    try:
        return STARTS[name]
    except KeyError:
        raise KeyError(f"unknown start {name!r}; known starts: {sorted(STARTS)}") from None


def build(start: str, fresh: Stack, twin: Stack | None, params: dict | None = None) -> Stack:
    """The network ``start`` makes from the seeded ``fresh`` stack and the ``twin`` checkpoint."""
    s = get_start(start)
    if s.needs_twin and twin is None:
        raise ValueError(f"start {start!r} needs the noise-pretrained twin's checkpoint")
    return s.build(fresh, twin, params or {})
