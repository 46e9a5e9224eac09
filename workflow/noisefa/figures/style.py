"""Shared look of every figure: condition order, colours, labels, saving."""

from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import seaborn as sns  # noqa: E402

from ..analysis.stats import mean_ci  # noqa: E402
from ..analysis.summary import exclude_diverged, excluded_note  # noqa: E402
from ..analysis.tidy import read_table  # noqa: E402
from ..files import atomic_write  # noqa: E402
from ..pipeline.conditions import CONDITIONS  # noqa: E402

PALETTE = {name: c.color for name, c in CONDITIONS.items()}  # one colour per condition, set in conditions.py


def setup():
    sns.set_theme(context="paper", style="whitegrid")


def label(condition: str) -> str:
    return CONDITIONS[condition].label if condition in CONDITIONS else condition


def order(conditions) -> list[str]:
    known = [c for c in CONDITIONS if c in set(conditions)]
    return known + sorted(set(conditions) - set(known))


def usable(df, title: str):
    """Rows of networks that never diverged, and the title saying how many were left out."""
    df, n = exclude_diverged(df)
    return df, excluded_note(title, n)


def ci95(values) -> tuple[float, float]:
    """95% t-interval of the mean over networks, for seaborn's ``errorbar`` (its bootstrap costs ~15 ms
    per point); a single network: the point itself."""
    m, lo, hi = mean_ci(values)
    return (m, m) if not np.isfinite(lo) else (lo, hi)


def condition_lines(ax, data, x: str, conditions, legend: bool) -> None:
    """Mean and 95% CI over networks of ``value`` against ``x``, one line per condition."""
    sns.lineplot(
        data=data,
        x=x,
        y="value",
        hue="condition",
        hue_order=conditions,
        palette=PALETTE,
        errorbar=ci95,
        ax=ax,
        legend=legend,
    )


def finish(fig, title: str, conditions=()) -> None:
    """Title, tight layout, and one legend of the conditions below the panels (it covers nothing
    there; saved with bbox_inches="tight")."""
    suptitle(fig, title)
    fig.tight_layout()
    handles = [plt.Line2D([], [], color=PALETTE.get(c, "k"), lw=2, label=label(c)) for c in conditions]
    if handles:
        fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=len(handles), frameon=False)


def suptitle(fig, title: str) -> None:
    """A title wrapped to the figure's width (data descriptions can be long)."""
    if title:
        fig.suptitle(textwrap.fill(title, width=max(40, int(fig.get_figwidth() * 14))), fontsize=9)


def done(fig, title: str):
    """The figure with its title, laid out: the last line of every ``plot``."""
    suptitle(fig, title)
    fig.tight_layout()
    return fig


def main_sweep(df, context: dict):
    """The rows of the main sweep's experiment only (``context["experiment"]``): figures 2 and 4 show the others."""
    return df[df.experiment == context["experiment"]] if context.get("experiment") else df


def main_sweep_figure(plot, description: str, argv=None) -> None:
    """The command line of a figure of the main sweep's metrics: ``plot(metrics, title, context)``."""
    a = cli(description, argv)
    save(plot(main_sweep(read_table(a.metrics), a.context), a.title, a.context), a.out)


def save(fig, out: Path) -> None:
    atomic_write(out, lambda tmp: fig.savefig(tmp, dpi=130, bbox_inches="tight", format="png"))
    plt.close(fig)


def cli(description: str, argv=None) -> argparse.Namespace:
    """Every figure takes the tidy tables it needs, a JSON context (config values) and an output."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--metrics", type=Path, help="results/tables/metrics.parquet")
    p.add_argument("--summary", type=Path, help="results/tables/summary.csv")
    p.add_argument("--pretrain", type=Path, help="results/tables/pretrain.parquet")
    p.add_argument("--details", type=Path, help="results/tables/details.parquet")
    p.add_argument("--ood", type=Path, help="results/tables/ood.parquet")
    p.add_argument("--meta", type=Path, help="results/tables/meta.parquet")
    p.add_argument("--protocols", type=Path, help="results/tables/protocols.csv")
    p.add_argument("--mechanism", type=Path, help="results/tables/mechanism.csv")
    p.add_argument("--dose", type=Path, help="results/tables/dose_response.csv")
    p.add_argument("--trajectories", type=json.loads, default={}, help="JSON {label: trajectory.pt path}")
    p.add_argument("--context", type=json.loads, default={}, help="JSON of the config values the figure shows")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--title", default="")
    return p.parse_args(argv)
