"""Process setup shared by the stages that compute with torch: threads, device, determinism, precision
(and where a job keeps its resumable state). A stage's command line is ``noisefa.cli``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

from . import precision
from .errors import UserError


def setup(threads: int = 1, device: str = "cpu", products: str = precision.DEFAULT) -> torch.device:
    """Threads, device and the precision of the layers' products (``noisefa.precision``) for this job."""
    torch.set_num_threads(max(1, int(threads)))
    precision.use(products)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError("config asks for device 'cuda' but torch sees no GPU; use device: auto or cpu")
        # Bit-reproducible cuBLAS (must be set before the first CUDA matmul).
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    if products != precision.DEFAULT and not precision.hardware_bf16(device):
        print(f"warning: precision {products} without native bf16 products here: emulated, slower than float32", file=sys.stderr)
    return torch.device(device)


def setup_job(spec: dict) -> torch.device:
    """``setup`` from a job's spec (keys threads, device, precision; absent: 1, cpu, float32)."""
    return setup(spec.get("threads", 1), spec.get("device", "cpu"), spec.get("precision", precision.DEFAULT))


def resume_path(checkpoint: Path) -> Path:
    """Where a job keeps its resumable state: beside its checkpoint, never a declared output."""
    return checkpoint.with_name(checkpoint.name + ".resume")
