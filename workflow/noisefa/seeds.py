"""Seeds derived from what a number is *for*, never from a position in a loop.

``derive_seed("init", 784, 100, 10, 2, 3)`` is the same in every job and every
config, so adding a dataset, depth, condition or seed never changes the numbers
of the networks that were already there.
"""

from __future__ import annotations

import hashlib

import torch


def derive_seed(*keys) -> int:
    text = "\x1f".join(repr(k) for k in keys)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


def generator(*keys) -> torch.Generator:
    """A CPU generator seeded from ``keys`` (CPU so that CPU and CUDA runs share inits)."""
    return torch.Generator().manual_seed(derive_seed(*keys))
