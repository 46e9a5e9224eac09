"""Compare a run's tables with its config's reference results (``noisefa.analysis.compare``).

``table`` writes every compared value with its tolerance to results/tables/compare.csv;
``check`` reads that file and fails (exit 1), naming each difference, if a verdict differs or a
number left its tolerance. Two steps, so the differences stay on disk when the check fails.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from ..analysis.compare import compare, failures
from ..analysis.tidy import write_table


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("action", choices=["table", "check"])
    p.add_argument("--reference", type=Path, help="the reference's tables folder (table)")
    p.add_argument("--tables", type=Path, help="the run's results/tables (table)")
    p.add_argument("--out", type=Path, required=True, help="results/tables/compare.csv")
    p.add_argument("--claims", type=json.loads, default={}, help="JSON: the config's claims settings (thresholds)")
    a = p.parse_args(argv)
    if a.action == "table":
        t = compare(a.reference, a.tables, a.claims)
        write_table(t, a.out)
        print(f"{len(t)} values compared with {a.reference}; {len(failures(t))} outside their tolerance -> {a.out}")
        return
    t = pd.read_csv(a.out)
    bad = failures(t)
    if bad.empty:
        near = int(t.rule.str.startswith("borderline:").sum())
        print(f"compare: all {len(t)} values within their tolerances of the reference"
              + (f" ({near} borderline changes: p near its threshold in both runs)" if near else ""))  # fmt: skip
        return
    lines = [f"  {r.table} [{r.key}] {r.column}: reference {r.reference}, run {r.run} ({r.rule}, tolerance {r.tolerance})"
             for r in bad.head(20).itertuples()]  # fmt: skip
    more = f"\n  ... and {len(bad) - 20} more" if len(bad) > 20 else ""
    print(f"ERROR: {len(bad)} of {len(t)} values differ from the reference (all in {a.out}):\n" + "\n".join(lines) + more,
          file=sys.stderr)  # fmt: skip
    sys.exit(1)


if __name__ == "__main__":
    main()
