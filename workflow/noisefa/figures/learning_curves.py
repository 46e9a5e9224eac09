"""Test accuracy over data-training epochs for every condition, dataset and depth (mean, 95% CI
over networks), with the mean AUC of each condition in the legend."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from ..analysis.summary import summarise
from . import style


def plot(df: pd.DataFrame, title: str = "", context: dict | None = None):
    """``context``: the main experiment and the convergence rule (its AUC window)."""
    style.setup()
    df, title = style.usable(df, title)
    acc = df[(df.phase == "data") & (df.metric == "test_acc")].copy()
    aucs = summarise(df, **(context or {}).get("convergence", {})).groupby(["dataset", "depth", "condition"]).auc_test_acc.mean()
    datasets, depths = sorted(acc.dataset.unique()), sorted(acc.depth.unique())
    fig, axes = plt.subplots(
        len(datasets), len(depths), figsize=(3.6 * len(depths), 2.9 * len(datasets)), squeeze=False, sharex="row"
    )
    conds = style.order(acc.condition.unique())
    for r, d in enumerate(datasets):
        for c, depth in enumerate(depths):
            ax = axes[r][c]
            sub = acc[(acc.dataset == d) & (acc.depth == depth)]
            style.condition_lines(ax, sub, "epoch", conds, legend=False)
            handles = [
                plt.Line2D(
                    [],
                    [],
                    color=style.PALETTE.get(k, "k"),
                    label=f"{style.label(k)} (AUC {aucs.get((d, depth, k), float('nan')):.3f})",
                )
                for k in conds
            ]
            ax.legend(handles=handles, fontsize=7, loc="lower right")
            ax.set_title(f"{d}, depth {depth}")
            ax.set_ylabel("test accuracy" if c == 0 else "")
            lo = sub[sub.step > 0].value.min() if (sub.step > 0).any() else 0
            ax.set_ylim(max(0.0, lo - 0.05), min(1.0, sub.value.max() + 0.02))
    return style.done(fig, title)


def main(argv=None):
    style.main_sweep_figure(plot, __doc__, argv)


if __name__ == "__main__":
    main()
