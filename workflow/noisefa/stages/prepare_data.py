"""Prepare a registered dataset: one .pt file of uint8 images, labels and per-channel mean/std."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..cli import user_errors
from ..data.datasets import Source, prepare


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--dataset", required=True)
    p.add_argument("--root", required=True, type=Path, help="torchvision root (resources/torchvision)")
    p.add_argument("--local-dir", type=Path, default=None)
    p.add_argument("--out", type=Path, required=True, help="the prepared file")
    a = p.parse_args(argv)
    with user_errors():
        info = prepare(a.dataset, Source(a.root, a.local_dir), a.out)
        print(f"prepared {info}")


if __name__ == "__main__":
    main()
