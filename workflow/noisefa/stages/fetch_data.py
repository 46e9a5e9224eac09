"""Fetch a registered dataset's raw files (the download rule, on the login node).

From data.local_dir, Debian's dataset-fashion-mnist, archives already present, the mirrors of
data.mirrors, then torchvision's URLs: every try bounded by --timeout, checksums checked.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..cli import user_errors
from ..data.datasets import Source
from ..data.downloads import Settings, fetch
from ..files import atomic_write


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--dataset", required=True)
    p.add_argument("--root", required=True, type=Path, help="torchvision root (resources/torchvision)")
    p.add_argument("--local-dir", type=Path, default=None)
    p.add_argument("--mirror", action="append", default=[], help="a base URL tried before torchvision's (repeatable)")
    p.add_argument("--no-original-urls", action="store_true", help="try only the mirrors")
    p.add_argument("--timeout", type=float, default=Settings.timeout, help="seconds without a byte before a try fails")
    p.add_argument("--retries", type=int, default=Settings.retries)
    p.add_argument("--out", type=Path, default=None, help="marker file written once the files are usable")
    a = p.parse_args(argv)
    settings = Settings(a.timeout, a.retries, tuple(a.mirror), not a.no_original_urls)
    with user_errors():
        how = fetch(a.dataset, Source(a.root, a.local_dir), settings)
        if a.out is not None:
            atomic_write(a.out, lambda tmp: Path(tmp).write_text(f"{a.dataset}: {how}\n"))
        print(f"{a.dataset}: {how}")


if __name__ == "__main__":
    main()
