"""Write the protocol study's table: the pretraining-dependent claims under every noise protocol."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from ..analysis.protocols import changed_claims, protocol_claims, verdict_grid
from ..analysis.tidy import write_table
from ..cli import user_errors


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument(
        "--spec",
        type=json.loads,
        required=True,
        help="JSON {protocols: [{noise, batchnorm, train, train_details, pretrain: {metrics path: [datasets]}, "
        "pretrain_details}], convergence, context}",
    )
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args(argv)
    with user_errors():
        table = protocol_claims(a.spec["protocols"], a.spec["convergence"], a.spec["context"])
        write_table(table, a.out)
    with pd.option_context("display.width", 250, "display.max_columns", 20):
        print(verdict_grid(table).to_string())
    print(f"claims whose verdict changes across the grid: {changed_claims(table) or 'none'}")


if __name__ == "__main__":
    main()
