"""Figure 3: converged test accuracy of BP, FA w/o and FA w/ against depth, one panel per dataset
(mean and 95% t-interval over networks, each network a small point; k/N under a mean: networks
that hit the epoch cap before their test accuracy plateaued). Last panel: the gap to BP
(mean BP accuracy - accuracy) of FA w/o and FA w/ per dataset at Table 1's depth."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import transforms

from ..analysis.tidy import read_summary
from . import style
from .panels import ci_table, drop_diverged, mean_ci, no_data

ACC = "converged_test_acc"
DODGE = 0.12  # horizontal offset between conditions at one depth


def gap_to_bp(summary: pd.DataFrame, depth: int, trials: int | None = None) -> pd.DataFrame:
    """Per dataset and FA condition at ``depth``: the gap to BP, mean BP accuracy - each network's accuracy.

    Returns dataset, condition, gap (mean over the condition's networks), lo, hi (95% t-interval of
    that mean; BP's mean is taken as exact) and n. ``trials`` keeps the first seeds of each cell
    only, as Table 1 does. Datasets without BP networks at ``depth`` are left out.
    """
    cols = ["dataset", "condition", "gap", "lo", "hi", "n"]
    if summary.empty:
        return pd.DataFrame(columns=cols)
    s = summary[summary.depth == depth]
    rows = []
    for ds, g in s.groupby("dataset", sort=True):
        if trials:
            g = g[g.seed.isin(sorted(g.seed.unique())[:trials])]
        bp = g[g.condition == "bp"][ACC].astype(float)
        if bp.empty or not np.isfinite(bp).any():
            continue
        ref = float(bp[np.isfinite(bp)].mean())
        for cond in style.order(set(g.condition) - {"bp"}):
            acc = g[g.condition == cond][ACC].astype(float)
            m, lo, hi = mean_ci(ref - acc)
            rows.append({"dataset": ds, "condition": cond, "gap": m, "lo": lo, "hi": hi, "n": len(acc)})
    return pd.DataFrame(rows, columns=cols)


def _dataset_panel(ax, s: pd.DataFrame, depths: list[int], conds: list[str]) -> None:
    """Networks as small points (hollow: stopped by the epoch cap), mean and 95% t-interval per
    condition and depth; a strip at the top counts the networks at the cap (k/N, one row per condition)."""
    offsets = {c: (i - (len(conds) - 1) / 2) * DODGE for i, c in enumerate(conds)}
    rng = np.random.default_rng(0)
    strip = transforms.blended_transform_factory(ax.transData, ax.transAxes)
    for i, cond in enumerate(conds):
        part = s[s.condition == cond]
        if part.empty:
            continue
        color = style.PALETTE.get(cond, "k")
        capped = ~part.converged.astype(bool)  # the epoch cap came before the plateau
        x = part.depth + offsets[cond] + rng.uniform(-DODGE / 4, DODGE / 4, len(part))
        ax.scatter(x[~capped], part[ACC][~capped], s=8, color=color, alpha=0.45, lw=0, zorder=2)
        ax.scatter(x[capped], part[ACC][capped], s=10, facecolor="none", edgecolor=color, alpha=0.7, lw=0.7, zorder=2)
        t = ci_table(part, ["depth"], ACC)
        err = np.vstack([t["mean"] - t["lo"], t["hi"] - t["mean"]])
        ax.errorbar(
            t.depth + offsets[cond], t["mean"], yerr=np.nan_to_num(err), color=color, marker="o", ms=4, lw=1.2,
            capsize=2, label=style.label(cond), zorder=3,
        )  # fmt: skip
        for depth, g in part.groupby("depth"):
            k = int(capped[g.index].sum())
            ax.text(depth, 0.97 - 0.07 * i, f"{k}/{len(g)}", transform=strip, ha="center", va="top", fontsize=6, color=color,
                    bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 0.3}, zorder=5)  # fmt: skip
    ax.set_xticks(depths)
    ax.set_xlim(min(depths) - 0.5, max(depths) + 0.5)
    lo, hi = float(s[ACC].min()), float(s[ACC].max())
    span = max(hi - lo, 0.01)
    top = hi + 0.05 * span + (0.07 * len(conds) + 0.04) / (1 - 0.07 * len(conds) - 0.04) * (1.1 * span)
    ax.set_ylim(max(0.0, lo - 0.05 * span), top)
    ax.set_yticks([v for v in ax.get_yticks() if lo - 0.05 * span <= v <= min(1.0, hi + 0.05 * span)])


def _gap_panel(ax, gaps: pd.DataFrame, datasets: list[str], depth: int) -> None:
    ax.set_title(f"gap to BP at depth {depth} (Table 1's depth), all networks", fontsize=8)
    if gaps.empty:
        no_data(ax, f"no BP and FA networks at depth {depth}")
        return
    conds = style.order(gaps.condition.unique())
    width = 0.8 / len(conds)
    for i, cond in enumerate(conds):
        g = gaps[gaps.condition == cond].set_index("dataset").reindex(datasets)
        x = np.arange(len(datasets)) + (i - (len(conds) - 1) / 2) * width
        err = np.nan_to_num(np.vstack([g.gap - g.lo, g.hi - g.gap]))
        ax.bar(x, g.gap, width * 0.9, color=style.PALETTE.get(cond, "k"), alpha=0.8, label=style.label(cond))
        ax.errorbar(x, g.gap, yerr=err, fmt="none", ecolor="k", lw=0.8, capsize=2)
        for xi, v, top, bottom in zip(x, g.gap, g.hi, g.lo):
            if np.isfinite(v):
                y = (top if np.isfinite(top) else v) if v >= 0 else (bottom if np.isfinite(bottom) else v)
                ax.annotate(f"{v:+.3f}", (xi, y), xytext=(0, 2 if v >= 0 else -8), textcoords="offset points",
                            ha="center", fontsize=6)  # fmt: skip
    ax.axhline(0, color="grey", lw=0.8)
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, hi + 0.3 * (hi - lo))  # room for the legend above the bars
    ax.set_xticks(np.arange(len(datasets)), datasets, rotation=30 if len(datasets) > 2 else 0, fontsize=7)
    ax.set_ylabel("BP acc - acc (mean BP - each network)", fontsize=7)
    ax.set_xlabel("bars: mean, 95% t-interval over networks", fontsize=7)
    ax.legend(fontsize=7, loc="upper right", ncol=len(conds))


def plot(summary: pd.DataFrame, context: dict | None = None, title: str = ""):
    """``summary``: results/tables/summary.csv; ``context``: experiment, datasets, depths, table1, convergence."""
    style.setup()
    context = context or {}
    s = summary
    if not s.empty and context.get("experiment") and "experiment" in s:
        s = s[s.experiment == context["experiment"]]
    s, title = drop_diverged(s, title)
    if not s.empty:
        s = s[np.isfinite(s[ACC].astype(float))]
    present = sorted(s.dataset.unique()) if not s.empty else []
    wanted = list(context.get("datasets", []))
    datasets = wanted + [d for d in present if d not in wanted]
    datasets = datasets or ["(none)"]
    seen = {int(d) for d in s.depth.unique()} if not s.empty else set()
    depths = sorted(seen | {int(d) for d in context.get("depths", [])}) or [2]
    t1 = context.get("table1", {})
    t1_depth = int(t1.get("depth", depths[0]))
    fig, axes = plt.subplots(
        1, len(datasets) + 1, figsize=(3.0 * len(datasets) + 3.2, 3.2), squeeze=False,
        gridspec_kw={"width_ratios": [1] * len(datasets) + [max(1.0, 0.45 * len(datasets))]},
    )  # fmt: skip
    axes = axes[0]
    conds = style.order(s.condition.unique()) if not s.empty else []
    conv = context.get("convergence", {})
    rule = (
        f"plateau: no test-accuracy gain > {conv['min_delta']} within {conv['patience_epochs']} epochs"
        if {"min_delta", "patience_epochs"} <= set(conv)
        else ""
    )
    for i, ds in enumerate(datasets):
        ax = axes[i]
        part = s[s.dataset == ds] if not s.empty else s
        ax.set_title(ds, fontsize=9)
        if part.empty:
            no_data(ax)
            continue
        _dataset_panel(ax, part, depths, conds)
        ax.set_xlabel("depth (Linear layers)", fontsize=8)
        ax.set_ylabel("converged test accuracy" if i == 0 else "", fontsize=8)
    if conds:
        handles = [plt.Line2D([], [], color=style.PALETTE.get(c, "k"), marker="o", ms=4, label=style.label(c)) for c in conds]
        fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, 0.0), ncol=len(conds), fontsize=7, frameon=False)
    notes = [
        "Points: networks (hollow: stopped by the epoch cap before a plateau); bars: mean, 95% t-interval over networks.",
        "k/N at the top of a panel: networks of a condition (one row each) at that depth that hit the epoch cap.",
    ]
    if rule:
        notes.append(f"Converged accuracy: mean test accuracy over the plateau window ({rule}); at the cap, the last window.")
    fig.text(0.01, -0.08, "\n".join(notes), fontsize=6, va="top", ha="left", color="#444444")
    gaps = gap_to_bp(s, t1_depth)
    _gap_panel(axes[-1], gaps, [d for d in datasets if d in set(gaps.dataset)] or datasets, t1_depth)
    return style.done(fig, title)


def main(argv=None):
    a = style.cli(__doc__, argv)
    style.save(plot(read_summary(a.summary), a.context, a.title), a.out)


if __name__ == "__main__":
    main()
