"""Concatenate every job's tidy metrics into results/tables (Parquet + CSV) and a summary.

Noise-phase rows are repeated for every dataset whose FA w/ networks start from
that pretraining, so one filter (dataset, depth, condition, seed) gives a
network's whole history. File names are never parsed: the rule passes the map.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from ..summary import summarise
from ..tidy import COLUMNS, DTYPES, read_table, write_table


def aggregate(train: list[Path], pretrain: dict[str, list[str]]) -> pd.DataFrame:
    parts = [read_table(p) for p in train]
    for path, datasets in pretrain.items():
        noise = read_table(path)
        for d in datasets:
            parts.append(noise.assign(dataset=d))
    df = pd.concat(parts, ignore_index=True)[COLUMNS].astype(DTYPES)
    return df.sort_values(
        ["experiment", "dataset", "depth", "condition", "seed", "phase", "step", "layer", "metric"],
        key=lambda s: s.map({"noise": 0, "data": 1}) if s.name == "phase" else s,
        ignore_index=True,
    )


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--train", nargs="+", type=Path, required=True)
    p.add_argument("--pretrain", type=json.loads, default={}, help="JSON {metrics path: [datasets]}")
    p.add_argument("--parquet", type=Path, required=True)
    p.add_argument("--csv", type=Path, required=True)
    p.add_argument("--summary", type=Path, required=True)
    a = p.parse_args(argv)
    df = aggregate(a.train, a.pretrain)
    write_table(df, a.parquet)
    write_table(df, a.csv)
    summary = summarise(df)
    write_table(summary, a.summary)
    print(f"{len(df)} metric rows from {len(a.train)} training and {len(a.pretrain)} pretraining jobs")
    print(summary.groupby(["dataset", "depth", "condition"])[["final_test_acc", "auc_test_acc"]].mean().to_string())


if __name__ == "__main__":
    main()
