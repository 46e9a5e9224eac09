"""Write the claims table: every claim the tidy metrics support, with the paper's test."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from ..claims import claims_table
from ..runtime import user_errors
from ..tidy import read_table, write_table


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--metrics", type=Path, required=True)
    p.add_argument("--summary", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args(argv)
    with user_errors():
        table = claims_table(read_table(a.metrics), pd.read_csv(a.summary))
        write_table(table, a.out)
    with pd.option_context("display.width", 200, "display.max_colwidth", 50):
        print(table.round(5).to_string())


if __name__ == "__main__":
    main()
