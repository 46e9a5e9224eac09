"""Stacked MLPs: many independent networks of one shape trained as one model.

Weights have shape (models, out, in) and every layer is one batched matmul, so
ten seeds of a cell cost one job and one set of kernel launches. Network m of a
stack is bit-for-bit the network a stack of one with the same seed would be
(up to float rounding of the batched matmul): models never mix.

Layers: Linear -> ReLU -> (BatchNorm) ... -> Linear -> logits. "Depth" counts
Linear layers (depth 2 = in -> hidden -> classes). W and B are He-normal,
N(0, 2/fan_in), each network from its own seed; biases start at zero. B is a
buffer: saved in every state_dict, never a parameter (kp and wm change it in place).

Direct feedback alignment's matrices D_l (one per hidden layer, shape (models, classes,
hidden): the output error e reaches hidden layer l as ``e D_l``) are buffers too. D of the
last hidden layer is a copy of the last layer's initial B (where DFA and FA coincide, so a
depth-2 DFA net is exactly an FA net); the others are He-normal N(0, 2/hidden), from their own
generator keyed by the init keys, so adding them changed no W or B.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
from torch import nn

from .. import precision
from ..seeds import generator
from . import feedback
from .learning_rules import LearningRule
from .stack import Stack


@dataclass(frozen=True)
class Architecture:
    in_dim: int
    n_classes: int
    depth: int
    hidden: int = 100
    batchnorm: bool = True

    def __post_init__(self):
        if self.depth < 1:
            raise ValueError(f"depth must be >= 1, got {self.depth}")

    @property
    def dims(self) -> list[int]:
        return [self.in_dim] + [self.hidden] * (self.depth - 1) + [self.n_classes]

    @property
    def macs(self) -> list[int]:
        """Multiply-accumulates of each layer's forward pass, per sample (``noisefa.pipeline.resources``)."""
        return [self.dims[i] * self.dims[i + 1] for i in range(self.depth)]

    @property
    def n_weights(self) -> int:
        return sum(self.macs)

    def init_keys(self, seed: int) -> tuple:
        # BatchNorm has no random state, so it is not part of the init identity:
        # networks with and without BN start from the same W and B.
        return ("init", self.in_dim, self.hidden, self.n_classes, self.depth, int(seed))


class StackedMLP(Stack, nn.Module):
    ARCHITECTURE = Architecture
    OPTIONS = ("bn_momentum", "bn_eps")

    def __init__(self, arch: Architecture, seeds: list[int], bn_momentum: float = 0.1, bn_eps: float = 1e-5):
        super().__init__()
        Bs = self._init_layers(arch, seeds, [(arch.dims[i + 1], arch.dims[i]) for i in range(arch.depth)], bn_momentum, bn_eps)
        M = self.n_models
        Ds = [torch.empty(M, arch.n_classes, arch.hidden) for _ in range(arch.depth - 1)]
        for m, seed in enumerate(self.seeds):
            gen = generator("direct-feedback", *arch.init_keys(seed))
            for d in Ds[:-1]:
                d[m] = torch.randn(d.shape[1:], generator=gen) * math.sqrt(2.0 / d.shape[2])
        if Ds:
            Ds[-1].copy_(Bs[-1])
        for i, d in enumerate(Ds):
            self.register_buffer(f"D{i}", d)
        self._init_batchnorm([arch.hidden] * (arch.depth - 1) if arch.batchnorm else [])

    @property
    def direct_feedback(self) -> list[torch.Tensor]:
        """D_l of every hidden layer l (models, classes, hidden): DFA's route from the output error."""
        return [getattr(self, f"D{i}") for i in range(self.arch.depth - 1)]

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        # D is a function of the seeds alone: a checkpoint or snapshot written before DFA
        # existed lacks it and loads with this model's own seeded D.
        own = {k: v for k, v in self.state_dict().items() if re.fullmatch(r"D\d+", k) and k not in state_dict}
        return super().load_state_dict({**state_dict, **own}, strict=strict, assign=assign)

    def forward(self, x: torch.Tensor, rule: LearningRule, return_hidden: bool = False):
        """x: (models, N, in) or (N, in) shared by all models; returns logits (models, N, C).

        Without autograd (evaluation, probes) every rule's forward pass is the plain ``x Wᵀ + b``,
        so the layers skip the rule's autograd Function, and an input shared by all models meets
        all their first-layer weights in one matrix product (N, in) x (in, models*out).
        """
        inference = not torch.is_grad_enabled()
        h = x.expand(self.n_models, *x.shape) if x.dim() == 2 and not inference else x
        hidden = []
        tape, direct = None if inference else feedback.tape(rule), [None] + self.direct_feedback  # D feeding layer i
        last = self.arch.depth - 1
        for i, (W, b, B) in enumerate(zip(self.weights, self.biases, self.feedback)):
            if inference:
                h = _plain_linear(h, W, b)
            else:
                h = feedback.linear(rule, h, W, b, B, direct=direct[i], tape=tape, output=i == last)
            if i < self.arch.depth - 1:
                h = torch.relu(h)
                if self.arch.batchnorm:
                    h = self._batchnorm(h, i)
                hidden.append(h)
        return (h, hidden) if return_hidden else h

    def select(self, index: list[int]) -> StackedMLP:
        """A new stack holding the networks at ``index`` (for one-by-one comparisons)."""
        return self._holding(StackedMLP(self.arch, [self.seeds[i] for i in index], self.bn_momentum, self.bn_eps), index)


def _plain_linear(h: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``h Wᵀ + b`` per model; ``h`` is (models, N, in), or (N, in) shared by every model."""
    M, out, n_in = W.shape
    if h.dim() == 2:
        return precision.addmm(b.reshape(-1), h, W.reshape(M * out, n_in).t()).view(len(h), M, out).transpose(0, 1)
    return precision.baddbmm(b.unsqueeze(1), h, W.transpose(1, 2))


STACK = StackedMLP  # the family registry's entry (noisefa.nets.families)


def from_block(model: dict, in_dim: int, n_classes: int, depth: int) -> Architecture:
    """The MLP a job spec's model block describes: depth is the cell's."""
    return Architecture(in_dim, n_classes, depth, hidden=model["hidden"], batchnorm=model["batchnorm"])


def fixed_depth(model: dict) -> None:
    """An MLP block fixes no depth: every cell gives its own."""
    return None
