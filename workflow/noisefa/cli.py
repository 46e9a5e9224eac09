"""A stage's command line and its error exit, shared by every stage (torch-free, so that the analysis
and figure stages start without importing torch; their setup is ``noisefa.runtime``)."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

from .errors import UserError


def parser(description: str, files: str = "", optional: str = "", spec: bool = True) -> argparse.ArgumentParser:
    """A stage's command line: ``--spec`` (JSON, the rule's params) and one path option per name of
    ``files`` (required) and ``optional`` (default None), e.g. ``files="data checkpoint"`` gives
    ``--data`` and ``--checkpoint``; underscores become dashes."""
    p = argparse.ArgumentParser(description=description)
    if spec:
        p.add_argument(
            "--spec", required=True, type=json.loads, help="JSON object with every hyper-parameter of the job (the rule's params)"
        )
    for names, required in ((files, True), (optional, False)):
        for name in names.split():
            p.add_argument(f"--{name.replace('_', '-')}", type=Path, required=required, default=None)
    return p


@contextlib.contextmanager
def user_errors():
    """Turn the library's explained errors into one 'ERROR: ...' line and exit status 1."""
    try:
        yield
    except UserError as exc:
        sys.exit(f"ERROR: {exc}")
