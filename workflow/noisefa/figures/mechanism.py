"""Why each effect of noise pretraining exists (beyond the paper): (a) per claim cell, the fraction
of FA w/'s effect each control reproduces (colour; 1 = all of it, 0 = none), with the cell's
explanation; (b) the alignment dose-response: AUC against the last layer's W-B angle where data
training starts, for fa_aligned at fixed angles (the curve alignment alone draws), FA w/o, FA w/
and fa_aligned matched to FA w/'s angle, one panel per depth."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..analysis.mechanism import MEASURES, SHORT, UNDETERMINED
from ..analysis.stats import mean_ci
from ..pipeline.conditions import CONTROLS
from . import style
from .panels import no_data


def fraction_panel(ax, table: pd.DataFrame) -> None:
    if table.empty:
        no_data(ax, "no mechanism rows (controls off)")
        return
    controls = [c for c in CONTROLS if c in set(table.control)]
    short = {m.claim: m.short for m in MEASURES.values()}
    variant = table.variant.fillna("").astype(str)
    t = table.assign(cell=[f"{r.claim} {short.get(r.claim, r.measure)}{' ' + v if v else ''} [{r.dataset} d{r.depth}]"
                           for r, v in zip(table.itertuples(), variant)])  # fmt: skip
    cells = list(dict.fromkeys(t.cell))
    frac = t.pivot_table(index="cell", columns="control", values="fraction", aggfunc="first").reindex(
        index=cells, columns=controls
    )
    what = t.pivot_table(index="cell", columns="control", values="reproduces", aggfunc="first").reindex(
        index=cells, columns=controls
    )
    expl = t.groupby("cell", sort=False).explanation.first().reindex(cells)
    # no effect to explain: nothing is a fraction of it; grey
    effect = ~expl.eq("no effect to explain").to_numpy()
    show = frac.where(np.repeat(effect[:, None], len(controls), axis=1))
    values = show.clip(-0.5, 1.5).to_numpy(float)
    vague = (what == UNDETERMINED).to_numpy()  # an interval that includes 0 and 1: drawn faint
    kw = {"cmap": "RdYlGn", "vmin": -0.5, "vmax": 1.5, "aspect": "auto"}
    im = ax.imshow(np.where(vague, np.nan, values), **kw)
    ax.imshow(np.where(vague, values, np.nan), alpha=0.3, **kw)
    for i in range(len(cells)):
        for j in range(len(controls)):
            v, w = show.iat[i, j], what.iat[i, j]
            if pd.notna(v):
                ax.text(j, i, f"{v:.2f}\n{w}", ha="center", va="center", fontsize=5.5)
    ax.set_xticks(range(len(controls)), [SHORT[c] for c in controls], fontsize=7)
    ax.set_yticks(range(len(cells)), cells, fontsize=6)
    ax.grid(False)
    sec = ax.secondary_yaxis("right")
    sec.set_yticks(
        range(len(cells)), [str(e).replace("; fresh noise reproduces it", " (+ fresh noise)") for e in expl], fontsize=6
    )
    claims = [c.split()[0] for c in cells]
    for i in range(1, len(claims)):
        if claims[i] != claims[i - 1]:
            ax.axhline(i - 0.5, c="k", lw=0.6)
    plt.colorbar(im, ax=ax, fraction=0.03, pad=0.3, label="fraction of FA w/'s effect reproduced")
    ax.set_title(
        "(a) fraction of FA w/ − FA w/o each control reproduces (blank: no effect to explain; faint: undetermined)", fontsize=8
    )


def dose_panel(ax, dose: pd.DataFrame, depth: int) -> None:
    g = dose[dose.depth == depth].assign(target=dose.target.fillna("").astype(str))
    fixed = g[g.target.str.fullmatch(r"\d+")]
    if fixed.empty:
        no_data(ax, f"no dose-response at depth {depth}")
        return
    pts = fixed.groupby("target").agg(x=("initial_angle_deg", "mean"), y=("auc_test_acc", list)).sort_values("x")
    ys = [mean_ci(v) for v in pts.y]
    ax.errorbar(pts.x, [m for m, *_ in ys], yerr=np.array([[m - lo, hi - m] for m, lo, hi in ys]).T, fmt="-o",
                color=style.PALETTE["fa_aligned"], ms=3, label="fa_aligned, fixed angles")  # fmt: skip
    for cond, target, marker, label in (("fa_wo", "", "s", "FA w/o"), ("fa_w", "", "D", "FA w/ (noise)"),
                                        ("fa_aligned", "matched", "^", "fa_aligned matched")):  # fmt: skip
        h = g[(g.condition == cond) & (g.target == target)]
        if h.empty:
            continue
        m, lo, hi = mean_ci(h.auc_test_acc)
        ax.errorbar([h.initial_angle_deg.mean()], [m], yerr=[[m - lo], [hi - m]], fmt=marker, ms=5,
                    color=style.PALETTE[cond] if cond != "fa_aligned" else "k", label=label)  # fmt: skip
    ax.set_xlabel("last-layer W-B angle where data training starts (°)")
    ax.set_ylabel("AUC of test accuracy")
    ax.set_title(f"(b) alignment dose-response, depth {depth}", fontsize=8)
    ax.legend(fontsize=6)


def plot(table: pd.DataFrame, dose: pd.DataFrame, title: str = ""):
    style.setup()
    depths = sorted(dose.depth.unique()) if not dose.empty else []
    n_cells = (
        max(1, table.groupby(["claim", "measure", "variant", "dataset", "depth"], dropna=False).ngroups) if len(table) else 1
    )
    fig = plt.figure(figsize=(12, 1.5 + 0.28 * n_cells + 3.2))
    grid = fig.add_gridspec(2, max(1, len(depths)), height_ratios=[0.28 * n_cells + 0.8, 3.0], hspace=0.35)
    fraction_panel(fig.add_subplot(grid[0, :]), table)
    for k, depth in enumerate(depths):
        dose_panel(fig.add_subplot(grid[1, k]), dose, depth)
    if not depths:
        no_data(fig.add_subplot(grid[1, 0]), "no dose-response (controls.dose.enabled is off)")
    return style.done(fig, title)


def main(argv=None):
    a = style.cli(__doc__, argv)
    style.save(plot(pd.read_csv(a.mechanism), pd.read_csv(a.dose, dtype={"target": str}), a.title), a.out)


if __name__ == "__main__":
    main()
