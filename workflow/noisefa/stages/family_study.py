"""Write a second model family's tables (the CNN experiment): its claims with the family, one verdict
per statement its cells compute, its mechanism table, a Markdown summary, and its metrics and
per-network summary and details (what its figure draws)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from ..analysis.family_study import family_claims, family_mechanism, family_verdicts, markdown, tables_for
from ..analysis.tidy import write_table
from ..cli import user_errors
from ..files import atomic_write


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--spec", type=json.loads, required=True,
                   help="JSON {entry: Plan.cnn_entry(), family, convergence, context}")  # fmt: skip
    for name in ("claims", "verdict", "mechanism", "md", "metrics", "summary", "details"):
        p.add_argument(f"--{name}", type=Path, required=True)
    a = p.parse_args(argv)
    s = a.spec
    with user_errors():
        tables = tables_for(s["entry"], s["convergence"], s["context"])
        claims = family_claims(tables, s["family"])
        verdicts = family_verdicts(claims, tables.context, s["family"])
        mechanism = family_mechanism(tables)
        write_table(tables.metrics, a.metrics)
        write_table(tables.summary, a.summary)
        write_table(tables.details, a.details)
        write_table(claims, a.claims)
        write_table(mechanism, a.mechanism)
        text = markdown(verdicts, mechanism, float(s["context"].get("alpha", 0.05)))
        write_table(verdicts, a.verdict)
        atomic_write(a.md, lambda tmp: Path(tmp).write_text(text))
    with pd.option_context("display.width", 250, "display.max_colwidth", 70, "display.max_rows", 500):
        print(text)


if __name__ == "__main__":
    main()
