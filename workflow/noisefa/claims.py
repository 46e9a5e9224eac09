"""The paper's claims, each computed from the tidy metrics with the test the paper used.

A claim is one function in ``CLAIMS`` that returns rows of the claims table:
``claim, figure, dataset, depth, comparison, test, n, statistic, p_value, effect, holds``.
``holds`` is computed from the statistic by the rule written next to each claim, never
typed in. Claims that need experiments the main sweep does not run (OOD, meta-loss,
noise-condition sweeps, Gram matrices) live with those experiments.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from . import stats
from .summary import exclude_diverged

COLUMNS = ["claim", "figure", "dataset", "depth", "comparison", "test", "n", "statistic", "p_value", "effect", "holds"]
ALPHA = 0.001  # the paper reports its comparisons at p < 0.001


def _row(claim, figure, dataset, depth, comparison, result: stats.TestResult, holds: bool) -> dict:
    return {
        "claim": claim,
        "figure": figure,
        "dataset": dataset,
        "depth": int(depth),
        "comparison": comparison,
        **result.as_dict(),
        "holds": bool(holds),
    }


def _last_layer(df: pd.DataFrame, metric: str, phase: str) -> pd.DataFrame:
    d = df[(df.metric == metric) & (df.phase == phase)]
    return d[d.layer == d.depth.astype(str)]


def _at(d: pd.DataFrame, which: str) -> pd.DataFrame:
    """Rows at each network's first or last logged step."""
    step = d.groupby(["dataset", "depth", "condition", "seed"]).step.transform("min" if which == "first" else "max")
    return d[d.step == step]


def _noise_phase(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Noise-phase rows once per pretraining (the table repeats them for every dataset that uses it)."""
    d = df[(df.phase == "noise") & (df.metric == metric)]
    d = d.drop_duplicates(["noise", "depth", "seed", "step", "layer"])
    return d.assign(dataset="noise:" + d.noise)


def c3_noise_loss_falls(df, summary):
    """Cross-entropy falls during noise training: paired t of last vs first logged batch loss."""
    d = _noise_phase(df, "batch_loss")
    rows = []
    for (ds, depth), g in d.groupby(["dataset", "depth"]):
        first, last = _at(g, "first").sort_values("seed"), _at(g, "last").sort_values("seed")
        r = stats.paired_t(last.value.to_numpy(), first.value.to_numpy())
        rows.append(_row("C3", "1d", ds, depth, "noise CE last vs first", r, r.effect < 0 and r.p_value < 0.05))
    return rows


def c2_noise_aligns(df, summary):
    """After noise training the last-layer angle is below 90 deg (one-sample t over networks)."""
    d = _noise_phase(df, "angle_deg")
    d = d[d.layer == d.depth.astype(str)]
    rows = []
    for (ds, depth), g in d.groupby(["dataset", "depth"]):
        r = stats.one_sample_t(_at(g, "last").value, 90.0)
        rows.append(_row("C2", "1e", ds, depth, "pretrained angle vs 90", r, r.effect < 0 and r.p_value < ALPHA))
    return rows


def c5_faster_learning(df, summary):
    """FA w/ learns faster than FA w/o (AUC of test accuracy, two-sample t), narrowing the gap to BP."""
    rows = []
    for (ds, depth), g in summary.groupby(["dataset", "depth"]):
        auc = {c: g[g.condition == c].auc_test_acc for c in ("bp", "fa_wo", "fa_w")}
        if any(len(v) == 0 for v in auc.values()):
            continue
        r = stats.two_sample_t(auc["fa_w"], auc["fa_wo"])
        rows.append(_row("C5", "2b", ds, depth, "AUC fa_w vs fa_wo", r, r.effect > 0 and r.p_value < ALPHA))
        r_bp = stats.two_sample_t(auc["fa_w"], auc["bp"])
        gap_wo = auc["bp"].mean() - auc["fa_wo"].mean()
        rows.append(
            _row(
                "C5",
                "2b",
                ds,
                depth,
                "AUC fa_w vs bp (holds: gap to BP smaller than fa_wo's)",
                r_bp,
                abs(r_bp.effect) < abs(gap_wo),
            )
        )
    return rows


def _final_vs(df, metric, claim, figure, label):
    d = _at(_last_layer(df, metric, "data"), "last")
    rows = []
    for (ds, depth), g in d.groupby(["dataset", "depth"]):
        w, wo = g[g.condition == "fa_w"].value, g[g.condition == "fa_wo"].value
        if len(w) and len(wo):
            r = stats.two_sample_t(w, wo)
            rows.append(_row(claim, figure, ds, depth, label, r, r.effect < 0 and r.p_value < ALPHA))
    return rows


def c6_final_angle(df, summary):
    """The last-layer angle after data training is lower w/ than w/o (two-sample t)."""
    return _final_vs(df, "angle_deg", "C6", "2c", "final last-layer angle fa_w vs fa_wo")


def c7_closer_to_B(df, summary):
    """W ends closer to B w/ than w/o (last layer, Frobenius distance; two-sample t)."""
    return _final_vs(df, "wb_distance", "C7", "2e", "final last-layer ||W-B|| fa_w vs fa_wo")


def c11_erank_falls(df, summary):
    """The effective rank of W (every layer) falls during noise training: paired t, last vs first."""
    d = _noise_phase(df, "erank")
    rows = []
    for (ds, depth, layer), g in d.groupby(["dataset", "depth", "layer"]):
        first, last = _at(g, "first").sort_values("seed"), _at(g, "last").sort_values("seed")
        r = stats.paired_t(last.value.to_numpy(), first.value.to_numpy())
        rows.append(
            _row("C11", "4d", ds, depth, f"erank W{layer} last vs first noise step", r, r.effect < 0 and r.p_value < ALPHA)
        )
    return rows


CLAIMS: dict[str, Callable] = {
    "C2": c2_noise_aligns,
    "C3": c3_noise_loss_falls,
    "C5": c5_faster_learning,
    "C6": c6_final_angle,
    "C7": c7_closer_to_B,
    "C11": c11_erank_falls,
}


def claims_table(df: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    """Every claim's rows; networks that diverged are excluded first (and counted in the report)."""
    df, _ = exclude_diverged(df)
    summary = summary[~summary.diverged] if "diverged" in summary else summary
    rows = [r for fn in CLAIMS.values() for r in fn(df, summary)]
    return pd.DataFrame(rows, columns=COLUMNS)
