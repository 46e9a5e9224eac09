"""Write the mechanism table (which control reproduces each downstream effect of noise pretraining),
the alignment dose-response's per-network table and a Markdown summary of both."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..analysis.mechanism import Tables, dose_table, markdown, mechanism_table, on_curve
from ..analysis.tidy import read_summary, read_table, write_table
from ..cli import parser, user_errors
from ..files import atomic_write


def main(argv=None):
    p = parser(__doc__, files="metrics summary ood meta out dose md", spec=False)
    p.add_argument("--context", type=json.loads, default={}, help="JSON: the main experiment, noise set, controls, alpha")
    a = p.parse_args(argv)
    with user_errors():
        summary = read_summary(a.summary)
        t = Tables(summary, read_table(a.metrics), read_table(a.ood), read_table(a.meta), a.context)
        table = mechanism_table(t)
        dose = dose_table(summary, a.context)
        curve = on_curve(dose)
        write_table(table, a.out)
        write_table(dose, a.dose)
        text = markdown(table, curve, float(a.context.get("alpha", 0.05)))
        atomic_write(a.md, lambda tmp: Path(tmp).write_text(text))
    with pd.option_context("display.width", 250, "display.max_colwidth", 60, "display.max_rows", 500):
        print(text)


if __name__ == "__main__":
    main()
