"""Figure 1: noise training aligns the last layer's W to its fixed feedback B. (a) cross-entropy
over noise steps vs chance; (b) per-neuron last-layer angles, untrained vs noise-trained (first
network); (c) final last-layer angle for every noise set; (d) angle vs the size of a fixed
gaussian noise set; (e) last-layer angle over noise steps, one line per noise set."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from ..analysis.tidy import read_table
from . import style
from .panels import PRETRAIN_KEYS, at_last, drop_diverged, first_network, lines, log_x, no_data, points_and_mean


def describe(spec: dict) -> str:
    """Short description of a noise set: 'gaussian σ=1, fixed 10k', 'uniform, fresh'."""
    dist = spec.get("distribution", "?")
    mean, std = float(spec.get("mean", 0.0)), float(spec.get("std", 1.0))
    moments = (f" μ={mean:g}" if mean else "") + (f" σ={std:g}" if dist == "gaussian" or std != 1 else "")
    if spec.get("protocol") == "fresh":
        return f"{dist}{moments}, fresh"
    n = int(spec.get("n_samples", 0))
    size = f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)
    return f"{dist}{moments}, fixed {size}"


def standard_sizes(noise_sets: dict) -> tuple[dict, list]:
    """{set: n_samples} of the fixed gaussian(0, 1) sets, and the fresh gaussian(0, 1) sets."""
    std = {n: s for n, s in noise_sets.items() if s.get("distribution") == "gaussian"}
    std = {n: s for n, s in std.items() if float(s.get("mean", 0)) == 0 and float(s.get("std", 1)) == 1}
    fixed = {n: int(s.get("n_samples", 0)) for n, s in std.items() if s.get("protocol") == "fixed"}
    return fixed, [n for n, s in std.items() if s.get("protocol") == "fresh"]


# ------------------------------------------------------------------ panels


def _loss(ax, d: pd.DataFrame, classes: int, used: str) -> None:
    ax.set_title(f"a) noise training loss ({used})")
    if d.empty:
        return no_data(ax)
    lines(ax, d, "step", color="C3", marker="o", ms=3)
    if classes:
        ax.axhline(math.log(classes), ls="--", c="grey", lw=0.8, label=f"chance ln {classes}")
        ax.legend(fontsize=7)
    ax.set(xlabel="noise step", ylabel="cross-entropy (training batches)")


def _neurons(ax, d: pd.DataFrame, used: str) -> None:
    ax.set_title(f"b) last-layer neurons ({used})")
    d = first_network(d)
    if d.empty:
        return no_data(ax)
    last = d.step.max()
    d = d[d.step.isin([0, last])].assign(when=lambda x: x.step.map({0: "untrained", last: "noise-trained"}))
    n = d.groupby("when").size()
    d["when"] = d.when.map(lambda w: f"{w} (n={n[w]})")
    sns.histplot(data=d, x="value", hue="when", kde=True, stat="density", common_norm=False, element="step", ax=ax)
    ax.axvline(90, ls="--", c="grey", lw=0.8)
    ax.set(xlabel="last-layer angle per neuron (deg)", title=f"b) last-layer neurons ({used}), network seed {int(d.seed.min())}")
    if ax.get_legend():
        ax.get_legend().set_title(None)


def _sets(ax, final: pd.DataFrame, labels: dict) -> None:
    if final.empty:
        return no_data(ax)
    order = [labels[n] for n in labels if n in set(final.noise)]
    points_and_mean(ax, final.assign(set=final.noise.map(labels)), "set", order, color="C3")
    ax.axhline(90, ls="--", c="grey", lw=0.8, label="untrained (90°)")
    ax.legend(fontsize=7, loc="lower right")
    ax.set(xlabel="", ylabel="final last-layer angle (deg)", ylim=(0, 100), title="c) every noise set, per network")
    ax.tick_params(axis="x", labelsize=7)
    if len(order) > 4:  # long two-line labels: slant them
        plt.setp(ax.get_xticklabels(), rotation=25, ha="right", rotation_mode="anchor")


def _sizes(ax, final: pd.DataFrame, noise_sets: dict) -> None:
    fixed, fresh = standard_sizes(noise_sets)
    d = final[final.noise.isin(list(fixed))].assign(n_samples=lambda x: x.noise.map(fixed))
    if not d.empty:
        lines(ax, d, "n_samples", marker="o", color="C3")
        log_x(ax, d.n_samples.unique())
    for name in fresh:
        f = final[final.noise == name]
        if not f.empty:
            ax.axhline(f.value.mean(), ls="--", c="C0", lw=1, label="fresh every batch")
    if d.empty or d.n_samples.nunique() < 2:
        ax.text(0.5, 0.5, "no fixed sets of several sizes", ha="center", transform=ax.transAxes, color="grey")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    ax.set(xlabel="fixed gaussian(0, 1) noise samples", ylabel="final last-layer angle (deg)", ylim=(0, 100))
    ax.set_title("d) angle vs noise-set size")


def _trajectories(ax, d: pd.DataFrame, labels: dict) -> None:
    if d.empty:
        return no_data(ax)
    d = d.assign(set=d.noise.map(labels))
    order = [labels[n] for n in labels if n in set(d.noise)]
    lines(ax, d, "step", hue="set", hue_order=order)
    ax.axhline(90, ls="--", c="grey", lw=0.8)
    ax.set(xlabel="noise step", ylabel="last-layer angle (deg)", ylim=(0, 100), title="e) angle over noise training")
    if ax.get_legend():
        ax.legend(fontsize=6, title=None, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)


def plot(pretrain: pd.DataFrame, details: pd.DataFrame, context: dict, title: str = ""):
    """pretrain: the pretraining metrics table; details: the detail table; context: figure1_context()."""
    style.setup()
    used, depth, shape = context.get("noise", ""), int(context.get("depth", 2)), context.get("shape", "")
    noise_sets = context.get("noise_sets") or {n: {} for n in sorted(pretrain.noise.unique())}
    labels = {n: f"{n}{' (used)' if n == used else ''}\n{describe(s)}" for n, s in noise_sets.items()}
    pre, title = drop_diverged(pretrain, title, keys=PRETRAIN_KEYS)
    details, _ = drop_diverged(details, title, flags=pretrain, keys=PRETRAIN_KEYS)
    pre = pre[(pre.dataset == shape) & (pre.depth == depth) & (pre.phase == "noise")]
    angle = pre[(pre.metric == "angle_deg") & (pre.layer == str(depth)) & pre.noise.isin(list(noise_sets))]
    final = at_last(angle, ["noise", "seed"])
    neurons = details[
        (details.dataset == shape)
        & (details.depth == depth)
        & (details.phase == "noise")
        & (details.noise == used)
        & (details.metric == "neuron_angle_deg")
        & (details.layer == str(depth))
    ]

    fig, ax = plt.subplot_mosaic([["a", "a", "b", "b", "c", "c", "c"], ["d", "d", "d", "e", "e", "e", "e"]], figsize=(15, 7.5))
    _loss(ax["a"], pre[(pre.metric == "batch_loss") & (pre.noise == used)], int(context.get("classes", 0)), used)
    _neurons(ax["b"], neurons, used)
    _sets(ax["c"], final, labels)
    _sizes(ax["d"], final, noise_sets)
    _trajectories(ax["e"], angle, labels)
    return style.done(fig, title)


def main(argv=None):
    a = style.cli(__doc__, argv)
    style.save(plot(read_table(a.pretrain), read_table(a.details), a.context, a.title), a.out)


if __name__ == "__main__":
    main()
