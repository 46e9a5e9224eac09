"""Stacked CNNs: many small convolutional networks of one shape trained as one model (issue 24).

The network of issue 24's measurements: convolutions ``channels`` (k x k, "same" padding) each
followed by ReLU and a p x p max-pool, then a hidden linear layer of ``hidden`` units with ReLU,
then the linear readout; e.g. conv 1->16, pool, conv 16->32, pool, linear 1568->100, linear
100->10 on 28x28 images. Every layer's W and B are He-normal, N(0, 2/fan_in) (fan_in = in x k x k
for a kernel), each network from its own seed; biases start at zero; B is a buffer, never a
parameter. Convolutions run through ``feedback.conv`` (``noisefa.nets.conv``), the linear layers
through ``feedback.linear``, so every rule's backward pass is the one the MLP uses.

``weights`` and ``feedback`` list every layer in order, as ``StackedMLP``'s do, so the rules that
move B act on kernels too (Kolen-Pollack elementwise; the weight mirror through each kernel's
unfolded matrix). With ``batchnorm`` (the protocol rule's deviation D3) every hidden ReLU is
followed by BatchNorm, as in the MLP: over each convolution's channels before its pool, and over
the hidden linear layer's units (``stack.Stack``'s layers, one channel per network and feature).
Not here: direct feedback alignment. ``noisefa.nets.families`` registers this family (the ``cnn``
model block).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..data.noise import image_shape
from . import feedback
from .conv import plain_conv
from .learning_rules import LearningRule
from .stack import Stack


@dataclass(frozen=True)
class CNNArchitecture:
    in_shape: tuple[int, int, int]  # (channels, height, width) of an input image
    n_classes: int
    channels: tuple[int, ...] = (16, 32)
    kernel: int = 5
    pool: int = 2
    hidden: int = 100
    batchnorm: bool = False  # after every hidden ReLU (deviation D3); not in the init keys: same W and B either way

    def __post_init__(self):
        # tuples, whether given lists (a config, a checkpoint's payload) or tuples: equal archs compare equal
        object.__setattr__(self, "in_shape", tuple(int(v) for v in self.in_shape))
        object.__setattr__(self, "channels", tuple(int(v) for v in self.channels))
        if not self.channels:
            raise ValueError("a CNN needs at least one convolution (channels)")
        if self.kernel % 2 != 1:
            raise ValueError(f"kernel must be odd (same padding), got {self.kernel}")
        c, h, w = self.in_shape
        shrink = self.pool ** len(self.channels)
        if h % shrink or w % shrink:
            raise ValueError(f"input {h}x{w} does not divide by pool^convolutions = {shrink}")

    @property
    def padding(self) -> int:
        return self.kernel // 2

    @property
    def features(self) -> int:
        """Inputs of the hidden linear layer: the last feature maps, flattened."""
        shrink = self.pool ** len(self.channels)
        return self.channels[-1] * (self.in_shape[1] // shrink) * (self.in_shape[2] // shrink)

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        """Every layer's weight shape (without the models dimension), in order."""
        ins = (self.in_shape[0], *self.channels[:-1])
        convs = [(o, i, self.kernel, self.kernel) for i, o in zip(ins, self.channels)]
        return [*convs, (self.hidden, self.features), (self.n_classes, self.hidden)]

    @property
    def depth(self) -> int:
        return len(self.shapes)

    @property
    def in_dim(self) -> int:
        return math.prod(self.in_shape)

    @property
    def macs(self) -> list[int]:
        """Multiply-accumulates of each layer's forward pass, per sample: a convolution's kernel at
        every position of its (same-padded) input map, a linear layer's matrix once."""
        sizes = [self.in_shape[1] * self.in_shape[2] // self.pool ** (2 * i) for i in range(len(self.channels))]
        return [math.prod(s) * hw for s, hw in zip(self.shapes, sizes)] + [math.prod(s) for s in self.shapes[len(sizes) :]]

    @property
    def n_weights(self) -> int:
        return sum(math.prod(s) for s in self.shapes)

    def init_keys(self, seed: int) -> tuple:
        return ("cnn-init", *self.in_shape, *self.channels, self.kernel, self.pool, self.hidden, self.n_classes, int(seed))


class StackedCNN(Stack, nn.Module):
    ARCHITECTURE = CNNArchitecture
    OPTIONS = ("bn_momentum", "bn_eps")

    def __init__(self, arch: CNNArchitecture, seeds: list[int], bn_momentum: float = 0.1, bn_eps: float = 1e-5):
        super().__init__()
        self._init_layers(arch, seeds, arch.shapes, bn_momentum, bn_eps)
        # one BatchNorm layer per convolution (over its channels) and one after the hidden linear layer
        self._init_batchnorm([*arch.channels, arch.hidden] if arch.batchnorm else [])

    def select(self, index: list[int]) -> StackedCNN:
        """A new stack holding the networks at ``index``."""
        sub = StackedCNN(self.arch, [self.seeds[i] for i in index], self.bn_momentum, self.bn_eps)
        return self._holding(sub, index)

    def forward(self, x: torch.Tensor, rule: LearningRule, return_hidden: bool = False):
        """x: (N, C*H*W) shared by all models, or (models, N, C*H*W); returns logits (models, N, classes)
        and, with ``return_hidden``, every hidden layer's output (models, N, features): each
        convolution's pooled maps, flattened (C, H, W), and the hidden linear layer's units."""
        inference = not torch.is_grad_enabled()
        M, a, n_conv = self.n_models, self.arch, len(self.arch.channels)
        if x.dim() == 2:
            x = x.expand(M, *x.shape)
        N = x.shape[1]
        h = x.reshape(M, N, *a.in_shape).transpose(0, 1).reshape(N, M * a.in_shape[0], *a.in_shape[1:])  # grouped layout
        h = h.contiguous(memory_format=torch.channels_last)  # what the grouped kernels run fastest on (noisefa.nets.conv)
        layers = list(zip(self.weights, self.biases, self.feedback))
        hidden = []
        for i, (W, b, B) in enumerate(layers[:n_conv]):  # maps stay (N, M*C, H, W): ReLU, BN, pooling per channel
            h = plain_conv(h, W, b, a.padding) if inference else feedback.conv(rule, h, W, b, B, a.padding)
            h = torch.relu(h)
            h = F.max_pool2d(self._batchnorm_flat(h, i) if a.batchnorm else h, a.pool)
            if return_hidden:
                hidden.append(h.reshape(N, M, -1).transpose(0, 1))
        h = h.reshape(N, M, -1).transpose(0, 1)  # (M, N, C*H*W): each network's flattened maps (C, H, W order)
        for i, (W, b, B) in enumerate(layers[n_conv:]):
            if inference:
                h = torch.baddbmm(b.unsqueeze(1), h, W.transpose(1, 2))
            else:
                h = feedback.linear(rule, h, W, b, B, output=i == 1)
            if i == 0:
                h = torch.relu(h)
                h = self._batchnorm(h, n_conv) if a.batchnorm else h
                hidden.append(h)
        return (h, hidden) if return_hidden else h


STACK = StackedCNN  # the family registry's entry (noisefa.nets.families)


def fixed_depth(model: dict) -> int:
    """Weight layers of a CNN block: its convolutions, the hidden linear layer and the readout."""
    return len(model["channels"]) + 2


def from_block(model: dict, in_dim: int, n_classes: int, depth: int) -> CNNArchitecture:
    """The CNN a job spec's model block describes at this input size; ``depth`` must be its own."""
    if depth != fixed_depth(model):
        raise ValueError(
            f"a CNN with {len(model['channels'])} convolutions has depth {fixed_depth(model)} (convolutions + 2 linear "
            f"layers), not {depth}"
        )
    return CNNArchitecture(
        image_shape(in_dim), n_classes, tuple(model["channels"]), model["kernel"], model["pool"], model["hidden"],
        batchnorm=bool(model.get("batchnorm", False)),
    )  # fmt: skip
