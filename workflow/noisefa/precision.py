"""The precision of the layers' matrix products: float32 (the default) or bf16.

Every product of a layer — the forward ``x Wᵀ``, FA's ``δ B`` and the weight gradient ``δᵀ x`` —
goes through ``bmm``/``baddbmm``/``addmm`` here. Under ``bf16`` their two operands are rounded to
bfloat16 and multiplied in bf16 (float32 accumulation inside the kernel: oneDNN on CPUs with
AVX-512 BF16 / AMX, tensor cores on a GPU); the product comes back as float32. Everything else
stays float32: weights, B, biases, BatchNorm, the loss, the optimiser state and update, and
every metric. On CPU the kernel's output is itself rounded to bf16 before the cast back (torch
has no CPU bf16 x bf16 -> float32 product), so a product carries about 3 significant digits:
a network's curve moves by that rounding, which is why bf16 is opt-in and float32 makes every
reference result (its comparison with float32: docs/performance.md, "Precision").

The setting is process-wide, like ``torch.set_num_threads``: ``runtime.setup`` calls ``use``
once per job from the spec's ``precision``.
"""

from __future__ import annotations

import torch

PRECISIONS: dict[str, torch.dtype | None] = {"float32": None, "bf16": torch.bfloat16}
DEFAULT = "float32"

_dtype: torch.dtype | None = None


def use(name: str) -> None:
    """Set the products' precision for this process (``PRECISIONS``' keys)."""
    global _dtype
    if name not in PRECISIONS:
        raise ValueError(f"unknown precision {name!r}; choose one of {sorted(PRECISIONS)}")
    _dtype = PRECISIONS[name]


def hardware_bf16(device: torch.device | str = "cpu") -> bool:
    """Does this device multiply bf16 natively (else bf16 is emulated, and slower than float32)?"""
    if torch.device(device).type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def bmm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    if _dtype is None:
        return torch.bmm(a, b)
    return torch.bmm(a.to(_dtype), b.to(_dtype)).float()


def baddbmm(bias: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    if _dtype is None:
        return torch.baddbmm(bias, a, b)
    return torch.bmm(a.to(_dtype), b.to(_dtype)).float().add_(bias)


def addmm(bias: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    if _dtype is None:
        return torch.addmm(bias, a, b)
    return torch.mm(a.to(_dtype), b.to(_dtype)).float().add_(bias)
