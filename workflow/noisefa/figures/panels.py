"""Panel helpers shared by the figures: a "no data" axis, mean +- 95% t-interval lines, bars with
every network as a point, log axes of set sizes, diverged networks of pretraining left out."""

from __future__ import annotations

import pandas as pd
import seaborn as sns
from matplotlib.ticker import NullFormatter

from ..analysis.stats import mean_ci
from ..analysis.summary import exclude_diverged, excluded_note
from ..analysis.tidy import NETWORK_KEYS, PRETRAIN_KEYS, at_step, first_network  # noqa: F401 (figures import them here)
from . import style
from .style import ci95


def no_data(ax, text: str = "no data") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")
    ax.set_xticks([])
    ax.set_yticks([])


def at_last(d: pd.DataFrame, keys) -> pd.DataFrame:
    """Rows at each group's last logged step."""
    return at_step(d, "last", keys)


def lines(ax, data: pd.DataFrame, x: str, hue=None, **kw) -> None:
    """Mean and 95% CI over networks of ``value`` against ``x`` (conditions coloured as everywhere)."""
    if hue == "condition":
        kw = {"hue_order": style.order(data.condition.unique()), "palette": style.PALETTE, "legend": False, **kw}
    sns.lineplot(data=data, x=x, y="value", hue=hue, errorbar=ci95, ax=ax, **kw)


def log_x(ax, values) -> None:
    """Log x axis ticked at exactly ``values`` (set sizes), without minor labels."""
    values = sorted({int(v) for v in values})
    ax.set_xscale("log")
    ax.set_xticks(values, [f"{v:,}" for v in values])
    ax.xaxis.set_minor_formatter(NullFormatter())


def drop_diverged(df: pd.DataFrame, title: str, flags: pd.DataFrame | None = None, keys=NETWORK_KEYS):
    """``summary.exclude_diverged`` (a summary, or a tidy table by its own or ``flags``' rows), and the
    title saying how many networks were left out."""
    kept, n = exclude_diverged(df, flags, keys)
    return kept, excluded_note(title, n)


def points_and_mean(ax, data: pd.DataFrame, x: str, order, hue=None, hue_order=None, palette=None, color="C0") -> None:
    """Mean as a bar, every network as a point (``value`` against ``x``; ``hue`` may be ``x``)."""
    kw = dict(data=data, x=x, y="value", order=order, ax=ax)
    kw.update(hue=hue, hue_order=hue_order or order, palette=palette) if hue else kw.update(color=color)
    sns.barplot(**kw, errorbar=None, alpha=0.35, legend=False)
    dodge = hue is not None and hue != x
    sns.stripplot(**kw, dodge=dodge, size=4, jitter=0.15, legend=False, edgecolor="k", linewidth=0.4)


def ci_table(df: pd.DataFrame, by: list[str], value: str = "value") -> pd.DataFrame:
    """One row per group of ``by``: mean, lo, hi (95% t-interval) and n of ``value``."""
    rows = []
    for key, g in df.groupby(by, sort=True):
        m, lo, hi = mean_ci(g[value])
        rows.append({**dict(zip(by, key if isinstance(key, tuple) else (key,))), "mean": m, "lo": lo, "hi": hi, "n": len(g)})
    return pd.DataFrame(rows, columns=by + ["mean", "lo", "hi", "n"])


def ci_lines(ax, data: pd.DataFrame, x: str, hue: str, order, colors: dict, labels: dict | None = None, **kw) -> None:
    """Mean of ``value`` against ``x`` with a shaded 95% t-interval, one line per ``hue`` level."""
    labels = labels or {}
    for level in order:
        t = ci_table(data[data[hue] == level], [x])
        if t.empty:
            continue
        c = colors.get(level, "k")
        ax.plot(t[x], t["mean"], color=c, label=labels.get(level, str(level)), **{"marker": "o", "ms": 3, **kw})
        ax.fill_between(t[x], t["lo"], t["hi"], color=c, alpha=0.18, lw=0)
