"""Stacked convolutions: many networks' convolution layers as one grouped convolution, with the
input gradient sent back through a learning rule's feedback kernels (issue 24's first layer type).

Layout, as for the stacked MLP: activations (models, N, channels, height, width); kernels W and B
(models, out, in, k, k); biases (models, out). The M networks' layers are one ``conv2d`` with
``groups=M`` over the input viewed as (N, M*in, H, W), so networks never mix and one kernel launch
serves the stack.

Backward, given ``g = ∂L/∂a`` for ``a = W ⋆ x + b``: the weight gradient ``g ⋆ x`` and the bias
gradient ``Σ g`` are backprop's in every rule; the input gradient is the transposed convolution of
g with the rule's *feedback kernel* (``LearningRule.feedback(W, B)``, called by ``feedback.conv``; the same function as for a
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
    """(M, out, in, k, k) -> (M*out, in, k, k): the grouped convolution's weight, channels-last like
    the feature maps (CPU: oneDNN's grouped kernels run 1.4-2x faster in that memory format)."""
    return w.reshape(-1, *w.shape[2:]).contiguous(memory_format=torch.channels_last)


class GroupedConvFn(torch.autograd.Function):
    """Grouped convolution of a stack, on the grouped layout (N, M*C, H, W) in and out, whose input
    gradient flows through ``feedback``. A CNN keeps its feature maps in this layout from layer to
    layer (ReLU and max-pool act per channel), so no copy is made between its convolutions."""

    @staticmethod
    def forward(ctx, xg, weight, bias, feedback, padding: int):
        M = weight.shape[0]
        ctx.save_for_backward(xg, feedback)
        ctx.padding, ctx.M, ctx.wshape = padding, M, weight.shape
        return F.conv2d(xg, _kernels(weight), bias.reshape(-1), padding=padding, groups=M)

    @staticmethod
    def backward(ctx, grad_out):
        xg, feedback = ctx.saved_tensors
        M, padding, (_, out, *_rest) = ctx.M, ctx.padding, ctx.wshape
        # One native call for both gradients (as autograd's own conv backward): the input gradient
        # is computed with the kernel it is given, here the feedback kernel; the kernel gradient
        # depends only on the input and grad_out, so it is backprop's whatever that kernel is.
        mask = [ctx.needs_input_grad[0], ctx.needs_input_grad[1], ctx.needs_input_grad[2]]
        gx, gw, gb = torch.ops.aten.convolution_backward(
            grad_out, xg, _kernels(feedback), [M * out], [1, 1], [padding, padding], [1, 1], False, [0, 0], M, mask
        )
        grad_x = gx if mask[0] else None
        grad_w = gw.view(ctx.wshape) if mask[1] else None
        grad_b = gb.view(M, out) if mask[2] else None
        return grad_x, grad_w, grad_b, None, None


def stacked_conv(x, weight, bias, feedback, padding: int = 0) -> torch.Tensor:
    """``W ⋆ x + b`` per network; the input gradient goes through ``feedback``. x: (M, N, C, H, W),
    returned as (M, N, out, H', W'); or the grouped layout (N, M*C, H, W), returned as (N, M*out, H', W')."""
    if x.dim() == 4:
        return GroupedConvFn.apply(x, weight, bias, feedback, padding)
    return _stacked(GroupedConvFn.apply(_grouped(x), weight, bias, feedback, padding), weight.shape[0])


def plain_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, padding: int = 0) -> torch.Tensor:
    """The same forward pass without autograd's custom backward (evaluation, probes); either layout."""
    M = weight.shape[0]
    if x.dim() == 4:
        return F.conv2d(x, _kernels(weight), bias.reshape(-1), padding=padding, groups=M)
    return _stacked(F.conv2d(_grouped(x), _kernels(weight), bias.reshape(-1), padding=padding, groups=M), M)
