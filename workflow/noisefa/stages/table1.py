"""Table 1: converged test accuracy per dataset and condition at one depth, mean +- std over trials.

The trials are the first ``trials`` networks (seeds) of each cell of the main sweep, as the paper
reports 3 trials; the figure (Fig. 3) uses every network. "Converged" follows the convergence rule
(``summary.plateau``); the table counts the networks that hit the epoch cap before plateauing.
Written as CSV (numbers), Markdown and LaTeX (for the report and a paper).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..analysis.summary import exclude_diverged
from ..analysis.tidy import read_summary, write_table
from ..cli import parser, user_errors
from ..files import atomic_write
from ..pipeline.conditions import CONDITIONS

CELL = ["dataset", "condition"]


def table1(summary: pd.DataFrame, experiment: str, depth: int, trials: int) -> pd.DataFrame:
    """One row per cell: the first ``trials`` seeds, chosen before any outcome is seen; those that
    diverged or blew up are left out of the mean and counted (``diverged``, ``blown_up``), so a
    cell whose every network diverged stays in the table, empty, and says why."""
    cell = summary[(summary.experiment == experiment) & (summary.depth == depth)]
    cell = cell[cell.seed.isin(sorted(cell.seed.unique())[:trials])]
    if cell.empty:
        return pd.DataFrame(columns=[*CELL, "depth", "mean", "std", "n", "not_converged", "epoch", "diverged", "blown_up"])
    kept, _ = exclude_diverged(cell)
    stats = kept.groupby(CELL).agg(
        mean=("converged_test_acc", "mean"),
        std=("converged_test_acc", "std"),
        n=("converged_test_acc", "size"),
        not_converged=("converged", lambda c: int((~c).sum())),
        epoch=("convergence_epoch", "mean"),
    )
    blew = cell.blown_up.astype(bool) & ~cell.diverged.astype(bool) if "blown_up" in cell else False
    left = cell.assign(diverged=cell.diverged.astype(int), blown_up=pd.Series(blew, index=cell.index).astype(int))
    left = left.groupby(CELL)[["diverged", "blown_up"]].sum()
    out = left.join(stats, how="left").reset_index()
    out[["n", "not_converged"]] = out[["n", "not_converged"]].fillna(0).astype(int)
    out.insert(2, "depth", depth)
    return out[[*CELL, "depth", "mean", "std", "n", "not_converged", "epoch", "diverged", "blown_up"]]


def networks(t: pd.DataFrame, trials: int) -> str:
    """How many networks the cells hold, as the caption says it: the counted ones, never the
    setting alone (``table1.trials`` above ``n_seeds`` gives cells of fewer)."""
    if t.empty:
        return f"{trials} networks (no cell has any)"
    lo, hi = int(t.n.min()), int(t.n.max())
    n = f"{lo} networks" if lo == hi else f"{lo}–{hi} networks (cells differ)"
    n = n if hi == trials and lo == trials else f"{n}; table1.trials is {trials}"
    div, blew = int(t.diverged.sum()), int(t.blown_up.sum())
    if div or blew:
        n += f"; left out: {div} network(s) that diverged, {blew} that blew up (counted per cell)"
    return n


def _cell(r) -> str:
    notes = [f"{r.not_converged} at cap"] if r.not_converged else []
    notes += [f"{r.diverged} diverged"] if r.diverged else []
    notes += [f"{r.blown_up} blew up"] if r.blown_up else []
    flag = f" ({', '.join(notes)})" if notes else ""
    if r.n == 0:
        return f"—{flag}"
    return f"{100 * r['mean']:.2f} ± {100 * r['std']:.2f}{flag}"


def wide(t: pd.DataFrame) -> pd.DataFrame:
    """Datasets as rows, conditions as columns, cells 'mean ± std' in percent."""
    t = t.assign(cell=t.apply(_cell, axis=1))
    w = t.pivot(index="dataset", columns="condition", values="cell")
    cols = [c for c in CONDITIONS if c in w.columns] + [c for c in w.columns if c not in CONDITIONS]
    return w[cols].rename(columns=lambda c: CONDITIONS[c].label if c in CONDITIONS else c)


def markdown(w: pd.DataFrame) -> str:
    head = "| dataset | " + " | ".join(w.columns) + " |\n|---|" + "---|" * len(w.columns) + "\n"
    return head + "".join(f"| {d} | " + " | ".join(str(v) for v in row) + " |\n" for d, row in w.iterrows())


def latex(w: pd.DataFrame) -> str:
    def esc(x: str) -> str:
        return str(x).replace("_", r"\_").replace("±", r"$\pm$")

    header = "dataset & " + " & ".join(map(esc, w.columns)) + r" \\"
    lines = [r"\begin{tabular}{l" + "c" * len(w.columns) + "}", r"\hline", header]
    lines += [r"\hline"] + [esc(d) + " & " + " & ".join(esc(v) for v in row) + r" \\" for d, row in w.iterrows()]
    return "\n".join(lines + [r"\hline", r"\end{tabular}", ""])


def main(argv=None):
    a = parser(__doc__, files="summary csv md tex").parse_args(argv)
    with user_errors():
        t = table1(read_summary(a.summary), a.spec["experiment"], a.spec["depth"], a.spec["trials"])
        write_table(t, a.csv)
        w = wide(t) if not t.empty else pd.DataFrame()
        caption = f"Converged test accuracy (%), depth {a.spec['depth']}, mean ± std over {networks(t, a.spec['trials'])}\n\n"
        atomic_write(a.md, lambda tmp: Path(tmp).write_text(caption + (markdown(w) if not t.empty else "no data\n")))
        atomic_write(a.tex, lambda tmp: Path(tmp).write_text(latex(w) if not t.empty else "% no data\n"))
    print(w.to_string() if not t.empty else "no data")


if __name__ == "__main__":
    main()
