"""Learning rules: how the error travels backwards through a linear layer, and how B changes.

Every rule is one stacked linear layer ``a = x Wᵀ + b`` (weights of shape (models, out, in))
whose backward pass sends the output gradient ``g = ∂L/∂a`` (shape (models, N, out)) to the
input through a *feedback matrix* chosen by the rule. The weight gradient ``gᵀ x`` and the
bias gradient ``Σ_n g`` are the same in every rule; rules differ only in the input gradient
and in what happens to B after an optimiser step.

Notation: layer l computes ``a_l = h_{l-1} W_lᵀ + b_l`` and ``h_l = φ(a_l)`` with
``φ = ReLU`` (then BatchNorm when ``model.batchnorm``); ``δ_l = ∂L/∂a_l``; ``e = ∂L/∂logits``
is the output error. Every matrix is stored in W's (out, in) shape, so "δ_{l+1} M" means
``g @ M``.

- ``bp``: ``δ_l = (δ_{l+1} W_{l+1}) ⊙ φ'(a_l)`` — the exact gradient (weight transport).
- ``fa``: ``δ_l = (δ_{l+1} B_{l+1}) ⊙ φ'(a_l)``, B fixed random (Lillicrap et al. 2016).
- ``ss``: sign-symmetry (Liao, Leibo & Poggio 2016): ``δ_l = (δ_{l+1} S_{l+1}) ⊙ φ'(a_l)`` with
  ``S = sign(W) · ‖B‖_F / ‖sign(W)‖_F`` (per network): the signs of W, scaled to the Frobenius
  norm of the layer's fixed random B, so no magnitude of W travels backwards (only its signs).
- ``dfa``: direct feedback alignment (Nøkland 2016): ``δ_l = (e D_l) ⊙ φ'(a_l)`` for every hidden
  layer l, D_l a fixed random (classes, hidden) matrix (``StackedMLP.direct_feedback``); the
  output layer's own gradient is the usual ``δ_L = e``. See ``feedback.DirectLinearFn`` for where e D_l
  enters the graph.
- ``kp``: Kolen-Pollack (Akrout et al. 2019): FA's backward pass; after every optimiser step B
  receives W's update, and both decay with the rule's own weight decay (default 0.1, on top of
  the optimiser's), so W − B shrinks geometrically (``KolenPollack``).
- ``wm``: weight mirror (Akrout et al. 2019): FA's backward pass; after every ``every`` optimiser
  steps each B learns from noise pushed through its own layer, ``B ← (1 − ηλ) B + η y xᵀ`` with
  ``y = W x``, ``x ~ N(0, I)``, so B tends to a copy of W (``WeightMirror``).

The autograd code (the stacked layers and the B updates) is ``noisefa.nets.feedback``. This module
is the registry and imports no torch, so that the pipeline, the analysis and the figures read the
rules' names, labels and flags without paying for it, and an edit of the autograd code reruns the
training jobs but no figure. B is an argument of the autograd Function, never a leaf that requires
grad, so no optimiser ever touches it; kp and wm change it in place (it stays a buffer, saved in
every state_dict and resume snapshot). A new rule is one entry in ``LEARNING_RULES``: its
hyper-parameters, its label and colour, and what the figures and claims need to know of it are
fields of that entry (``noisefa.pipeline.conditions`` derives the training conditions from it;
README "Extending" has an example); a rule whose B moves also adds its update to
``feedback.UPDATES``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: this module imports no torch at run time
    import torch


def sign_feedback(W: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """``sign(W) · ‖B‖_F / ‖sign(W)‖_F`` per network: W's signs at the norm of the fixed B."""
    s = W.sign()  # tensor methods only: this module imports no torch
    scale = B.flatten(1).norm(dim=1) / s.flatten(1).norm(dim=1).clamp_min(1e-30)
    return s * scale.view(-1, *[1] * (W.dim() - 1))  # (models, out, in) or a kernel (models, out, in, k, k)


@dataclass(frozen=True)
class KolenPollack:
    """Kolen-Pollack (Akrout et al. 2019): W and B receive the same update and the same decay.

    The decay is part of the algorithm (without it W − B never shrinks: B only follows W's
    accumulated updates), so the rule carries its own ``weight_decay`` λ_kp, applied on top of
    the optimiser's (``train.weight_decay``, 0 in the shipped configs). With ``W⁻`` the weights
    before the optimiser step, ``lr`` and ``wd`` of W's parameter group, after every step::

        W ← W − lr · λ_kp · W⁻                       (KP's own decay of W)
        B ← B + (W − W⁻) − λ (B − W⁻),  λ = lr · (wd + λ_kp)
        ⇔  W − B ← (1 − λ)(W⁻ − B⁻)

    For plain SGD, ``W − W⁻ = −lr (∇W + (wd + λ_kp) W⁻)``, so this is exactly Akrout's
    ``ΔW = −lr (∇W + λ W)``, ``ΔB = −lr (∇W + λ B)``. With momentum or Adam, B gets W's whole
    update (momentum included) and the difference still contracts by ``1 − λ`` per step.

    Default ``weight_decay = 0.1``: at lr 0.01, W − B shrinks by e^(−0.001 t), to a quarter
    after the quick config's ~1,400 data steps. Akrout et al. used the usual ImageNet decay
    (1e-4) over ~10⁵ times more steps; at this pipeline's training lengths that would leave
    W − B at 99.9 % of its start (measured before this key existed: 1.000 after 300 steps).
    """

    weight_decay: float = 0.1

    def __post_init__(self):
        if not self.weight_decay >= 0:
            raise ValueError(f"Kolen-Pollack needs weight_decay >= 0, got {self.weight_decay}")


@dataclass(frozen=True)
class WeightMirror:
    """Weight mirror (Akrout et al. 2019): each layer's B learns a copy of W from noise.

    After every ``every``-th optimiser step (the engine's step count), for every layer
    (the first too, so every layer's W-B angle means the same thing), per network::

        x ~ N(0, I)  (batch_size, in);   y = x Wᵀ  (no bias, no nonlinearity)
        B ← (1 − lr · weight_decay) B + lr · (yᵀ x) / batch_size

    Since E[yᵀ x / n] = W, B is an exponential moving average of noisy copies of W: with
    ``weight_decay = 1`` it tends to W itself (norm included) with a horizon of ``1 / lr``
    steps. The noise is drawn per network from ``derive_seed("weight-mirror", seed, step)``
    on W's device, so a stacked network mirrors exactly as it would alone and a resumed
    run redraws the same noise (CPU and CUDA draws differ).

    Defaults: ``lr = 0.01``, ``weight_decay = 1``, ``batch_size = 128``, ``every = 1``. With
    them the residual of B's random start falls as 0.99ᵗ (5% after 300 steps) and the
    stationary noise leaves an angle of about atan(sqrt(lr · in / (2 · batch_size))):
    ~10° for a 784-input layer, ~3.6° for a 100-input one, against a fixed W.
    """

    lr: float = 0.01
    weight_decay: float = 1.0
    batch_size: int = 128
    every: int = 1

    def __post_init__(self):
        if not 0 < self.lr * self.weight_decay < 1 or self.lr <= 0:
            raise ValueError(f"weight mirror needs lr > 0 and 0 < lr * weight_decay < 1, got {self}")
        if self.batch_size < 1 or self.every < 1:
            raise ValueError(f"weight mirror needs batch_size >= 1 and every >= 1, got {self}")


@dataclass(frozen=True)
class LearningRule:
    name: str
    description: str
    # (W, B) -> the matrix the backward pass multiplies the output gradient by (W detached)
    feedback: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    # does the backward pass read the forward weights (bp: all of W; ss: its signs)?
    uses_weight_transport: bool
    # dfa: hidden layers get the output error through D_l instead of the layer above
    direct: bool = False
    # kp, wm: how B changes around every optimiser step (None: B fixed)
    update: KolenPollack | WeightMirror | None = field(default=None)
    # how figures and tables show it (noisefa.pipeline.conditions derives the training conditions from these)
    label: str = ""
    color: str = "#777777"
    # a colour for its noise-pretrained variant: the rule then has two conditions, <name>_wo (from a
    # random init) and <name>_w (from noise pretraining, which trains with FA); None: one, <name>
    pretrained_color: str | None = None
    # is the B of each layer what its feedback follows, so that the W-B angle measures alignment?
    aligns_b: bool = False
    # is it one of the paper's two rules (the others are compared with noise-pretrained FA, B1-B3)?
    paper: bool = False
    # depths at which the rule is FA by construction (dfa with one hidden layer: its only D is B)
    same_as_fa_at: tuple[int, ...] = ()

    @property
    def has_conv(self) -> bool:
        """Whether ``feedback.conv`` is defined (every rule but a direct one)."""
        return not self.direct


LEARNING_RULES: dict[str, LearningRule] = {
    "bp": LearningRule(
        name="bp",
        description="backpropagation: delta_l = (delta_{l+1} W_{l+1}) * phi'(a_l)",
        feedback=lambda W, B: W,
        uses_weight_transport=True,
        label="BP",
        color="#444444",
        paper=True,
    ),
    "fa": LearningRule(
        name="fa",
        description="feedback alignment: delta_l = (delta_{l+1} B_{l+1}) * phi'(a_l), B fixed random",
        feedback=lambda W, B: B,
        uses_weight_transport=False,
        label="FA",
        color="#1f77b4",
        pretrained_color="#d62728",
        aligns_b=True,
        paper=True,
    ),
    "ss": LearningRule(
        name="ss",
        description="sign-symmetry: delta_l = (delta_{l+1} S_{l+1}) * phi'(a_l), S = sign(W) ||B||_F / ||sign(W)||_F",
        feedback=sign_feedback,
        uses_weight_transport=True,  # signs only, never magnitudes
        label="SS",
        color="#2ca02c",
    ),
    "dfa": LearningRule(
        name="dfa",
        description="direct feedback alignment: delta_l = (e D_l) * phi'(a_l), e = dL/dlogits, D_l fixed random",
        feedback=lambda W, B: B,  # unused: feedback.DirectLinearFn takes D, not B
        uses_weight_transport=False,
        direct=True,
        label="DFA",
        color="#9467bd",
        same_as_fa_at=(2,),
    ),
    "kp": LearningRule(
        name="kp",
        description="Kolen-Pollack: FA backward; W and B get the same update and decay (wd + 0.1), so W - B shrinks",
        feedback=lambda W, B: B,
        uses_weight_transport=False,
        update=KolenPollack(),
        label="KP",
        color="#ff7f0e",
        aligns_b=True,
    ),
    "wm": LearningRule(
        name="wm",
        description="weight mirror: FA backward; B <- (1 - lr*wd) B + lr * mean(y x^T), y = W x, x ~ N(0, I)",
        feedback=lambda W, B: B,
        uses_weight_transport=False,
        update=WeightMirror(),
        label="WM",
        color="#8c564b",
        aligns_b=True,
    ),
}


def get_rule(name: str) -> LearningRule:
    try:
        return LEARNING_RULES[name]
    except KeyError:
        raise KeyError(f"unknown learning rule {name!r}; known rules: {sorted(LEARNING_RULES)}") from None
