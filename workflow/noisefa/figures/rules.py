"""Beyond the paper: noise-pretrained FA against the other ways around weight transport.

One row per (dataset, depth) of the `rules` experiment: (a) test accuracy over training,
(b) AUC of test accuracy and (c) converged accuracy per condition (bars: mean, points:
networks), (d) the delta angle of the last hidden layer (the angle between the rule's weight
update and backprop's, at the last evaluation; 0 for BP by definition), (e) the last layer's
W-B angle over training for the rules that have a B (FA, KP, WM), (f) the test set's expected
calibration error at the end, and (g) its reliability diagram (accuracy against confidence).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from ..analysis.summary import exclude_diverged
from ..analysis.tidy import read_summary, read_table
from ..pipeline.conditions import CONDITIONS
from . import style
from .panels import at_last, no_data, points_and_mean

KEYS = ["dataset", "depth", "condition", "seed"]


def _bars(ax, data: pd.DataFrame, value: str, conds: list[str], ylabel: str) -> None:
    d = data.rename(columns={value: "value"})
    d = d[d.condition.isin(conds)]
    if d.empty:
        return no_data(ax)
    order = [c for c in conds if c in set(d.condition)]
    points_and_mean(ax, d, "condition", order, hue="condition", hue_order=order, palette=style.PALETTE)
    ax.set_xticks(range(len(order)), [style.label(c) for c in order], rotation=45, ha="right")
    ax.set_xlabel("")
    ax.set_ylabel(ylabel)


def plot(metrics: pd.DataFrame, summary: pd.DataFrame, details: pd.DataFrame, context: dict, title: str = ""):
    style.setup()
    exp = context.get("experiment", "rules")
    metrics, title = style.usable(metrics[metrics.experiment == exp], title)
    summary, _ = exclude_diverged(summary[summary.experiment == exp])
    details = details[details.experiment == exp] if not details.empty else details
    conds = style.order(context.get("conditions") or metrics.condition.unique())
    cells = sorted({(d, int(k)) for d, k in zip(metrics.dataset, metrics.depth)}) or [("no data", 0)]
    grid = plt.subplots(2 * len(cells), 4, figsize=(17, 7.4 * len(cells)), squeeze=False)
    fig, axes = grid[0], [list(grid[1][2 * i]) + list(grid[1][2 * i + 1][:3]) for i in range(len(cells))]
    for i in range(len(cells)):
        grid[1][2 * i + 1][3].set_visible(False)
    for r, (ds, depth) in enumerate(cells):
        m = metrics[(metrics.dataset == ds) & (metrics.depth == depth) & (metrics.phase == "data")]
        s = summary[(summary.dataset == ds) & (summary.depth == depth)] if not summary.empty else summary
        row = axes[r]
        acc = m[m.metric == "test_acc"]
        if acc.empty:
            no_data(row[0])
        else:
            style.condition_lines(row[0], acc, "epoch", [c for c in conds if c in set(acc.condition)], legend=r == 0)
        row[0].set(title=f"a) {ds}, depth {depth}: test accuracy", xlabel="data epoch", ylabel="test accuracy", ylim=(0, 1.02))
        _bars(row[1], s, "auc_test_acc", conds, "AUC of test accuracy") if not s.empty else no_data(row[1])
        row[1].set_title("b) learning speed (AUC)")
        _bars(row[2], s, "converged_test_acc", conds, "converged test accuracy") if not s.empty else no_data(row[2])
        row[2].set_title("c) converged accuracy")
        delta = at_last(m[(m.metric == "delta_angle_deg") & (m.layer == str(depth - 1))], KEYS)
        _bars(row[3], delta, "value", conds, "angle to BP's update (deg)")
        row[3].set_title(f"d) delta angle, layer {depth - 1}")
        with_b = [c for c in conds if c in CONDITIONS and CONDITIONS[c].aligns_b]  # the angle measures alignment
        ang = m[(m.metric == "angle_deg") & (m.layer == str(depth)) & m.condition.isin(with_b)]
        if ang.empty:
            no_data(row[4])
        else:
            style.condition_lines(row[4], ang, "epoch", [c for c in conds if c in set(ang.condition)], legend=False)
            row[4].axhline(90, ls="--", c="grey", lw=0.8)
        row[4].set(title="e) last-layer W-B angle", xlabel="data epoch", ylabel="angle (deg)", ylim=(0, 100))
        ece = at_last(m[m.metric == "test_ece"], KEYS)
        _bars(row[5], ece, "value", conds, "expected calibration error")
        row[5].set_title("f) calibration (test ECE)")
        _reliability(row[6], details, ds, depth, conds)
    if axes[0][0].get_legend():
        for t in axes[0][0].get_legend().texts:
            t.set_text(style.label(t.get_text()))
    return style.done(fig, title)


def _reliability(ax, details: pd.DataFrame, ds: str, depth: int, conds: list[str]) -> None:
    ax.set(title="g) reliability, last evaluation", xlabel="confidence", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1))
    d = details[(details.dataset == ds) & (details.depth == depth)] if not details.empty else details
    d = d[d.metric.isin(["reliability_confidence", "reliability_accuracy", "reliability_count"])] if not d.empty else d
    if d.empty:
        return no_data(ax)
    d = d[d.step == d.groupby("condition").step.transform("max")]
    wide = d.pivot_table(index=["condition", "seed", "index"], columns="metric", values="value").reset_index().dropna()
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8)
    for c in conds:
        w = wide[wide.condition == c]
        if w.empty:
            continue
        # pooled over networks: each bin's accuracy and confidence weighted by its count
        g = w.assign(a=w.reliability_accuracy * w.reliability_count, f=w.reliability_confidence * w.reliability_count)
        g = g.groupby("index")[["a", "f", "reliability_count"]].sum()
        g = g[g.reliability_count > 0]
        ax.plot(g.f / g.reliability_count, g.a / g.reliability_count, marker="o", ms=3, color=style.PALETTE.get(c))


def main(argv=None):
    a = style.cli(__doc__, argv)
    summary = read_summary(a.summary)
    fig = plot(read_table(a.metrics), summary, read_table(a.details), a.context, a.title)
    style.save(fig, a.out)


if __name__ == "__main__":
    main()
