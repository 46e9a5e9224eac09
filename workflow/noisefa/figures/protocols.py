"""The protocol study: claim by claim, the sign and significance of every primary test under every
noise protocol and BatchNorm setting (columns), so a reader sees which claims are robust and which
depend on the protocol. The primary protocol's columns are marked."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch

from ..analysis.protocols import CLAIMS, protocol_column
from ..analysis.stats import significant
from . import style

# outcome of one test under one protocol, in the order of the colour map
OUTCOMES = ["holds", "claimed direction, not significant", "opposite direction or not equivalent, not significant",
            "opposite direction, significant", "not computed"]  # fmt: skip
COLOURS = ["#1a9641", "#a6d96a", "#fdae61", "#d7191c", "#f0f0f0"]
SIGN = {"less": -1, "greater": 1, "one_sided": 1}


def outcome(row, alpha: float) -> int:
    """Index into OUTCOMES of a claims row (its rule gives the claimed direction)."""
    if pd.isna(row.p_value) and pd.isna(row.effect):
        return 4
    if bool(row.holds):
        return 0
    sign = SIGN.get(row.rule)
    if sign is None or pd.isna(row.effect):  # equivalence / no-difference rows: they hold or they do not
        return 2
    right = np.sign(row.effect) == sign
    if right:
        return 1
    return 3 if significant(row.p_holm, alpha) else 2


def grid(table: pd.DataFrame, alpha: float) -> tuple[np.ndarray, list[str], list[str]]:
    """(tests x protocols) outcome codes, the test labels and the protocol columns."""
    t = table[table.primary.astype(bool)].copy()
    t["column"] = [protocol_column(r.noise_set, r.protocol, r.batchnorm) for r in t.itertuples()]
    t["test_label"] = [f"{r.claim}: {r.comparison} [{r.dataset} d{r.depth}]" for r in t.itertuples()]
    t["code"] = [outcome(r, alpha) for r in t.itertuples()]
    t["order"] = t.claim.map({c: i for i, c in enumerate(CLAIMS)})
    labels = list(dict.fromkeys(t.sort_values(["order", "test_label"]).test_label))
    columns = list(dict.fromkeys(t.sort_values(["batchnorm", "protocol"], ascending=[False, True]).column))
    codes = t.pivot_table(index="test_label", columns="column", values="code", aggfunc="first")
    codes = codes.reindex(index=labels, columns=columns).fillna(4).astype(int)
    return codes.to_numpy(), labels, columns


def plot(table: pd.DataFrame, context: dict, title: str = ""):
    style.setup()
    alpha = float(context.get("alpha", 0.001))
    if table.empty:
        fig, ax = plt.subplots(figsize=(6, 2))
        ax.text(0.5, 0.5, "no data", ha="center", va="center")
        ax.axis("off")
        return fig
    codes, labels, columns = grid(table, alpha)
    fig, ax = plt.subplots(figsize=(2.2 + 1.1 * len(columns), 1.2 + 0.22 * len(labels)))
    ax.imshow(codes, cmap=ListedColormap(COLOURS), vmin=0, vmax=len(COLOURS) - 1, aspect="auto")
    ax.set_xticks(range(len(columns)), columns, rotation=35, ha="right", fontsize=7)
    ax.set_yticks(range(len(labels)), [textwrap_label(s) for s in labels], fontsize=6)
    ax.grid(False)
    primary = context.get("primary_column")
    for j, c in enumerate(columns):
        if c == primary:
            ax.add_patch(plt.Rectangle((j - 0.5, -0.5), 1, len(labels), fill=False, lw=2, ec="k"))
            ax.get_xticklabels()[j].set_fontweight("bold")
    claims = [s.split(":")[0] for s in labels]
    for i in range(1, len(claims)):
        if claims[i] != claims[i - 1]:
            ax.axhline(i - 0.5, c="k", lw=0.6)
    ax.set_xlabel("noise protocol, BatchNorm (the primary protocol boxed)")
    fig.legend(handles=[Patch(color=c, label=o) for c, o in zip(COLOURS, OUTCOMES)], loc="upper center",
               bbox_to_anchor=(0.5, 0.0), ncol=3, frameon=False, fontsize=7)  # fmt: skip
    return style.done(fig, title)


def textwrap_label(s: str, width: int = 70) -> str:
    return s if len(s) <= width else s[: width - 1] + "…"


def main():
    a = style.cli(__doc__)
    table = pd.read_csv(a.protocols)
    style.save(plot(table, a.context, a.title), a.out)


if __name__ == "__main__":
    main()
