"""Figure 6: noise training as meta-learning. (a) meta-loss, the sum over tasks of the loss after
k SGD steps of adaptation, at snapshots taken during noise training (mean and 95% t-interval over
networks; dashed: the same sum before adaptation); (b) each task's loss after adaptation against
the noise step; (c) adaptation curves per task from the untrained snapshot (where FA w/o starts)
and from the noise-trained one (where FA w/ starts); (d) PCA of the last layer's W of the first
network during those adaptations, with B (star); (e) cross-entropy of the noise training batches."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from ..analysis.tidy import noise_snapshots, read_table
from ..files import load_torch
from . import style
from .panels import ci_lines, no_data
from .trajectories import pca_project

PHASES = {  # trajectory phase -> (legend text, colour)
    "untrained": ("untrained (FA w/o start)", style.PALETTE["fa_wo"]),
    "trained": ("noise-trained (FA w/ start)", style.PALETTE["fa_w"]),
}
TASK_COLOURS = ["#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]


def first_network(trajectory: dict | None) -> tuple[dict, torch.Tensor | None, int | None]:
    """From the meta stage's trajectory file: {"untrained/<task>": (k+1, out, in), ...} of the first
    network (lowest seed), its last-layer B and its seed; empty when there is no file."""
    if not trajectory or not len(trajectory.get("seeds", [])):
        return {}, None, None
    i = min(range(len(trajectory["seeds"])), key=lambda j: trajectory["seeds"][j])
    trajs = {name: w[:, i].double() for name, w in trajectory["W"].items()}
    return trajs, trajectory["B"][i].double(), int(trajectory["seeds"][i])


def _meta_panel(ax, d: pd.DataFrame, k: int) -> None:
    ax.set_title(f"(a) meta-loss after {k} adaptation steps", fontsize=8)
    after = d[(d.task == "meta") & (d.adapt_step == k)]
    if after.empty:
        no_data(ax)
        return
    ci_lines(ax, after.assign(which="after"), "step", "which", ["after"], {"after": "k"}, {"after": f"after {k} steps"})
    tasks = d[~d.task.isin(["meta", "noise"])]
    before = tasks[tasks.adapt_step == 0].groupby(["seed", "step"]).value.sum().reset_index()
    if len(before) and len(set(tasks.task)):
        ci_lines(ax, before.assign(which="b"), "step", "which", ["b"], {"b": "grey"}, {"b": "before adaptation"}, ls="--")
    ax.set_xlabel("noise step of the snapshot", fontsize=8)
    ax.set_ylabel("sum over tasks of the loss", fontsize=8)
    ax.legend(fontsize=6)


def _tasks_panel(ax, d: pd.DataFrame, tasks: list[str], k: int, colours: dict) -> None:
    ax.set_title(f"(b) each task's loss after {k} steps", fontsize=8)
    part = d[d.task.isin(tasks) & (d.adapt_step == k)]
    if part.empty:
        no_data(ax)
        return
    ci_lines(ax, part, "step", "task", tasks, colours)
    ax.set_xlabel("noise step of the snapshot", fontsize=8)
    ax.set_ylabel("test loss after adaptation", fontsize=8)
    ax.legend(fontsize=6)


def _noise_panel(ax, d: pd.DataFrame, classes: int | None) -> None:
    ax.set_title("(e) noise training cross-entropy", fontsize=8)
    part = d[(d.task == "noise") & (d.metric == "batch_loss")]
    if part.empty:
        no_data(ax)
        return
    ci_lines(ax, part.assign(which="n"), "step", "which", ["n"], {"n": "#ff7f0e"}, {"n": "training batches"})
    if classes:
        ax.axhline(math.log(classes), ls="--", color="grey", lw=0.8, label=f"ln {classes} (chance)")
    ax.set_xlabel("noise step", fontsize=8)
    ax.set_ylabel("batch cross-entropy", fontsize=8)
    ax.legend(fontsize=6)


def _adaptation_panel(ax, d: pd.DataFrame, task: str, first: int, last: int) -> None:
    ax.set_title(f"(c) adapting to {task}", fontsize=8)
    part = d[(d.task == task) & d.step.isin([first, last])]
    if part.empty or first == last:
        no_data(ax, "no data" if part.empty else "one snapshot only")
        return
    part = part.assign(phase=np.where(part.step == first, "untrained", "trained"))
    labels = {p: f"{text}, noise step {first if p == 'untrained' else last}" for p, (text, _) in PHASES.items()}
    ci_lines(ax, part, "adapt_step", "phase", list(PHASES), {p: c for p, (_, c) in PHASES.items()}, labels)
    ax.set_xlabel("adaptation step (plain SGD)", fontsize=8)
    ax.set_ylabel("test loss", fontsize=8)
    ax.legend(fontsize=6)


def _pca_panel(ax, trajectories: dict, B, task: str, seed) -> None:
    """Both adaptations and B on the first two PCs of all their points; below them, each
    adaptation zoomed (the steps are small next to the distance between the two starts)."""
    ax.set_title(f"(d) last-layer W adapting to {task}, network {seed}", fontsize=8)
    mine = {p: trajectories[f"{p}/{task}"] for p in PHASES if f"{p}/{task}" in trajectories}
    diverged = [p for p, w in mine.items() if not bool(torch.isfinite(w).all())]
    mine = {p: w for p, w in mine.items() if p not in diverged}  # no PCA of non-finite points
    if diverged:
        ax.text(0.02, 0.02, f"left out (diverged): {', '.join(diverged)}", transform=ax.transAxes, fontsize=6, color="C3")
    if not mine or B is None:
        no_data(ax)
        return
    proj, b, ratio = pca_project(mine, B)
    for p, xy in proj.items():
        text, colour = PHASES[p]
        dist = [float((w - B).norm()) for w in (mine[p][0], mine[p][-1])]
        xy = xy.numpy()
        label = f"{text}: ||W-B|| {dist[0]:.3g} → {dist[1]:.3g}"
        ax.plot(xy[:, 0], xy[:, 1], "-", color=colour, lw=1, marker=".", ms=3, label=label)
        ax.scatter(*xy[0], s=25, facecolor="white", edgecolor=colour, zorder=3)
        ax.scatter(*xy[-1], s=25, color=colour, zorder=3)
    ax.scatter(*b.numpy(), marker="*", s=90, color="k", zorder=4, label="B (feedback, fixed)")
    ax.set_xlabel(f"PC1 ({100 * float(ratio[0]):.0f}% var.)", fontsize=8)
    ax.set_ylabel(f"PC2 ({100 * float(ratio[1]):.0f}% var.)", fontsize=8)
    ax.tick_params(labelsize=7)
    # room below the overview for one zoomed inset per adaptation
    lo, hi = ax.get_ylim()
    ticks = [t for t in ax.get_yticks() if lo <= t <= hi]
    ax.set_ylim(lo - 0.9 * (hi - lo), hi + 0.35 * (hi - lo))
    ax.set_yticks(ticks)
    ax.legend(fontsize=5.5, loc="upper left")
    for i, (p, xy) in enumerate(proj.items()):
        colour = PHASES[p][1]
        inset = ax.inset_axes([0.04 + 0.49 * i, 0.05, 0.43, 0.3])
        xy = xy.numpy()
        inset.plot(xy[:, 0], xy[:, 1], "-", color=colour, lw=1, marker=".", ms=3)
        inset.scatter(*xy[0], s=18, facecolor="white", edgecolor=colour, zorder=3)
        inset.scatter(*xy[-1], s=18, color=colour, zorder=3)
        inset.set_xticks([])
        inset.set_yticks([])
        inset.margins(0.25)
        inset.set_title(f"zoom: {p} (open: start)", fontsize=5.5, pad=1.5)
        for side in inset.spines.values():
            side.set_edgecolor(colour)


def plot(meta: pd.DataFrame, trajectory: dict | None = None, context: dict | None = None, title: str = ""):
    """``meta``: results/tables/meta.parquet (tidy.META_COLUMNS); ``trajectory``: the meta stage's
    trajectory file as loaded by torch.load (``seeds``, ``B``, ``W``) or None; ``context``: noise,
    meta {tasks, steps, depth, ...}, pretrain_steps."""
    style.setup()
    context = context or {}
    cfg = context.get("meta", {})
    d = noise_snapshots(meta)
    if not d.empty:
        if context.get("noise") and "noise" in d:
            d = d[d.noise == context["noise"]]
        if cfg.get("depth") is not None:
            d = d[d.depth == int(cfg["depth"])]
        bad = d[~np.isfinite(d.value.astype(float))].seed.unique()
        if len(bad):
            d = d[~d.seed.isin(bad)]
            title = f"{title} [{len(bad)} networks with non-finite losses excluded]"
    loss = d[d.metric == "loss"] if not d.empty else d
    present = sorted(set(loss.task) - {"meta", "noise"}) if not loss.empty else []
    wanted = list(cfg.get("tasks", []))
    tasks = wanted + [t for t in present if t not in wanted] or ["(none)"]
    colours = {t: TASK_COLOURS[i % len(TASK_COLOURS)] for i, t in enumerate(tasks)}
    k = int(cfg["steps"]) if "steps" in cfg else (int(loss[loss.task == "meta"].adapt_step.max()) if not loss.empty else 0)
    first = int(loss.step.min()) if not loss.empty else 0
    last = int(loss.step.max()) if not loss.empty else 0
    trajs, B, seed = first_network(trajectory)

    # row 1: (a), (b), (e); then (c) and (d) of each task: side by side in one row when they fit
    ncols = max(3, len(tasks))
    paired = 2 * len(tasks) <= ncols
    rows = 2 if paired else 3
    fig = plt.figure(figsize=(3.4 * ncols, 3.3 * rows))
    grid = fig.add_gridspec(rows, ncols)
    top = [fig.add_subplot(grid[0, j]) for j in range(3)]
    _meta_panel(top[0], loss, k)
    _tasks_panel(top[1], loss, [t for t in tasks if t in present], k, colours)
    _noise_panel(top[2], d, int(context.get("classes", 0)) or None)
    for j, task in enumerate(tasks):
        c_at, d_at = (grid[1, 2 * j], grid[1, 2 * j + 1]) if paired else (grid[1, j], grid[2, j])
        _adaptation_panel(fig.add_subplot(c_at), loss, task, first, last)
        _pca_panel(fig.add_subplot(d_at), trajs, B, task, seed)
    n = loss.seed.nunique() if not loss.empty else 0
    lr = f", lr {cfg['lr']}" if "lr" in cfg else ""
    note = (
        f"Lines: mean, shaded 95% t-interval over {n} networks; adaptation: {k} plain-SGD steps{lr} on each task's "
        "training subset, loss on its test subset (FA networks adapt with FA)."
    )
    fig.text(0.01, 0.0, note, fontsize=6.5, va="top", ha="left", color="#444444")
    return style.done(fig, title)


def main(argv=None):
    a = style.cli(__doc__, argv)
    path = (a.trajectories or {}).get("meta")
    trajectory = load_torch(path, "meta-loss trajectory", "meta") if path else None
    style.save(plot(read_table(a.meta), trajectory, a.context, a.title), a.out)


if __name__ == "__main__":
    main()
