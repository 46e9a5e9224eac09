"""Figure 4: what noise training does besides alignment. (a, b) softmax readout on noise probes,
untrained vs noise-trained, against chance (per probe and per readout unit); (c) singular-value
spectrum of W1 during noise training; (d) effective rank of each W over noise steps; (e, f)
generalisation gap (test - train loss and train - test accuracy) at one training-set size and vs
size; (g, h) effective dimensionality of the last hidden layer's Gram matrix per dataset and vs depth."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ..analysis.tidy import read_table
from . import style
from .panels import PRETRAIN_KEYS, at_last, drop_diverged, first_network, lines, log_x, no_data, points_and_mean

NET = ["experiment", "dataset", "depth", "condition", "seed"]
GAPS = {"loss_gap": "test − train loss", "error_gap": "train − test accuracy"}


def spectrum_steps(steps, k: int = 4) -> list[int]:
    """About ``k`` logged steps spread over training: the first, the last and evenly between."""
    steps = sorted(set(steps))
    return sorted({steps[i] for i in np.linspace(0, len(steps) - 1, k).round().astype(int)}) if steps else []


def gaps(metrics: pd.DataFrame) -> pd.DataFrame:
    """Generalisation gaps of every data-trained network at its last evaluation (one row per gap)."""
    d = metrics[(metrics.phase == "data") & metrics.metric.isin(["train_loss", "test_loss", "train_acc", "test_acc"])]
    wide = at_last(d, NET).pivot_table(index=NET, columns="metric", values="value").reset_index()
    if wide.empty or not {"train_loss", "test_loss", "train_acc", "test_acc"} <= set(wide.columns):
        return pd.DataFrame(columns=NET + ["gap", "value"])
    wide["loss_gap"] = wide.test_loss - wide.train_loss
    wide["error_gap"] = wide.train_acc - wide.test_acc
    return wide.melt(id_vars=NET, value_vars=list(GAPS), var_name="gap")


def _when(d: pd.DataFrame) -> pd.DataFrame:
    """First network, untrained (step 0) and noise-trained (last step), labelled."""
    d = first_network(d)
    last = d.step.max() if not d.empty else 0
    return d[d.step.isin([0, last])].assign(when=lambda x: np.where(x.step == 0, "untrained", "noise-trained"))


def _legend(ax) -> None:
    """One legend with seaborn's hue entries and the reference lines drawn afterwards."""
    old = ax.get_legend()
    handles = list(old.legend_handles) if old else []
    labels = [t.get_text() for t in old.texts] if old else []
    for h, lab in zip(*ax.get_legend_handles_labels()):
        if lab not in labels:
            handles, labels = handles + [h], labels + [lab]
    if handles:
        ax.legend(handles, labels, fontsize=7)


def _readout(ax_probe, ax_unit, det: pd.DataFrame, classes: int) -> None:
    ax_probe.set_title("a) readout per probe (first network)")
    ax_unit.set_title("b) readout per unit, mean over probes")
    chance = 1 / classes if classes else None
    for ax, metric in ((ax_probe, "readout_max_prob"), (ax_unit, "readout_unit_mean")):
        d = _when(det[det.metric == metric])
        if d.empty:
            no_data(ax)
            continue
        if metric == "readout_max_prob":
            sns.histplot(data=d, x="value", hue="when", hue_order=["untrained", "noise-trained"], element="step", ax=ax)
            ax.set(xlabel="largest softmax probability", ylabel="probes", xlim=(0, 1.02))
        else:
            sns.barplot(data=d, x="index", y="value", hue="when", hue_order=["untrained", "noise-trained"], ax=ax)
            top = max(d.value.max(), 1 / classes if classes else 0)
            ax.set(xlabel="readout unit", ylabel="mean softmax probability", ylim=(0, 1.35 * top))  # room for the legend
        if chance:
            line = ax.axvline if metric == "readout_max_prob" else ax.axhline
            line(chance, ls="--", c="k", lw=0.8, label=f"chance 1/{classes}")
        _legend(ax)


def _spectrum(ax, sv: pd.DataFrame) -> None:
    ax.set_title("c) singular values of W1 (first network)")
    d = first_network(sv)
    d = d[d.step.isin(spectrum_steps(d.step.unique()))] if not d.empty else d
    d = d[np.isfinite(d.value)] if not d.empty else d
    if d.empty:
        return no_data(ax)
    d = d.assign(value=d.value / d.groupby("step").value.transform("max"), noise_step=d.step.astype(str))
    sns.lineplot(data=d, x="index", y="value", hue="noise_step", palette="viridis", ax=ax, errorbar=None)
    ax.set_yscale("log")
    ax.set(xlabel="singular value index", ylabel="σ / σ_max")
    ax.legend(fontsize=7, title="noise step", title_fontsize=7)


def _erank(ax, d: pd.DataFrame) -> None:
    """Relative to each network's untrained W (layers differ in size); the legend gives the start."""
    ax.set_title("d) effective rank of W over noise training")
    if d.empty:
        return no_data(ax)
    d = d.sort_values("step")
    untrained = d.groupby(["layer", "seed"]).value.transform("first")
    start = d.assign(value=untrained).groupby("layer").value.mean()
    d = d.assign(value=d.value / untrained)
    d = d.assign(W=d.layer.map(lambda k: f"W{k} (untrained {start[k]:.1f})"))
    lines(ax, d, "step", hue="W", hue_order=sorted(d.W.unique()))
    ax.set(xlabel="noise step", ylabel="effective rank / untrained")
    ax.legend(fontsize=7, title=None)


def _gap_at(axes, g: pd.DataFrame, size) -> None:
    for ax, (gap, text) in zip(axes, GAPS.items()):
        d = g[g.gap == gap]
        ax.set_title(f"e) {text}, {size} training images" if gap == "loss_gap" else f"{text}, {size} images")
        if d.empty:
            no_data(ax)
            continue
        order = style.order(d.condition.unique())
        points_and_mean(ax, d, "condition", order, hue="condition", palette=style.PALETTE)
        ax.set_xticks(range(len(order)), [style.label(c) for c in order])
        ax.axhline(0, c="k", lw=0.6)
        ax.set(xlabel="", ylabel=f"gap: {text}")


def _gap_vs_size(axes, g: pd.DataFrame) -> None:
    for ax, (gap, text) in zip(axes, GAPS.items()):
        d = g[g.gap == gap]
        ax.set_title("f) gap vs training-set size" if gap == "loss_gap" else "gap vs size")
        if d.empty:
            no_data(ax)
            continue
        lines(ax, d, "size", hue="condition", marker="o")
        log_x(ax, d["size"].unique())
        ax.set(xlabel="training images", ylabel=f"gap: {text}")


def _gram(ax_g, ax_h, gram: pd.DataFrame) -> None:
    ax_g.set_title("g) Gram-matrix erank, last hidden layer")
    ax_h.set_title("h) Gram-matrix erank vs depth")
    if gram.empty:
        return no_data(ax_g), no_data(ax_h)
    conds = style.order(gram.condition.unique())
    depths = sorted(gram.depth.unique())
    depth = max([k for k in depths if k <= 3] or depths)
    d = gram[gram.depth == depth]
    points_and_mean(ax_g, d, "dataset", sorted(d.dataset.unique()), hue="condition", hue_order=conds, palette=style.PALETTE)
    ax_g.set(xlabel="", ylabel=f"effective dimensionality (depth {depth})")
    lines(ax_h, gram, "depth", hue="condition", style="dataset", markers=True, legend=gram.dataset.nunique() > 1)
    ax_h.set_xticks(depths)
    ax_h.set(xlabel="depth (Linear layers)", ylabel="effective dimensionality")


def plot(metrics: pd.DataFrame, pretrain: pd.DataFrame, details: pd.DataFrame, context: dict, title: str = ""):
    """metrics/pretrain/details: the tidy tables; context: figure4_context()."""
    style.setup()
    df, title = style.usable(metrics, title)
    used, shape, depth = context.get("noise", ""), context.get("shape", ""), int(context.get("depth", 2))
    pre, title = drop_diverged(pretrain, title, keys=PRETRAIN_KEYS)
    details, _ = drop_diverged(details, title, flags=pretrain, keys=PRETRAIN_KEYS)
    job = lambda d: d[(d.dataset == shape) & (d.depth == depth) & (d.noise == used) & (d.phase == "noise")]  # noqa: E731
    det, pre = job(details), job(pre)

    gen = context.get("generalisation") or {}
    sizes = gen.get("experiments") or {}  # {experiment: training-set size}
    sized = df[df.experiment.isin(list(sizes))]
    sized = sized[sized.dataset == gen["dataset"]] if gen.get("dataset") else sized
    if not sized.empty:  # one depth: the paper's 3, or the largest below it
        ks = sorted(sized.depth.unique())
        sized = sized[sized.depth == max([k for k in ks if k <= 3] or ks)]
    g = gaps(sized).assign(size=lambda d: d.experiment.map(sizes).astype(int))
    gram = df[(df.experiment == context.get("experiment", "main")) & (df.phase == "data") & (df.metric == "gram_erank")]
    gram = at_last(gram[gram.layer == (gram.depth - 1).astype(str)], NET)

    fig, ax = plt.subplot_mosaic([["a", "b", "c", "d"], ["e1", "e2", "f1", "f2"], ["g", "g", "h", "h"]], figsize=(16, 11.5))
    _readout(ax["a"], ax["b"], det, int(context.get("classes", 0)))
    _spectrum(ax["c"], det[(det.metric == "singular_value") & (det.layer == "1")])
    _erank(ax["d"], pre[pre.metric == "erank"])
    _gap_at([ax["e1"], ax["e2"]], g[g["size"] == gen.get("size")], gen.get("size"))
    _gap_vs_size([ax["f1"], ax["f2"]], g)
    _gram(ax["g"], ax["h"], gram)
    conds = style.order(set(df.condition.unique()) - {""})
    style.finish(fig, title, conds)
    return fig


def main(argv=None):
    a = style.cli(__doc__, argv)
    tables = (read_table(a.metrics), read_table(a.pretrain), read_table(a.details))
    style.save(plot(*tables, a.context, a.title), a.out)


if __name__ == "__main__":
    main()
