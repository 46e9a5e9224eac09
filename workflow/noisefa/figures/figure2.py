"""Figure 2: noise-pretrained FA learns faster and ends closer to B. (a) test accuracy over data
epochs (inset: AUC per network); (b) last-layer angle through noise training, then data training;
(c) PCA trajectory of the last layer's W relative to B (first network); (d) W-B distance, normalised
and raw, over data epochs; (e) order controls: final last-layer angle untrained, noise only,
data only, noise->data and data->noise."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import torch

from ..analysis.summary import exclude_diverged
from ..analysis.tidy import read_summary, read_table
from ..files import load_torch
from . import style
from .panels import at_last, lines, no_data, points_and_mean
from .trajectories import pca_project

KEYS = ["condition", "seed"]
TRAJECTORIES = {  # label in --trajectories -> legend text, colour
    "noise": ("noise training (FA w/)", "#ff7f0e"),
    "bp": ("BP, data", style.PALETTE["bp"]),
    "fa_wo": ("FA w/o, data", style.PALETTE["fa_wo"]),
    "fa_w": ("FA w/, data after noise", style.PALETTE["fa_w"]),
    "data_then_noise": ("FA w/o, noise after data", "#9467bd"),
}
ORDER_CONTROLS = {  # what was trained, in order -> colour (as in the PCA panel)
    "untrained": "#999999",
    "noise only": TRAJECTORIES["noise"][1],
    "data only": style.PALETTE["fa_wo"],
    "noise→data": style.PALETTE["fa_w"],
    "data→noise": TRAJECTORIES["data_then_noise"][1],
}


def load_trajectories(files: dict) -> tuple[dict, torch.Tensor | None, list[str]]:
    """{label: (T, out, in) W of one network} and that network's B, and the labels left out.

    The network is the first (lowest seed) whose W stays finite in the most trajectories (in all,
    unless some trajectory diverged for every network); the trajectories in which it diverged are
    left out (a PCA of non-finite points has no meaning; the panel names what it left out)."""
    loaded = {}
    for label in [k for k in TRAJECTORIES if k in files] + [k for k in files if k not in TRAJECTORIES]:
        loaded[label] = load_torch(files[label], "trajectory", "train")
    if not loaded:
        return {}, None, []

    def finite(t, seed) -> bool:
        return seed in t["seeds"] and bool(torch.isfinite(t["W"][:, t["seeds"].index(seed)]).all())

    seeds = sorted({int(s) for t in loaded.values() for s in t["seeds"]})
    seed = max(seeds, key=lambda s: (sum(finite(t, s) for t in loaded.values()), -s))
    out, B, left_out = {}, None, []
    for label, t in loaded.items():
        if not finite(t, seed):
            left_out.append(label)
            continue
        i = t["seeds"].index(seed)
        out[label] = t["W"][:, i].double()
        B = t["B"][i].double() if B is None else B
    return out, B, left_out


def order_controls(angle: pd.DataFrame) -> pd.DataFrame:
    """Final last-layer angle per network for the five orders of noise and data training."""
    data, keys = angle[angle.phase == "data"], KEYS
    parts = {
        "untrained": data[(data.condition == "fa_wo") & (data.step == 0)],
        "noise only": at_last(angle[(angle.phase == "noise") & (angle.condition == "fa_w")], keys),
        "data only": at_last(data[data.condition == "fa_wo"], keys),
        "noise→data": at_last(data[data.condition == "fa_w"], keys),
        "data→noise": at_last(angle[angle.phase == "noise_after"], keys),
    }
    return pd.concat([p.assign(order=k) for k, p in parts.items()], ignore_index=True)


def _accuracy(ax, acc: pd.DataFrame, summary: pd.DataFrame, conds) -> None:
    ax.set_title("a) test accuracy")
    if acc.empty:
        return no_data(ax)
    style.condition_lines(ax, acc, "epoch", conds, legend=False)
    ax.set(xlabel="data epoch", ylabel="test accuracy")
    inset = ax.inset_axes([0.5, 0.1, 0.46, 0.42])
    if summary.empty:
        return no_data(inset)
    s = summary.rename(columns={"auc_test_acc": "value"}).assign(cond=lambda d: d.condition.map(style.label))
    order = [style.label(c) for c in style.order(s.condition.unique())]
    palette = {style.label(c): colour for c, colour in style.PALETTE.items()}
    points_and_mean(inset, s, "cond", order, hue="cond", palette=palette)
    lo, hi = s.value.min(), s.value.max()
    inset.set_ylim(max(0, lo - 0.5 * (hi - lo + 0.01)), hi + 0.2 * (hi - lo + 0.01))
    inset.set(xlabel="", ylabel="")
    inset.set_title("AUC of test accuracy", fontsize=7)
    inset.tick_params(labelsize=6)


def _through_phases(ax_noise, ax_data, angle: pd.DataFrame, conds) -> None:
    noise = angle[(angle.phase == "noise") & (angle.condition == "fa_w")]
    data = angle[angle.phase == "data"]
    for ax, part, x, label in ((ax_noise, noise, "step", "noise step"), (ax_data, data, "epoch", "data epoch")):
        if part.empty:
            no_data(ax)
        else:
            lines(ax, part, x, hue="condition", hue_order=conds)
            ax.axhline(90, ls="--", c="grey", lw=0.8)
            ax.set(xlabel=label, ylim=(0, 105))
    ax_noise.set(ylabel="last-layer angle (deg)", title="b) angle: noise training (FA w/)")
    ax_data.set(ylabel="", title="…then data training")


def _pca(ax, files: dict) -> None:
    ax.set_title("c) last-layer W relative to B, PCA")
    if not files:
        return no_data(ax)
    trajectories, B, left_out = load_trajectories(files)
    if left_out:
        names = ", ".join(TRAJECTORIES.get(k, (k,))[0] for k in left_out)
        ax.text(0.02, 0.02, f"left out (every network diverged): {names}", transform=ax.transAxes, fontsize=6, color="C3")
    if not trajectories:
        return no_data(ax)
    coords, b, ratio = pca_project(trajectories, B)
    for label, xy in coords.items():
        name, colour = TRAJECTORIES.get(label, (label, "k"))
        ax.plot(xy[:, 0], xy[:, 1], "-", marker=".", ms=4, lw=1.2, color=colour, label=name)
        ax.plot(xy[0, 0], xy[0, 1], "o", ms=7, mfc="white", mec=colour, mew=1.5)
    ax.plot(b[0], b[1], "*", ms=15, color="gold", mec="k", label="B (feedback)")
    ax.plot([], [], "o", mfc="white", mec="k", label="start")
    ax.legend(fontsize=6, loc="best")
    ax.set(xlabel=f"PC1 ({ratio[0]:.0%} of variance)", ylabel=f"PC2 ({ratio[1]:.0%})")


def _distance(ax, d: pd.DataFrame, conds, ylabel: str, title: str) -> None:
    ax.set_title(title)
    if d.empty:
        return no_data(ax)
    lines(ax, d, "epoch", hue="condition", hue_order=conds)
    ax.set(xlabel="data epoch", ylabel=ylabel)


def _orders(ax, angle: pd.DataFrame) -> None:
    ax.set_title("e) order of noise and data training")
    d = order_controls(angle)
    if d.empty:
        return no_data(ax)
    order = [o for o in ORDER_CONTROLS if o in set(d.order)]
    points_and_mean(ax, d, "order", order, hue="order", palette=ORDER_CONTROLS)
    ax.axhline(90, ls="--", c="grey", lw=0.8)
    ax.set(xlabel="", ylabel="final last-layer angle (deg)", ylim=(0, 105))


def plot(metrics: pd.DataFrame, summary: pd.DataFrame, trajectories: dict, context: dict, title: str = ""):
    """metrics/summary: the tidy tables; trajectories: {label: trajectory.pt}; context: figure2_context()."""
    style.setup()
    df, title = style.usable(metrics, title)
    exp, ds, depth = context.get("experiment"), context.get("dataset"), context.get("depth")
    cell = (df.experiment == exp) & (df.dataset == ds) & (df.depth == depth) if exp else df.depth == depth
    df = df[cell & (df.layer.isin(["", str(depth)]))]
    if not summary.empty:
        summary = summary[(summary.experiment == exp) & (summary.dataset == ds) & (summary.depth == depth)]
        summary, _ = exclude_diverged(summary)
    conds = style.order(df.condition.unique())
    angle = df[(df.metric == "angle_deg") & (df.layer == str(depth))]
    data = df[df.phase == "data"]

    fig, ax = plt.subplot_mosaic(
        [["a", "a", "b1", "b2", "c", "c"], ["d1", "d1", "d2", "d2", "e", "e"]],
        figsize=(16, 8),
        gridspec_kw={"width_ratios": [1, 1, 0.8, 1.2, 1, 1]},
    )
    _accuracy(ax["a"], data[data.metric == "test_acc"], summary, conds)
    _through_phases(ax["b1"], ax["b2"], angle, conds)
    _pca(ax["c"], trajectories)
    last = data[data.layer == str(depth)]
    _distance(ax["d1"], last[last.metric == "wb_distance_norm"], conds, "‖W/‖W‖ − B/‖B‖‖", "d) normalised W–B distance")
    if not last[last.metric == "wb_distance_norm"].empty:
        ax["d1"].axhline(2**0.5, ls="--", c="grey", lw=0.8, label="orthogonal (√2)")
        ax["d1"].legend(fontsize=7)
    _distance(ax["d2"], last[last.metric == "wb_distance"], conds, "‖W − B‖", "raw W–B distance")
    _orders(ax["e"], angle)
    style.finish(fig, title, conds)
    return fig


def main(argv=None):
    a = style.cli(__doc__, argv)
    summary = read_summary(a.summary)
    style.save(plot(read_table(a.metrics), summary, a.trajectories, a.context, a.title), a.out)


if __name__ == "__main__":
    main()
