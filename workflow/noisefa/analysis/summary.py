"""Per-network summaries of the tidy metrics: final, converged and late-window accuracy, AUC,
alignment; and the one rule that leaves out networks that diverged or blew up.

One row per (experiment, dataset, depth, condition, seed). Used by the aggregate
stage (results/tables/summary.csv) and by the report notebooks.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .tidy import NETWORK_KEYS as KEYS
from .tidy import SUMMARY_COLUMNS, summary_frame

# The blow-up rule (``blown_up``): a network blew up when, at any logged step, some layer's ||W - B||
# (``wb_distance``) exceeds BLOWUP_FACTOR times its value at its phase's first logged step, or its
# test logit range (median max - min logit, ``metrics.logit_range``) exceeds LOGIT_RANGE_BOUND nats.
# Measured on Fashion-MNIST with config/paper_offline.yaml's networks and training (no BatchNorm, SGD
# lr 0.01, momentum 0.9, 50 epochs; networks of seeds 0-9, or 1, 3 and 9 where logits were read):
# ||W - B|| grows at most 1.4x in noise pretraining (depth 2; depth 5 with its 30,000 clipped
# steps), 1.6x under BP at depth 4, 19x under FA w/o at depth 3 (logit range at most 7,600 nats,
# test CE 78-250). Under FA w/o at depth 4 the readout's grows 236-2,000x within the first epoch
# (2e5x by epoch 50; logit range 1e7-9e8 after one epoch, 5e10-2e12 at 50, test CE 1e9-5e10 nats
# at 0.82-0.85 accuracy); at depth 5 4.6e4-4e7x within the first epoch (logit range up to 1e22,
# test CE up to 1e20; three of ten networks then collapse to ~0.2 accuracy with a logit range of
# 0.5-2 nats, which only the weight rule sees). Both bounds sit in those gaps: 100 between 19 and
# 236; 1e6 nats 130x above the largest ordinary range and 10x below the smallest blown-up one.
BLOWUP_FACTOR = 100.0
LOGIT_RANGE_BOUND = 1e6


def auc(x, y) -> float:
    """Area under a curve by the trapezoid rule, divided by the x-range.

    For a test-accuracy curve over epochs this is the mean accuracy over
    training: 1.0 means perfect from the first evaluation on.
    """
    x = [float(v) for v in x]
    y = [float(v) for v in y]
    if len(x) != len(y) or len(x) < 2:
        raise ValueError("auc needs at least two points of equal-length x and y")
    area = sum((x[i + 1] - x[i]) * (y[i + 1] + y[i]) / 2 for i in range(len(x) - 1))
    span = x[-1] - x[0]
    if span <= 0 or not math.isfinite(area):
        raise ValueError("auc needs increasing x")
    return area / span


def diverged(df: pd.DataFrame, keys=KEYS) -> pd.DataFrame:
    """The ``keys`` of networks that diverged in either phase (metric ``diverged``) of a tidy table."""
    return df.loc[df.metric == "diverged", list(keys)].drop_duplicates() if not df.empty else df[list(keys)]


def blown_up(df: pd.DataFrame, keys=KEYS) -> pd.DataFrame:
    """The ``keys`` of networks of a tidy table whose weights blew up: at some logged step a layer's
    ``wb_distance`` above ``BLOWUP_FACTOR`` times its value at the first logged step of its phase
    (and job: the table's ``experiment`` and ``condition`` when ``keys`` lack them, so a pretraining
    table by ``tidy.PRETRAIN_KEYS`` compares every job with itself), or a ``test_logit_range``
    above ``LOGIT_RANGE_BOUND``. Networks that diverged are found by ``diverged``; NaN is never
    above a bound."""
    keys = list(keys)
    if df.empty:
        return df[keys]
    job = keys + [c for c in ("experiment", "condition", "phase", "layer") if c in df.columns and c not in keys]
    wb = df[df.metric == "wb_distance"]
    bad = []
    if not wb.empty:
        first = wb[wb.step == wb.groupby(job).step.transform("min")].groupby(job).value.first().rename("_start")
        wb = wb.join(first, on=job)
        bad.append(wb.loc[wb.value > BLOWUP_FACTOR * wb._start, keys])
    bad.append(df.loc[(df.metric == "test_logit_range") & (df.value > LOGIT_RANGE_BOUND), keys])
    return pd.concat(bad, ignore_index=True).drop_duplicates()


class Excluded(int):
    """How many networks ``exclude_diverged`` left out (an int), and why: ``diverged`` and
    ``blown_up`` (a network that did both counts as diverged), so a report can say both."""

    diverged: int
    blown_up: int

    def __new__(cls, diverged: int = 0, blown_up: int = 0):
        n = super().__new__(cls, int(diverged) + int(blown_up))
        n.diverged, n.blown_up = int(diverged), int(blown_up)
        return n

    def __repr__(self) -> str:
        return f"Excluded(diverged={self.diverged}, blown_up={self.blown_up})"

    def __str__(self) -> str:  # printed and formatted as the number it is
        return str(int(self))


def _hits(df: pd.DataFrame, bad: pd.DataFrame, keys: list[str]) -> np.ndarray:
    """Whether each row of ``df`` belongs to one of the networks ``bad`` lists (by ``keys``)."""
    if bad.empty or df.empty:
        return np.zeros(len(df), bool)
    bad = bad[keys].drop_duplicates().astype({k: df[k].dtype for k in keys})
    return df[keys].merge(bad.assign(_bad=True), on=keys, how="left")["_bad"].notna().to_numpy()


def exclude_diverged(
    df: pd.DataFrame, flags: pd.DataFrame | None = None, keys=KEYS, exclude_blown_up: bool = True
) -> tuple[pd.DataFrame, Excluded]:
    """Rows of networks that neither diverged nor blew up, and how many networks were left out
    (``Excluded``: an int, with the two counts apart): the one rule for every table. A summary
    (``diverged`` and ``blown_up`` columns) decides by those columns; a tidy table by its own rows
    (``diverged``, ``blown_up``), or by those of ``flags``, another table, matched on ``keys``, the
    columns both have (e.g. details or meta rows by the pretraining table, ``tidy.PRETRAIN_KEYS``).
    ``exclude_blown_up=False`` leaves out the diverged networks only (for a reader that decides to
    keep the blown-up ones, e.g. by accuracy alone, and says so)."""
    keys = list(keys)
    if flags is None and "diverged" in df.columns and "metric" not in df.columns:
        div = df.diverged.astype(bool).to_numpy()
        blew = np.zeros(len(df), bool)
        if exclude_blown_up and "blown_up" in df.columns:
            blew = df.blown_up.astype(bool).to_numpy() & ~div
        return df[~(div | blew)], Excluded(div.sum(), blew.sum())
    source = df if flags is None else flags
    bad_div = diverged(source, keys)
    bad_blew = blown_up(source, keys) if exclude_blown_up else source.iloc[:0][keys]
    bad_blew = bad_blew[~_hits(bad_blew, bad_div, keys)]
    if df.empty:
        return df, Excluded()
    mask = _hits(df, bad_div, keys) | _hits(df, bad_blew, keys)
    return df[~mask], Excluded(len(bad_div), len(bad_blew))


def excluded_note(title: str, n: int) -> str:
    """A figure's title with the number of networks left out (unchanged when none): "[k diverged
    networks excluded]", or with blown-up ones "[k diverged, j blown-up networks excluded]"."""
    if not n:
        return title
    blew = getattr(n, "blown_up", 0)
    if not blew:
        return f"{title} [{n} diverged networks excluded]"
    return f"{title} [{n - blew} diverged, {blew} blown-up networks excluded]"


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


def late_accuracy(epochs, acc, late_epochs: float | None) -> float:
    """Mean test accuracy over the last ``late_epochs`` epochs of training, (end - W, end]: with a late
    window every job trains to its epoch cap (``experiments.train_stop``), so every condition of a
    cell is read over the same epochs, and a slow learner is not read off before it has learnt. The
    window follows each cell's own cap (datasets and experiments have their own epoch counts). NaN
    without a window or with no evaluation in it."""
    if late_epochs is None:
        return float("nan")
    if not late_epochs > 0:
        raise ValueError(f"convergence.late_epochs must be > 0, got {late_epochs}")
    e = np.asarray(epochs, float)
    v = np.asarray(acc, float)
    if not len(e):
        return float("nan")
    keep = e > e.max() - float(late_epochs) + 1e-9
    return float(v[keep].mean())


def all_converged(rows: list[dict], patience_epochs: float, min_delta: float, min_epochs: float) -> bool:
    """Whether every network of a training job has converged by ``plateau``'s rule (the one the
    summary applies afterwards, so stopping here changes no converged accuracy or epoch), once it
    has trained ``min_epochs`` (``experiments.train_stop``: the end of the AUC window, so it covers
    every network). Diverged networks never converge and are not waited for."""
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
    late_epochs: float | None = None,
) -> pd.DataFrame:
    """Per-network summary in the contract (``tidy.SUMMARY_COLUMNS``); networks that diverged or
    blew up keep a row with ``diverged`` / ``blown_up`` True (exclude them). ``experiments``:
    {experiment: {kind, train_size: {dataset: n}}} (``experiments.experiment_columns``) for the
    identity columns. ``auc_epochs``: the AUC covers epochs 0 to it, the same window for every
    condition (None: the whole curve); ``late_epochs`` W: ``late_test_acc`` is the mean test
    accuracy over the last W epochs of training (``late_accuracy``; None: NaN); ``stop_at_convergence`` is the
    config's, read by the training jobs, not here."""
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
                late_test_acc=late_accuracy(trained.epoch, trained.value, late_epochs),
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
    out["diverged"] = _hits(out, diverged(df), KEYS)
    out["blown_up"] = _hits(out, blown_up(df), KEYS)
    return summary_frame(out)
