"""The base of every stacked model: what the learning rules, the engine and the checkpoints read.

Its own module so that the rules' autograd code (``feedback``) can name the type it updates without
importing a model family (each family's module imports it: ``model.StackedMLP``, ``cnn.StackedCNN``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..seeds import generator


class Stack:
    """What every stacked model (``StackedMLP``, ``noisefa.nets.cnn.StackedCNN``) shares: its networks'
    seeds, one feedback buffer B<i> per layer, and taking some of its networks into a new stack.
    ``ARCHITECTURE`` is the class of its ``arch`` (a checkpoint rebuilds it from its fields);
    ``OPTIONS`` name the constructor's arguments beyond (arch, seeds), which a checkpoint keeps."""

    ARCHITECTURE: type
    OPTIONS: tuple[str, ...] = ()

    @property
    def options(self) -> dict:
        return {k: getattr(self, k) for k in self.OPTIONS}

    @property
    def direct_feedback(self) -> list[torch.Tensor]:
        """D_l of DFA (none unless a family defines them)."""
        return []

    @property
    def n_models(self) -> int:
        return len(self.seeds)

    @property
    def feedback(self) -> list[torch.Tensor]:
        return [getattr(self, f"B{i}") for i in range(self.arch.depth)]

    def _init_layers(self, arch, seeds, shapes, bn_momentum: float, bn_eps: float) -> list[torch.Tensor]:
        """How every family's constructor starts: its architecture, seeds and BatchNorm options, then
        W and B of every layer (``shapes``: one network's, (out, in) or (out, in, k, k)), each network's
        drawn He-normal from its own seed (all its W, then all its B; fan-in = in or in*k*k), and zero
        biases. Returns the B tensors (registered as buffers B<i>)."""
        self.arch = arch
        self.seeds = [int(s) for s in seeds]
        self.bn_momentum = bn_momentum
        self.bn_eps = bn_eps
        M = len(self.seeds)
        Ws = [torch.empty(M, *s) for s in shapes]
        Bs = [torch.empty_like(w) for w in Ws]
        for m, seed in enumerate(self.seeds):
            gen = generator(*arch.init_keys(seed))
            for mats in (Ws, Bs):
                for w in mats:
                    w[m] = torch.randn(w.shape[1:], generator=gen) * math.sqrt(2.0 / math.prod(w.shape[2:]))
        self.weights = nn.ParameterList([nn.Parameter(w) for w in Ws])
        self.biases = nn.ParameterList([nn.Parameter(torch.zeros(M, w.shape[1])) for w in Ws])
        for i, b in enumerate(Bs):
            self.register_buffer(f"B{i}", b)
        return Bs

    def _holding(self, sub, index: list[int]):
        """``sub`` (a new stack of the seeds at ``index``) given those networks' state."""
        idx = torch.as_tensor(index)
        sub.load_state_dict({k: v[idx].clone() for k, v in self.state_dict().items()})
        return sub

    # ---- BatchNorm after every hidden ReLU, for a family whose ``arch.batchnorm`` is true. Every
    # (network, feature) pair is one BatchNorm channel: viewing the stack's features as one wide
    # batch lets torch's fused kernel normalise all networks at once (3x faster than composing
    # mean/var ops) and update the running statistics in place, as nn.BatchNorm does.
    def _init_batchnorm(self, widths: list[int]) -> None:
        """One BatchNorm layer per entry of ``widths`` (features per network), none when empty."""
        M = self.n_models
        self.bn_weight = nn.ParameterList([nn.Parameter(torch.ones(M, w)) for w in widths])
        self.bn_bias = nn.ParameterList([nn.Parameter(torch.zeros(M, w)) for w in widths])
        for i, w in enumerate(widths):
            self.register_buffer(f"bn_mean{i}", torch.zeros(M, w))
            self.register_buffer(f"bn_var{i}", torch.ones(M, w))

    def _batchnorm_flat(self, h: torch.Tensor, i: int) -> torch.Tensor:
        """BatchNorm layer ``i`` on ``h`` of shape (N, M*F, ...): channel m*F + f is network m's feature f."""
        return F.batch_norm(
            h,
            getattr(self, f"bn_mean{i}").view(-1),
            getattr(self, f"bn_var{i}").view(-1),
            self.bn_weight[i].view(-1),
            self.bn_bias[i].view(-1),
            training=self.training,
            momentum=self.bn_momentum,
            eps=self.bn_eps,
        )

    def _batchnorm(self, h: torch.Tensor, i: int) -> torch.Tensor:
        """BatchNorm layer ``i`` on features of shape (M, N, F)."""
        M, N, Fd = h.shape
        return self._batchnorm_flat(h.transpose(0, 1).reshape(N, M * Fd), i).view(N, M, Fd).transpose(0, 1)

    @torch.no_grad()
    def estimate_batchnorm(self, x: torch.Tensor) -> None:
        """Set every BatchNorm layer's running statistics to those of the batch ``x`` (one forward
        pass in training mode with momentum 1, no weight update); a no-op without BatchNorm.

        Every phase (noise training, data training, an adaptation) starts with this, so that its
        step-0 evaluation describes a network that normalises its inputs: the initial statistics
        (mean 0, variance 1) would make an untrained BatchNorm network behave as one without it,
        and statistics left by an earlier phase describe that phase's inputs, not these. Without
        autograd a family's forward pass is the plain product of every rule, so no rule is given.
        """
        if not self.arch.batchnorm:
            return
        was_training, momentum = self.training, self.bn_momentum
        self.train()
        self.bn_momentum = 1.0
        try:
            self(x, None)
        finally:
            self.bn_momentum = momentum
            self.train(was_training)
