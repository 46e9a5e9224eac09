"""Per-network summaries of the tidy metrics: final accuracy, AUC, alignment.

One row per (experiment, dataset, depth, condition, seed). Used by the aggregate
stage (results/tables/summary.csv) and by the report notebooks.
"""

from __future__ import annotations

import pandas as pd

from .metrics import auc

KEYS = ["experiment", "dataset", "depth", "condition", "seed"]


def diverged(df: pd.DataFrame) -> pd.DataFrame:
    """The KEYS of networks that diverged in either phase (metric ``diverged``)."""
    return df.loc[df.metric == "diverged", KEYS].drop_duplicates()


def exclude_diverged(df: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Rows of networks that never diverged, and how many networks were left out."""
    bad = diverged(df)
    if bad.empty:
        return df, 0
    mask = df[KEYS].merge(bad.assign(_bad=True), on=KEYS, how="left")["_bad"].notna().to_numpy()
    return df[~mask], len(bad)


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    """Per-network summary; networks that diverged keep a row with ``diverged`` True (exclude them)."""
    data = df[df.phase == "data"]
    acc = data[data.metric == "test_acc"].sort_values("step")
    rows = []
    for key, g in acc.groupby(KEYS, sort=True):
        first = g[g.step > 0].iloc[0]
        rows.append(
            dict(
                zip(KEYS, key),
                final_test_acc=g.value.iloc[-1],
                auc_test_acc=auc(g.epoch, g.value),
                first_eval_epoch=first.epoch,
                first_eval_test_acc=first.value,
            )
        )
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    last = data[data.metric == "angle_deg"].copy()
    last = last[last.layer == last.depth.astype(str)]
    last = last[last.step == last.groupby(KEYS).step.transform("max")]
    start = last.drop(columns="value").merge(
        data[(data.metric == "angle_deg") & (data.step == 0)][KEYS + ["layer", "value"]], on=KEYS + ["layer"]
    )
    out = out.merge(last[KEYS + ["value"]].rename(columns={"value": "final_last_layer_angle_deg"}), on=KEYS, how="left")
    out = out.merge(start[KEYS + ["value"]].rename(columns={"value": "initial_last_layer_angle_deg"}), on=KEYS, how="left")
    out["diverged"] = out[KEYS].merge(diverged(df).assign(_d=True), on=KEYS, how="left")["_d"].notna().to_numpy()
    return out
