"""Per-network summaries of the tidy metrics: final accuracy, AUC, alignment.

One row per (experiment, dataset, depth, condition, seed). Used by the aggregate
stage (results/tables/summary.csv) and by the report notebooks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .metrics import auc
from .tidy import NETWORK_KEYS as KEYS
from .tidy import SUMMARY_COLUMNS, summary_frame


def diverged(df: pd.DataFrame, keys=KEYS) -> pd.DataFrame:
    """The ``keys`` of networks that diverged in either phase (metric ``diverged``) of a tidy table."""
    return df.loc[df.metric == "diverged", list(keys)].drop_duplicates() if not df.empty else df[list(keys)]


def exclude_diverged(df: pd.DataFrame, flags: pd.DataFrame | None = None, keys=KEYS) -> tuple[pd.DataFrame, int]:
    """Rows of networks that never diverged, and how many networks were left out: the one rule for
    every table. A summary (a ``diverged`` column) decides by that column; a tidy table by its own
    ``diverged`` rows, or by those of ``flags`` (e.g. details rows by the pretraining metrics)."""
    if flags is None and "diverged" in df.columns and "metric" not in df.columns:
        bad = df.diverged.astype(bool).to_numpy()
        return df[~bad], int(bad.sum())
    bad = diverged(df if flags is None else flags, keys)
    if bad.empty or df.empty:
        return df, 0
    mask = df[list(keys)].merge(bad.assign(_bad=True), on=list(keys), how="left")["_bad"].notna().to_numpy()
    return df[~mask], len(bad)


def excluded_note(title: str, n: int) -> str:
    """A figure's title with the number of diverged networks left out (unchanged when none)."""
    return f"{title} [{n} diverged networks excluded]" if n else title


def _window(epochs, values, upto: float | None):
    """The curve's points from epoch 0 to ``upto`` (all when None)."""
    if upto is None:
        return epochs, values
    keep = epochs <= upto + 1e-9
    return epochs[keep], values[keep]


def _window_auc(epochs, values, upto: float | None) -> float:
    """The AUC over the window; NaN when fewer than two evaluations fall in it (a curve evaluated
    more sparsely than the window, e.g. a generalisation size's 10 evaluations over 1,600 epochs):
    such a curve has no learning speed over that window to report."""
    x, y = _window(epochs, values, upto)
    return auc(x, y) if len(x) >= 2 else float("nan")


def plateau(epochs, acc, patience_epochs: float = 3.0, min_delta: float = 0.001) -> tuple[float, float, bool]:
    """The convergence rule of Fig. 3 / Table 1, read from a test-accuracy curve.

    A network has converged at the first evaluation e after which no evaluation within
    ``patience_epochs`` beats it by more than ``min_delta`` (the window must be observed in
    full). Returns (epoch of convergence, plateau accuracy = mean over the window from e,
    converged). A curve that never plateaus within training is reported over its last
    window, with converged False: the epoch cap was reached first.
    """
    e = np.asarray(epochs, float)
    a = np.asarray(acc, float)
    for i in range(len(e)):
        if e[-1] < e[i] + patience_epochs - 1e-9:
            break
        window = (e > e[i]) & (e <= e[i] + patience_epochs + 1e-9)
        if not window.any() or a[window].max() <= a[i] + min_delta:
            keep = (e >= e[i]) & (e <= e[i] + patience_epochs + 1e-9)
            return float(e[i]), float(a[keep].mean()), True
    last = e >= e[-1] - patience_epochs - 1e-9
    return float(e[-1]), float(a[last].mean()), False


def all_converged(rows: list[dict], patience_epochs: float, min_delta: float, min_epochs: float) -> bool:
    """Whether every network of a training job has converged by ``plateau``'s rule (the one the
    summary applies afterwards, so stopping here changes no converged accuracy or epoch), once it
    has trained ``min_epochs`` (the AUC window). Diverged networks never converge and are not waited for."""
    if rows and rows[-1]["epoch"] < min_epochs - 1e-9:  # the latest evaluation: no scan of the history yet
        return False
    acc = [r for r in rows if r["metric"] == "test_acc" and r["step"] > 0]
    if not acc or max(r["epoch"] for r in acc) < min_epochs - 1e-9:
        return False
    bad = {r["seed"] for r in rows if r["metric"] == "diverged"}
    curves: dict[int, list[tuple[float, float]]] = {}
    for r in acc:
        if r["seed"] not in bad:
            curves.setdefault(r["seed"], []).append((r["epoch"], r["value"]))
    return bool(curves) and all(
        plateau(*zip(*sorted(c)), patience_epochs=patience_epochs, min_delta=min_delta)[2] for c in curves.values()
    )


def summarise(
    df: pd.DataFrame,
    patience_epochs: float = 3.0,
    min_delta: float = 0.001,
    experiments: dict | None = None,
    auc_epochs: float | None = None,
    stop_at_convergence: bool = False,
) -> pd.DataFrame:
    """Per-network summary in the contract (``tidy.SUMMARY_COLUMNS``); networks that diverged keep a
    row with ``diverged`` True (exclude them). ``experiments``: {experiment: {kind, train_size:
    {dataset: n}}} (``experiments.experiment_columns``) for the identity columns. ``auc_epochs``: the
    AUC covers epochs 0 to it, the same window for every condition (None: the whole curve);
    ``stop_at_convergence`` is the config's, read by the training jobs, not here."""
    data = df[df.phase == "data"]
    acc = data[data.metric == "test_acc"].sort_values("step")
    rows = []
    for key, g in acc.groupby(KEYS, sort=True):
        first = g[g.step > 0].iloc[0]
        trained = g[g.step > 0]
        conv_epoch, conv_acc, converged = plateau(trained.epoch, trained.value, patience_epochs, min_delta)
        rows.append(
            dict(
                zip(KEYS, key),
                final_test_acc=g.value.iloc[-1],
                converged_test_acc=conv_acc,
                convergence_epoch=conv_epoch,
                converged=converged,
                auc_test_acc=_window_auc(g.epoch, g.value, auc_epochs),
                first_eval_epoch=first.epoch,
                first_eval_test_acc=first.value,
            )
        )
    out = pd.DataFrame(rows)
    if out.empty:
        return summary_frame(pd.DataFrame(columns=SUMMARY_COLUMNS))
    info = experiments or {}
    out["kind"] = [info.get(e, {}).get("kind", "") for e in out.experiment]
    out["train_size"] = pd.array(
        [info.get(e, {}).get("train_size", {}).get(d) for e, d in zip(out.experiment, out.dataset)], dtype="Int64"
    )
    last = data[data.metric == "angle_deg"].copy()
    last = last[last.layer == last.depth.astype(str)]
    last = last[last.step == last.groupby(KEYS).step.transform("max")]
    start = last.drop(columns="value").merge(
        data[(data.metric == "angle_deg") & (data.step == 0)][KEYS + ["layer", "value"]], on=KEYS + ["layer"]
    )
    out = out.merge(last[KEYS + ["value"]].rename(columns={"value": "final_last_layer_angle_deg"}), on=KEYS, how="left")
    out = out.merge(start[KEYS + ["value"]].rename(columns={"value": "initial_last_layer_angle_deg"}), on=KEYS, how="left")
    out["diverged"] = out[KEYS].merge(diverged(df).assign(_d=True), on=KEYS, how="left")["_d"].notna().to_numpy()
    return summary_frame(out)
