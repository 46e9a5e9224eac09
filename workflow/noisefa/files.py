"""Atomic file writes: a temp file in the target directory, then a rename.

A job killed mid-write, or a full disk, leaves the old file (or none), never a
half-written one that Snakemake would take as complete.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from .errors import CorruptFile, remake_hint


def atomic_write(path: str | Path, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)``, then rename the temp file to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file normal permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def md5sum(path: str | Path) -> str:
    """The MD5 of a file (how torchvision identifies its downloads), read in 1 MiB blocks."""
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_torch(obj, path: str | Path) -> None:
    import torch  # here, not above: the analysis and figure jobs write files too, and need no torch

    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def load_torch(path: str | Path, what: str, rule: str):
    """torch.load with an error that says which file is bad and how to remake it."""
    import torch  # as in save_torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CorruptFile(
            f"cannot read {what} {path} (written by rule {rule}): {type(exc).__name__}: {exc}. The file is "
            f"missing, truncated or corrupt: {remake_hint(path)}"
        ) from exc
