"""Concatenate every job's tidy tables into results/tables/ and summarise the networks.

- metrics.parquet (+ CSV twin): data training, and the noise phase repeated for every
  (experiment, dataset) whose FA w/ networks start from that pretraining, so one filter
  (experiment, dataset, depth, condition, seed) gives a network's whole history; plus
  the data->noise order control (phase ``noise_after``).
- pretrain.parquet: every pretraining job once (the Figure 1 sweep included).
- details.parquet: the vector-valued rows (neurons, probes, spectra) of every job.
- ood.parquet, meta.parquet: Figures 5 and 6 (their own column sets, ``tidy.OOD_COLUMNS``
  and ``tidy.META_COLUMNS``).
- A job whose networks are also another experiment's cell (``Plan.source``) is read once under each
  name (``--labels``): the tables have every cell's rows as if each had its own job.
- summary.csv: one row per data-trained network, with its converged accuracy
  (``summary.plateau``: the convergence rule of the config), its accuracy over the config's
  late window (``summary.late_accuracy``) and whether it diverged or blew up
  (``summary.diverged``, ``summary.blown_up``: every table's consumer leaves those out with
  ``summary.exclude_diverged``). The details and meta tables are written whole: a consumer
  filters them by the pretraining table's flags, ``exclude_diverged(details, flags=pretrain,
  keys=tidy.PRETRAIN_KEYS)`` (the columns the three tables share).

File names are never parsed: the rule passes the map.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..analysis.summary import exclude_diverged, summarise
from ..analysis.tidy import (
    DETAIL_COLUMNS,
    DETAIL_DTYPES,
    META_COLUMNS,
    META_DTYPES,
    OOD_COLUMNS,
    OOD_DTYPES,
    aggregate,
    concat_tables,
    write_table,
)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--train", nargs="+", type=Path, required=True)
    p.add_argument("--pretrain", type=json.loads, default={}, help="JSON {metrics path: [[experiment, dataset], ...]}")
    p.add_argument("--pretrain-all", nargs="*", type=Path, default=[], help="every pretraining job's metrics")
    p.add_argument("--extra", nargs="*", type=Path, default=[], help="metrics of order-control jobs")
    p.add_argument(
        "--labels", type=json.loads, default={}, help="JSON {train or OOD file: [[experiment, condition], ...] it holds}"
    )
    p.add_argument("--details", nargs="*", type=Path, default=[])
    p.add_argument("--ood", nargs="*", type=Path, default=[])
    p.add_argument("--meta", nargs="*", type=Path, default=[])
    p.add_argument("--convergence", type=json.loads, default={}, help="JSON: the config's convergence block")
    p.add_argument("--experiments", type=json.loads, default={}, help="JSON {experiment: {kind, train_size}}")
    for name in ("parquet", "csv", "summary", "pretrain-table", "details-table", "ood-table", "meta-table"):
        p.add_argument(f"--{name}", type=Path, required=True)
    a = p.parse_args(argv)
    df = aggregate(a.train, a.pretrain, a.extra, a.labels)
    write_table(df, a.parquet)
    write_table(df, a.csv)
    write_table(concat_tables(a.pretrain_all), a.pretrain_table)
    write_table(concat_tables(a.details, DETAIL_COLUMNS, DETAIL_DTYPES, a.labels), a.details_table)
    write_table(concat_tables(a.ood, OOD_COLUMNS, OOD_DTYPES, a.labels), a.ood_table)
    write_table(concat_tables(a.meta, META_COLUMNS, META_DTYPES), a.meta_table)
    summary = summarise(df, **a.convergence, experiments=a.experiments)
    write_table(summary, a.summary)
    _, left_out = exclude_diverged(summary)
    if left_out:
        print(f"{left_out.diverged} diverged and {left_out.blown_up} blown-up networks (summary.csv flags them)")
    print(f"{len(df)} metric rows from {len(a.train)} training, {len(a.pretrain_all)} pretraining, {len(a.extra)} order jobs")
    print(summary.groupby(["experiment", "dataset", "depth", "condition"])[["final_test_acc", "auc_test_acc"]].mean().to_string())


if __name__ == "__main__":
    main()
