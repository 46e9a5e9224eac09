"""Concatenate every job's tidy tables into results/tables/ and summarise the networks.

- metrics.parquet (+ CSV twin): data training, and the noise phase repeated for every
  (experiment, dataset) whose FA w/ networks start from that pretraining, so one filter
  (experiment, dataset, depth, condition, seed) gives a network's whole history; plus
  the data->noise order control (phase ``noise_after``).
- pretrain.parquet: every pretraining job once (the Figure 1 sweep included).
- details.parquet: the vector-valued rows (neurons, probes, spectra) of every job.
- ood.parquet, meta.parquet: Figures 5 and 6 (their own column sets, ``tidy.OOD_COLUMNS``
  and ``tidy.META_COLUMNS``).
- summary.csv: one row per data-trained network, with its converged accuracy
  (``summary.converged``: the convergence rule of the config).

File names are never parsed: the rule passes the map.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from ..summary import summarise
from ..tidy import (
    COLUMNS,
    DETAIL_COLUMNS,
    DETAIL_DTYPES,
    DTYPES,
    META_COLUMNS,
    META_DTYPES,
    OOD_COLUMNS,
    OOD_DTYPES,
    read_table,
    write_table,
)

ORDER = ["experiment", "dataset", "noise", "depth", "condition", "seed", "phase", "step", "layer", "metric"]
PHASES = {"noise": 0, "data": 1, "noise_after": 2}


def _sorted(df: pd.DataFrame, columns=COLUMNS, dtypes=DTYPES) -> pd.DataFrame:
    df = df[columns].astype(dtypes)
    by = [c for c in ORDER + ["index", "test_set", "magnitude", "task", "adapt_step"] if c in columns]
    return df.sort_values(by, key=lambda s: s.map(PHASES) if s.name == "phase" else s, ignore_index=True)


def _concat(parts: list[pd.DataFrame], columns) -> pd.DataFrame:
    parts = [p for p in parts if not p.empty]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def aggregate(train: list[Path], pretrain: dict[str, list[list[str]]], extra: list[Path] = ()) -> pd.DataFrame:
    parts = [read_table(p) for p in [*train, *extra]]
    for path, users in pretrain.items():
        noise = read_table(path)
        for experiment, dataset in users:
            parts.append(noise.assign(experiment=experiment, dataset=dataset))
    return _sorted(_concat(parts, COLUMNS))


def concat_tables(paths: list[Path], columns=COLUMNS, dtypes=DTYPES) -> pd.DataFrame:
    return _sorted(_concat([read_table(p) for p in paths], columns), columns, dtypes)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--train", nargs="+", type=Path, required=True)
    p.add_argument("--pretrain", type=json.loads, default={}, help="JSON {metrics path: [[experiment, dataset], ...]}")
    p.add_argument("--pretrain-all", nargs="*", type=Path, default=[], help="every pretraining job's metrics")
    p.add_argument("--extra", nargs="*", type=Path, default=[], help="metrics of order-control jobs")
    p.add_argument("--details", nargs="*", type=Path, default=[])
    p.add_argument("--ood", nargs="*", type=Path, default=[])
    p.add_argument("--meta", nargs="*", type=Path, default=[])
    p.add_argument("--convergence", type=json.loads, default={}, help="JSON {patience_epochs, min_delta}")
    p.add_argument("--parquet", type=Path, required=True)
    p.add_argument("--csv", type=Path, required=True)
    p.add_argument("--summary", type=Path, required=True)
    p.add_argument("--pretrain-table", type=Path, required=True)
    p.add_argument("--details-table", type=Path, required=True)
    p.add_argument("--ood-table", type=Path, required=True)
    p.add_argument("--meta-table", type=Path, required=True)
    a = p.parse_args(argv)
    df = aggregate(a.train, a.pretrain, a.extra)
    write_table(df, a.parquet)
    write_table(df, a.csv)
    write_table(concat_tables(a.pretrain_all), a.pretrain_table)
    write_table(concat_tables(a.details, DETAIL_COLUMNS, DETAIL_DTYPES), a.details_table)
    write_table(concat_tables(a.ood, OOD_COLUMNS, OOD_DTYPES), a.ood_table)
    write_table(concat_tables(a.meta, META_COLUMNS, META_DTYPES), a.meta_table)
    summary = summarise(df, **a.convergence)
    write_table(summary, a.summary)
    print(f"{len(df)} metric rows from {len(a.train)} training, {len(a.pretrain_all)} pretraining, {len(a.extra)} order jobs")
    print(summary.groupby(["experiment", "dataset", "depth", "condition"])[["final_test_acc", "auc_test_acc"]].mean().to_string())


if __name__ == "__main__":
    main()
