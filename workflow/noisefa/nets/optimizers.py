"""Optimisers: SGD (momentum, weight decay) and Adam, numerically torch.optim's.

Why not ``torch.optim``: constructing or stepping any ``torch.optim.Optimizer`` imports
``torch._dynamo`` (its methods are wrapped in ``torch._disable_dynamo``), 1.2–1.9 s per
process on the 2-core build machine: a tenth of a typical pipeline job, paid ~100 times by
the quick config. These classes do the same arithmetic in the same order as
``torch.optim.SGD`` / ``torch.optim.Adam`` (a test checks bit-equality over many steps),
keep their ``param_groups`` (the kp rule reads lr and weight decay there) and
``state_dict`` layout, and update all tensors of a step with torch's multi-tensor
(``_foreach``) kernels.

A new optimiser is a class with ``step``/``zero_grad``/``state_dict``/``load_state_dict``
and one entry in ``OPTIMIZERS``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch


class _Optimizer:
    """One parameter group; per-parameter state in lists aligned with ``params``."""

    kind = ""
    slots: tuple[str, ...] = ()  # per-parameter state tensors, created on the first step

    def __init__(self, params: Iterable[torch.Tensor], **hyper):
        params = list(params)
        if not params:
            raise ValueError(f"{self.kind}: got an empty parameter list")
        self.param_groups = [{"params": params, **hyper}]
        self.state: dict[str, list] = {k: [None] * len(params) for k in self.slots}
        self.steps = 0

    @property
    def params(self) -> list[torch.Tensor]:
        return self.param_groups[0]["params"]

    @property
    def hyper(self) -> dict:
        return {k: v for k, v in self.param_groups[0].items() if k != "params"}

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad.detach_().zero_()

    def _with_grads(self) -> list[int]:
        return [i for i, p in enumerate(self.params) if p.grad is not None]

    def state_dict(self) -> dict:
        return {
            "kind": self.kind,
            "hyper": self.hyper,
            "steps": self.steps,
            "state": {k: [t.clone() if isinstance(t, torch.Tensor) else t for t in v] for k, v in self.state.items()},
        }

    def load_state_dict(self, state: dict) -> None:
        if state.get("kind") != self.kind or any(len(state["state"].get(k, [])) != len(self.params) for k in self.slots):
            raise ValueError(
                f"optimizer state is not a {self.kind} state for these {len(self.params)} parameters "
                f"(kind {state.get('kind')!r}); it was written by another optimiser or model"
            )
        self.steps = int(state["steps"])
        self.state = {
            k: [t.to(p.device).clone() if isinstance(t, torch.Tensor) else t for t, p in zip(state["state"][k], self.params)]
            for k in self.slots
        }


class SGD(_Optimizer):
    """``torch.optim.SGD(params, lr, momentum, weight_decay)`` (no dampening, no Nesterov)."""

    kind = "sgd"
    slots = ("momentum_buffer",)

    def __init__(self, params, lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
        super().__init__(params, lr=lr, momentum=momentum, weight_decay=weight_decay)

    @torch.no_grad()
    def step(self) -> None:
        h, idx = self.hyper, self._with_grads()
        if not idx:
            return
        params = [self.params[i] for i in idx]
        grads = [self.params[i].grad for i in idx]
        if h["weight_decay"] != 0:
            grads = torch._foreach_add(grads, params, alpha=h["weight_decay"])
        if h["momentum"] != 0:
            bufs = self.state["momentum_buffer"]
            if all(bufs[i] is not None for i in idx):
                mine = [bufs[i] for i in idx]
                torch._foreach_mul_(mine, h["momentum"])
                torch._foreach_add_(mine, grads, alpha=1.0)
            else:  # the first step: the buffer is the gradient itself
                for i, g in zip(idx, grads):
                    if bufs[i] is None:
                        bufs[i] = g.detach().clone()
                    else:
                        bufs[i].mul_(h["momentum"]).add_(g, alpha=1.0)
                mine = [bufs[i] for i in idx]
            grads = mine
        torch._foreach_add_(params, grads, alpha=-h["lr"])
        self.steps += 1


class Adam(_Optimizer):
    """``torch.optim.Adam(params, lr, betas, eps, weight_decay)`` (L2 decay, no amsgrad)."""

    kind = "adam"
    slots = ("exp_avg", "exp_avg_sq", "step")

    def __init__(self, params, lr: float, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)

    @torch.no_grad()
    def step(self) -> None:
        h = self.hyper
        beta1, beta2 = h["betas"]
        for i in self._with_grads():
            p = self.params[i]
            grad = p.grad
            if self.state["step"][i] is None:
                self.state["step"][i] = 0  # torch keeps a float32 tensor and reads it with .item()
                self.state["exp_avg"][i] = torch.zeros_like(p, memory_format=torch.preserve_format)
                self.state["exp_avg_sq"][i] = torch.zeros_like(p, memory_format=torch.preserve_format)
            exp_avg, exp_avg_sq = self.state["exp_avg"][i], self.state["exp_avg_sq"][i]
            self.state["step"][i] += 1
            step = float(self.state["step"][i])
            if h["weight_decay"] != 0:
                grad = grad.add(p, alpha=h["weight_decay"])
            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            bias_correction1 = 1 - beta1**step
            bias_correction2 = 1 - beta2**step
            step_size = h["lr"] / bias_correction1
            denom = (exp_avg_sq.sqrt() / bias_correction2**0.5).add_(h["eps"])
            p.addcdiv_(exp_avg, denom, value=-step_size)
        self.steps += 1


OPTIMIZERS: dict[str, Callable[[Iterable[torch.Tensor], dict], _Optimizer]] = {
    "sgd": lambda params, c: SGD(params, lr=c["lr"], momentum=c.get("momentum", 0.0), weight_decay=c.get("weight_decay", 0.0)),
    "adam": lambda params, c: Adam(params, lr=c["lr"], weight_decay=c.get("weight_decay", 0.0)),
}


class ClippedPerNetwork:
    """An optimiser whose ``step`` first scales each network's gradient to norm at most ``clip``.

    Every parameter of a stacked model has the networks along dimension 0, so network m's
    gradient norm is taken over slice m of every parameter (as ``torch.nn.utils.clip_grad_norm_``
    over that network alone): clipping one network never changes another's step.
    """

    def __init__(self, inner: _Optimizer, clip: float):
        if not clip > 0:
            raise ValueError(f"clip_grad_norm must be > 0, got {clip}")
        self.inner, self.clip = inner, float(clip)
        self.param_groups = inner.param_groups

    @torch.no_grad()
    def step(self):
        grads = [p.grad for p in self.inner.params if p.grad is not None]
        if grads:
            norm = torch.sqrt(sum(g.flatten(1).pow(2).sum(1) for g in grads))  # (models,)
            scale = (self.clip / (norm + 1e-6)).clamp(max=1.0)  # torch.nn.utils.clip_grad_norm_'s formula
            for g in grads:
                g.mul_(scale.view(-1, *([1] * (g.dim() - 1))).to(g.dtype))
        self.inner.step()

    def zero_grad(self, set_to_none: bool = True):
        self.inner.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict:
        return self.inner.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.inner.load_state_dict(state)


def make_optimizer(params: Iterable[torch.Tensor], cfg: dict):
    """The optimiser ``cfg["optimizer"]`` names; with ``cfg["clip_grad_norm"] > 0`` each network's
    gradient is clipped to that norm before every step (``ClippedPerNetwork``)."""
    try:
        build = OPTIMIZERS[cfg["optimizer"]]
    except KeyError:
        raise KeyError(f"unknown optimizer {cfg['optimizer']!r}; known: {sorted(OPTIMIZERS)}") from None
    opt = build(params, cfg)
    return ClippedPerNetwork(opt, cfg["clip_grad_norm"]) if cfg.get("clip_grad_norm") else opt
