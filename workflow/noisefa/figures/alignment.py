"""Last-layer alignment angle (W vs B, mean over neurons) through noise pretraining and then
data training, per condition and depth; dashed line at 90 degrees (no alignment)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from . import style


def plot(df: pd.DataFrame, title: str = "", context: dict | None = None):
    style.setup()
    df, title = style.usable(df, title)
    ang = df[(df.metric == "angle_deg") & (df.layer == df.depth.astype(str))].copy()
    datasets, depths = sorted(ang.dataset.unique()), sorted(ang.depth.unique())
    fig, axes = plt.subplots(
        len(datasets),
        2 * len(depths),
        figsize=(3.0 * 2 * len(depths), 2.7 * len(datasets)),
        squeeze=False,
        gridspec_kw={"width_ratios": [1, 1.4] * len(depths)},
    )
    conds = style.order(ang.condition.unique())
    for r, d in enumerate(datasets):
        for c, depth in enumerate(depths):
            sub = ang[(ang.dataset == d) & (ang.depth == depth)]
            for k, phase in enumerate(("noise", "data")):
                ax = axes[r][2 * c + k]
                part = sub[sub.phase == phase]
                x = "step" if phase == "noise" else "epoch"
                if not part.empty:
                    style.condition_lines(ax, part, x, conds, legend=(r == 0 and c == 0 and k == 1))
                ax.axhline(90, ls="--", c="grey", lw=0.8)
                ax.set_ylim(0, 100)
                ax.set_xlabel("noise step" if phase == "noise" else "data epoch")
                ax.set_ylabel("last-layer angle (deg)" if (c == 0 and k == 0) else "")
                ax.set_title(f"{d}, depth {depth}: {phase}", fontsize=8)
    if axes[0][1].get_legend():
        for t in axes[0][1].get_legend().texts:
            t.set_text(style.label(t.get_text()))
    return style.done(fig, title)


def main(argv=None):
    style.main_sweep_figure(plot, __doc__, argv)


if __name__ == "__main__":
    main()
