"""How a learning rule's error travels backwards and how its B changes: the autograd code behind
the registry ``noisefa.nets.learning_rules`` (which holds the rules' equations, names and flags and
imports no torch, so that the pipeline, the analysis and the figures can read it cheaply).

A model's forward pass calls ``linear(rule, ...)`` for every linear layer and ``conv(rule, ...)``
for every convolution; the engine calls ``before_step(rule, model)`` and ``after_step(...)`` around
every optimiser step. B is an argument of the autograd Function, never a leaf that requires grad,
so no optimiser ever touches it; kp and wm change it in place here.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from .. import precision
from ..seeds import derive_seed
from .conv import stacked_conv
from .learning_rules import KolenPollack, LearningRule, WeightMirror
from .stack import Stack


class StackedLinearFn(torch.autograd.Function):
    """Batched linear layer whose input gradient flows through ``feedback``."""

    @staticmethod
    def forward(ctx, x, weight, bias, feedback):
        # x: (M, N, in); weight, feedback: (M, out, in); bias: (M, out)
        ctx.save_for_backward(x, feedback)
        return precision.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))

    @staticmethod
    def backward(ctx, grad_out):
        x, feedback = ctx.saved_tensors
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = precision.bmm(grad_out, feedback)
        if ctx.needs_input_grad[1]:
            grad_w = precision.bmm(grad_out.transpose(1, 2), x)
        if ctx.needs_input_grad[2]:
            grad_b = grad_out.sum(dim=1)
        return grad_x, grad_w, grad_b, None


class ErrorTape:
    """One forward pass's output error ``e = ∂L/∂logits``, shared by the layers of a DFA net.

    The output layer's backward writes it; every hidden layer's backward runs later (autograd
    visits the graph from the logits down) and reads it.
    """

    def __init__(self):
        self.e: torch.Tensor | None = None


class DirectLinearFn(torch.autograd.Function):
    """Stacked linear layer for direct feedback alignment.

    Forward: ``a = x Wᵀ + b`` as every rule. Backward, given ``g = ∂L/∂a``:

    - the output layer (``output=True``) first records ``tape.e = g`` (the output error);
    - the weight and bias gradients are the usual ``gᵀ x`` and ``Σ_n g``;
    - the input gradient ignores ``g`` and is ``e @ D_in``, where ``D_in`` (models, classes, in)
      is the direct feedback matrix of the hidden layer whose output ``x`` is (``None`` for the
      first layer, whose input is data).

    So the error e D_l is injected at the *output of hidden layer l after its ReLU and
    BatchNorm* (the input of Linear l+1, exactly where FA injects δ_{l+1} B_{l+1}); autograd
    then carries it back through that layer's own BatchNorm and ReLU to its pre-activation,
    giving ``δ_l = (e D_l) ⊙ φ'(a_l)`` (with BatchNorm, φ' is BatchNorm's batch Jacobian
    followed by ReLU's mask), which Linear l uses for its weight gradient.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, direct, tape, output):
        ctx.save_for_backward(x, direct)
        ctx.tape, ctx.output = tape, output
        return precision.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))

    @staticmethod
    def backward(ctx, grad_out):
        x, direct = ctx.saved_tensors
        if ctx.output:
            ctx.tape.e = grad_out
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0] and direct is not None:
            if ctx.tape.e is None:
                raise RuntimeError("dfa: a hidden layer got a gradient that did not come from the logits")
            grad_x = precision.bmm(ctx.tape.e, direct)
        if ctx.needs_input_grad[1]:
            grad_w = precision.bmm(grad_out.transpose(1, 2), x)
        if ctx.needs_input_grad[2]:
            grad_b = grad_out.sum(dim=1)
        return grad_x, grad_w, grad_b, None, None, None


def _feedback_matrix(rule: LearningRule, weight, B):
    """The matrix (or kernel) the rule sends the output gradient back through, outside autograd."""
    with torch.no_grad():  # the feedback path must never become a route for gradients
        return rule.feedback(weight.detach(), B)


def tape(rule: LearningRule) -> ErrorTape | None:
    """A fresh per-forward error slot for a direct rule (``StackedMLP.forward`` asks once)."""
    return ErrorTape() if rule.direct else None


def linear(rule: LearningRule, x, weight, bias, B, *, direct=None, tape: ErrorTape | None = None, output: bool = False):
    """The layer ``x Wᵀ + b`` of a stack; ``direct``/``tape``/``output`` matter to a direct rule only."""
    if rule.direct:
        if tape is None:
            raise ValueError(f"rule {rule.name} needs the forward pass's ErrorTape (feedback.tape(rule))")
        return DirectLinearFn.apply(x, weight, bias, direct, tape, output)
    return StackedLinearFn.apply(x, weight, bias, _feedback_matrix(rule, weight, B))


def conv(rule: LearningRule, x, weight, bias, B, padding: int = 0):
    """The convolution ``W ⋆ x + b`` of a stack (``noisefa.nets.conv``), its input gradient through the
    rule's feedback kernel. A direct rule has no convolutional form here (its D maps the output
    error to a layer's units; for feature maps that is a design of its own)."""
    if not rule.has_conv:
        raise ValueError(f"rule {rule.name} has no convolutional layer in noisefa.nets.conv")
    return stacked_conv(x, weight, bias, _feedback_matrix(rule, weight, B), padding)


# ---------------------------------------------------------------- B updates (kp, wm)
def _kp_before(kp: KolenPollack, model: Stack) -> list[torch.Tensor]:
    return [W.detach().clone() for W in model.weights]


def _kp_after(kp: KolenPollack, model: Stack, optimizer, before: list[torch.Tensor], step: int) -> None:
    """The step of ``KolenPollack``'s docstring: W decays by KP's own λ_kp, B takes W's update and both decays."""
    groups = {id(p): g for g in optimizer.param_groups for p in g["params"]}
    for W, B, W_old in zip(model.weights, model.feedback, before):
        g = groups.get(id(W))
        lr, wd = (float(g["lr"]), float(g.get("weight_decay", 0.0))) if g is not None else (0.0, 0.0)
        W.detach().sub_(W_old, alpha=lr * kp.weight_decay)
        lam = lr * (wd + kp.weight_decay)
        # B(1 − λ) + W − W⁻(1 − λ)  ==  B + (W − W⁻) − λ(B − W⁻)
        B.mul_(1.0 - lam).add_(W.detach()).sub_(W_old, alpha=1.0 - lam)


def mirror_noise(wm: WeightMirror, model: Stack, step: int) -> list[torch.Tensor]:
    """x for every layer, shape (models, batch_size, in_l), each network from its own seed."""
    W0 = model.weights[0]
    # fan-in: a linear layer's in, a kernel's in*k*k
    xs = [W.new_empty(model.n_models, wm.batch_size, math.prod(W.shape[2:])) for W in model.weights]
    gen = torch.Generator(device=W0.device)
    for m, seed in enumerate(model.seeds):
        gen.manual_seed(derive_seed("weight-mirror", seed, int(step)))
        for x in xs:
            x[m].normal_(generator=gen)
    return xs


def _wm_before(wm: WeightMirror, model: Stack) -> None:
    return None


def _wm_after(wm: WeightMirror, model: Stack, optimizer, before: None, step: int) -> None:
    """The step of ``WeightMirror``'s docstring, every ``wm.every``-th optimiser step."""
    if step % wm.every:
        return
    for W, B, x in zip(model.weights, model.feedback, mirror_noise(wm, model, step)):
        # a kernel (M, out, in, k, k) mirrors as its unfolded matrix (M, out, in*k*k): the map it
        # applies to each image patch; a linear layer's views are the matrices themselves
        Wm, Bm = W.detach().flatten(2), B.view(*B.shape[:2], -1)
        y = torch.bmm(x, Wm.transpose(1, 2))  # (M, n, out)
        Bm.mul_(1.0 - wm.lr * wm.weight_decay).baddbmm_(y.transpose(1, 2), x, alpha=wm.lr / wm.batch_size)


# an update's type -> (before, after): a new moving-B rule adds its parameters' class and its pair
UPDATES = {KolenPollack: (_kp_before, _kp_after), WeightMirror: (_wm_before, _wm_after)}


@torch.no_grad()
def before_step(rule: LearningRule, model: Stack) -> Any:
    """What ``after_step`` needs from before ``optimizer.step()`` (kp: W⁻); None for most rules."""
    return None if rule.update is None else UPDATES[type(rule.update)][0](rule.update, model)


@torch.no_grad()
def after_step(rule: LearningRule, model: Stack, optimizer, before: Any = None, step: int = 0) -> None:
    """Update B in place after ``optimizer.step()`` (kp, wm); a no-op for bp, fa, ss, dfa.

    ``step`` is the 1-based optimiser step count of the run (wm seeds its noise with it).
    """
    if rule.update is not None:
        UPDATES[type(rule.update)][1](rule.update, model, optimizer, before, step)
