"""Write the claims table (every claim the tidy tables support, with its test) and the verdict table."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..analysis.claims import Tables, claims_table, left_out
from ..analysis.tidy import read_summary, read_table, write_table
from ..analysis.verdict import markdown, verdict_table
from ..cli import parser, user_errors
from ..files import atomic_write


def main(argv=None):
    p = parser(__doc__, files="metrics summary pretrain details ood meta out verdict_csv verdict_md", spec=False)
    p.add_argument("--context", type=json.loads, default={}, help="JSON: which experiment, noise set and cells to test")
    a = p.parse_args(argv)
    with user_errors():
        tables = Tables(
            read_table(a.metrics),
            read_summary(a.summary),
            read_table(a.pretrain),
            read_table(a.details),
            read_table(a.ood),
            read_table(a.meta),
            a.context,
        )
        table = claims_table(tables)
        verdicts = verdict_table(table, a.context)
        write_table(table, a.out)
        write_table(verdicts, a.verdict_csv)
        atomic_write(a.verdict_md, lambda tmp: Path(tmp).write_text(markdown(verdicts, left_out(tables))))
    with pd.option_context("display.width", 250, "display.max_colwidth", 70, "display.max_rows", 500):
        print(table.round(5).to_string())
        print()
        print(verdicts[["claim", "verdict", "evidence"]].to_string())


if __name__ == "__main__":
    main()
