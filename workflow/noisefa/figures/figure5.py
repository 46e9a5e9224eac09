"""Figure 5: out-of-distribution accuracy of networks trained on one dataset. Left: test accuracy
on its test images translated, rotated and scaled, against the magnitude (mean and 95% t-interval
over networks; dotted line: the identity, i.e. the unshifted test set), one row per depth. Right:
accuracy on other datasets of the same input shape, tested whole (USPS in the paper; offline,
scikit-learn's digits stands in for it): mean, 95% t-interval and each network."""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..analysis.tidy import read_table
from ..data.transforms import TRANSFORMS
from . import style
from .panels import ci_lines, ci_table, no_data

STAND_INS = {"digits": "usps"}  # offline stand-in -> the paper's dataset


def external_title(name: str, descriptions: dict) -> str:
    """Panel text for an external test set: its description, and what it stands in for."""
    desc = descriptions.get(name, "")
    text = f"{name}: {desc}" if desc else name
    if name in STAND_INS:
        text += f" (digits stands in for {STAND_INS[name].upper()}, offline)"
    return text


def _transform_panel(ax, d: pd.DataFrame, name: str, magnitudes, conds, chance) -> None:
    tf = TRANSFORMS.get(name)
    ax.set_title(name, fontsize=9)
    ax.set_xlabel(f"{name}: {tf.unit}" if tf else name, fontsize=8)
    if d.empty:
        no_data(ax)
        return
    if tf is not None:
        ax.axvline(tf.identity, ls=":", color="grey", lw=1)
    labels = {c: style.label(c) for c in conds}
    ci_lines(ax, d, "magnitude", "condition", conds, style.PALETTE, labels)
    mags = sorted(set(d.magnitude) | set(magnitudes or []))
    if len(mags) <= 8:
        ax.set_xticks(mags)
        ax.set_xticklabels([f"{m:g}" for m in mags], fontsize=7)
    if chance:
        ax.axhline(chance, ls="--", color="#999999", lw=0.8)
    ax.set_ylim(0, 1.02)


def _external_panel(ax, d: pd.DataFrame, names: list[str], conds, descriptions: dict, chance, describe: bool) -> None:
    titles = [textwrap.fill(external_title(n, descriptions), 38) if describe else n for n in names]
    ax.set_title("\n".join(titles) or "other datasets", fontsize=7)
    if d.empty:
        no_data(ax, "no data" if names else "no external\ndataset configured")
        return
    width = 0.8 / max(1, len(conds))
    rng = np.random.default_rng(0)
    t = ci_table(d, ["test_set", "condition"])
    for i, cond in enumerate(conds):
        color = style.PALETTE.get(cond, "k")
        g = t[t.condition == cond].set_index("test_set").reindex(names)
        x = np.arange(len(names)) + (i - (len(conds) - 1) / 2) * width
        ax.bar(x, g["mean"], width * 0.9, color=color, alpha=0.35, label=style.label(cond))
        err = np.nan_to_num(np.vstack([g["mean"] - g["lo"], g["hi"] - g["mean"]]))
        ax.errorbar(x, g["mean"], yerr=err, fmt="o", color=color, ms=3, capsize=2, lw=1)
        for j, name in enumerate(names):
            pts = d[(d.condition == cond) & (d.test_set == name)].value
            ax.scatter(x[j] + rng.uniform(-width / 5, width / 5, len(pts)), pts, s=6, color=color, alpha=0.6, lw=0)
            m = g["mean"].iloc[j]
            if np.isfinite(m):
                ax.annotate(f"{m:.3f}", (x[j], m), xytext=(0, 3), textcoords="offset points", ha="center", fontsize=6)
    if chance:
        ax.axhline(chance, ls="--", color="#999999", lw=0.8)
    ax.set_xticks(np.arange(len(names)), names, fontsize=8)
    ax.set_ylim(0, 1.02)


def plot(ood: pd.DataFrame, context: dict | None = None, title: str = ""):
    """``ood``: results/tables/ood.parquet (tidy.OOD_COLUMNS); ``context``: experiment, dataset,
    tests {transform: magnitudes, identity first}, external [names], descriptions {name: text}."""
    style.setup()
    context = context or {}
    d = ood
    if not d.empty:
        d, title = style.usable(d, title)
        if context.get("experiment"):
            d = d[d.experiment == context["experiment"]]
        if context.get("dataset"):
            d = d[d.dataset == context["dataset"]]
        d = d[d.metric == "acc"]
        bad = d[~np.isfinite(d.value.astype(float))][["depth", "condition", "seed"]].drop_duplicates()
        if len(bad):
            d = d.merge(bad.assign(_bad=True), on=["depth", "condition", "seed"], how="left")
            d = d[d._bad.isna()].drop(columns="_bad")
            title = f"{title} [{len(bad)} networks with non-finite accuracy excluded]"
    tests = context.get("tests") or {n: [] for n in TRANSFORMS if not d.empty and n in set(d.test_set)}
    transforms = [n for n in TRANSFORMS if n in tests] + [n for n in tests if n not in TRANSFORMS] or list(TRANSFORMS)
    present_ext = sorted(set(d.test_set) - set(TRANSFORMS)) if not d.empty else []
    external = list(context.get("external", [])) + [n for n in present_ext if n not in context.get("external", [])]
    descriptions = context.get("descriptions", {})
    depths = sorted(d.depth.unique()) if not d.empty else [None]
    conds = style.order(d.condition.unique()) if not d.empty else []
    chance = 1.0 / context["classes"] if context.get("classes") else None  # from the rule: no dataset import here
    ncols = len(transforms) + 1
    fig, axes = plt.subplots(
        len(depths), ncols, figsize=(2.9 * ncols, 2.8 * len(depths) + 0.3), squeeze=False,
        gridspec_kw={"width_ratios": [1] * len(transforms) + [max(0.8, 0.5 * len(external) + 0.4)]},
    )  # fmt: skip
    for r, depth in enumerate(depths):
        at = d[d.depth == depth] if depth is not None else d
        for c, name in enumerate(transforms):
            ax = axes[r][c]
            part = at[at.test_set == name] if not at.empty else at
            _transform_panel(ax, part, name, tests.get(name), conds, chance)
            if c == 0:
                ax.set_ylabel("test accuracy" if depth is None else f"depth {depth}: test accuracy", fontsize=8)
        ax = axes[r][-1]
        part = at[at.test_set.isin(external)] if not at.empty else at
        _external_panel(ax, part, external, conds, descriptions, chance, describe=(r == 0))
        ax.set_ylabel("accuracy on the whole dataset" if external else "", fontsize=8)
    handles = [plt.Line2D([], [], color=style.PALETTE.get(c, "k"), marker="o", ms=3, label=style.label(c)) for c in conds]
    handles += [
        plt.Line2D([], [], color="grey", ls=":", label="identity magnitude (the test set as is)"),
        plt.Line2D([], [], color="#999999", ls="--", label=f"chance ({chance:.2g})" if chance else "chance"),
    ]
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, 0.0), ncol=len(handles), fontsize=7, frameon=False)
    n = d.groupby("condition").seed.nunique() if not d.empty else pd.Series(dtype=int)
    counts = ", ".join(f"{style.label(c)} {int(n.get(c, 0))}" for c in conds) or "none"
    note = (
        f"Lines: mean, shaded 95% t-interval over networks (networks per condition: {counts}); "
        "bars: mean, whiskers 95% t-interval, points: networks."
    )
    fig.text(0.01, -0.07, note, fontsize=6.5, va="top", ha="left", color="#444444")
    return style.done(fig, title)


def main(argv=None):
    a = style.cli(__doc__, argv)
    style.save(plot(read_table(a.ood), a.context, a.title), a.out)


if __name__ == "__main__":
    main()
