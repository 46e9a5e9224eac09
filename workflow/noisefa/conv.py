"""Stacked convolutions: many networks' convolution layers as one grouped convolution, with the
input gradient sent back through a learning rule's feedback kernels (issue 24's first layer type).

Layout, as for the stacked MLP: activations (models, N, channels, height, width); kernels W and B
(models, out, in, k, k); biases (models, out). The M networks' layers are one ``conv2d`` with
``groups=M`` over the input viewed as (N, M*in, H, W), so networks never mix and one kernel launch
serves the stack.

Backward, given ``g = ∂L/∂a`` for ``a = W ⋆ x + b``: the weight gradient ``g ⋆ x`` and the bias
gradient ``Σ g`` are backprop's in every rule; the input gradient is the transposed convolution of
g with the rule's *feedback kernel* (``LearningRule.feedback(W, B)``, the same function as for a
linear layer): W for backprop, the fixed random B for feedback alignment, sign(W) at B's norm for
sign-symmetry. A convolution is a linear map whose matrix is built from its kernel, so FA's
"δ_in = δ_out B" becomes "δ_in = convᵀ(δ_out, B)": what tests/test_conv.py checks in float64.

Not yet here (issue 24): the CNN model family, its metrics (per-channel angles) and the DAG.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _grouped(x: torch.Tensor) -> torch.Tensor:
    """(M, N, C, H, W) -> (N, M*C, H, W): the grouped convolution's input."""
    M, N, C, H, W = x.shape
    return x.transpose(0, 1).reshape(N, M * C, H, W)


def _stacked(y: torch.Tensor, M: int) -> torch.Tensor:
    """(N, M*C, H, W) -> (M, N, C, H, W)."""
    N, MC, H, W = y.shape
    return y.view(N, M, MC // M, H, W).transpose(0, 1)


def _kernels(w: torch.Tensor) -> torch.Tensor:
    """(M, out, in, k, k) -> (M*out, in, k, k): the grouped convolution's weight."""
    return w.reshape(-1, *w.shape[2:])


class StackedConvFn(torch.autograd.Function):
    """Grouped convolution of a stack whose input gradient flows through ``feedback``."""

    @staticmethod
    def forward(ctx, x, weight, bias, feedback, padding: int):
        M = weight.shape[0]
        xg = _grouped(x)
        ctx.save_for_backward(xg, feedback)
        ctx.padding, ctx.M, ctx.wshape = padding, M, weight.shape
        return _stacked(F.conv2d(xg, _kernels(weight), bias.reshape(-1), padding=padding, groups=M), M)

    @staticmethod
    def backward(ctx, grad_out):
        xg, feedback = ctx.saved_tensors
        M, padding = ctx.M, ctx.padding
        g = _grouped(grad_out)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            gx = torch.nn.grad.conv2d_input(xg.shape, _kernels(feedback), g, padding=padding, groups=M)
            grad_x = _stacked(gx, M)
        if ctx.needs_input_grad[1]:
            gw = torch.nn.grad.conv2d_weight(xg, (M * ctx.wshape[1], *ctx.wshape[2:]), g, padding=padding, groups=M)
            grad_w = gw.view(ctx.wshape)
        if ctx.needs_input_grad[2]:
            grad_b = g.sum(dim=(0, 2, 3)).view(M, -1)
        return grad_x, grad_w, grad_b, None, None


def stacked_conv(x, weight, bias, feedback, padding: int = 0) -> torch.Tensor:
    """``W ⋆ x + b`` per network (x: (M, N, C, H, W)); the input gradient goes through ``feedback``."""
    return StackedConvFn.apply(x, weight, bias, feedback, padding)


def plain_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, padding: int = 0) -> torch.Tensor:
    """The same forward pass without autograd's custom backward (evaluation, probes)."""
    return _stacked(F.conv2d(_grouped(x), _kernels(weight), bias.reshape(-1), padding=padding, groups=weight.shape[0]),
                    weight.shape[0])  # fmt: skip
