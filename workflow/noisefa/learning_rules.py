"""Learning rules: how the error travels backwards through a linear layer.

Every rule is one stacked linear layer ``y = x Wᵀ + b`` (weights of shape
(models, out, in)) whose backward pass sends the output gradient ``g`` to the
input through a *feedback matrix* chosen by the rule:

- ``bp``: the transpose of the forward weights, ``g W`` (exact gradient);
- ``fa``: a fixed random matrix ``B`` of W's shape, ``g B`` (Lillicrap et al. 2016).

The weight gradient ``gᵀ x`` is the same in every rule. ``B`` is an argument of
the autograd Function, never a leaf that requires grad, so no optimiser ever
touches it. A new rule is one entry in ``LEARNING_RULES``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


class StackedLinearFn(torch.autograd.Function):
    """Batched linear layer whose input gradient flows through ``feedback``."""

    @staticmethod
    def forward(ctx, x, weight, bias, feedback):
        # x: (M, N, in); weight, feedback: (M, out, in); bias: (M, out)
        ctx.save_for_backward(x, feedback)
        return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))

    @staticmethod
    def backward(ctx, grad_out):
        x, feedback = ctx.saved_tensors
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.bmm(grad_out, feedback)
        if ctx.needs_input_grad[1]:
            grad_w = torch.bmm(grad_out.transpose(1, 2), x)
        if ctx.needs_input_grad[2]:
            grad_b = grad_out.sum(dim=1)
        return grad_x, grad_w, grad_b, None


@dataclass(frozen=True)
class LearningRule:
    name: str
    description: str
    # (W, B) -> the matrix the backward pass multiplies the output gradient by
    feedback: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    uses_weight_transport: bool

    def linear(self, x, weight, bias, B):
        fb = self.feedback(weight, B)
        # Detached: the feedback path must never become a route for gradients.
        return StackedLinearFn.apply(x, weight, bias, fb.detach())


LEARNING_RULES: dict[str, LearningRule] = {
    "bp": LearningRule(
        name="bp",
        description="backpropagation: delta_l = W_l^T delta_{l+1} * phi'",
        feedback=lambda W, B: W,
        uses_weight_transport=True,
    ),
    "fa": LearningRule(
        name="fa",
        description="feedback alignment: delta_l = B_l^T delta_{l+1} * phi', B fixed random",
        feedback=lambda W, B: B,
        uses_weight_transport=False,
    ),
}


def get_rule(name: str) -> LearningRule:
    try:
        return LEARNING_RULES[name]
    except KeyError:
        raise KeyError(f"unknown learning rule {name!r}; known rules: {sorted(LEARNING_RULES)}") from None
