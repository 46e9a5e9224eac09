"""Fetch (download rule) or prepare (one .pt file per dataset) a registered dataset."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..datasets import Source, fetch, prepare
from ..runtime import user_errors


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("action", choices=["fetch", "prepare"])
    p.add_argument("--dataset", required=True)
    p.add_argument("--root", required=True, type=Path, help="torchvision root (resources/torchvision)")
    p.add_argument("--local-dir", type=Path, default=None)
    p.add_argument("--out", type=Path, help="prepared file (prepare) or flag file (fetch)")
    a = p.parse_args(argv)
    src = Source(a.root, a.local_dir)
    with user_errors():
        if a.action == "fetch":
            how = fetch(a.dataset, src)
            a.out.parent.mkdir(parents=True, exist_ok=True)
            a.out.write_text(f"{a.dataset}: {how}\n")
            print(f"{a.dataset}: {how}")
        else:
            info = prepare(a.dataset, src, a.out)
            print(f"prepared {info}")


if __name__ == "__main__":
    main()
