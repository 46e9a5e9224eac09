"""What the figures draw is the data of the tables: each test reads the plotted values back from the
matplotlib artists and compares them with the same numbers computed from the table, so a figure
that drew the wrong rows (another experiment, a diverged network, the wrong layer) fails here."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex

from noisefa.analysis.summary import summarise
from noisefa.analysis.tidy import frame, write_table
from noisefa.figures import alignment, figure3, learning_curves, rules, style

CONDS = ["bp", "fa_wo", "fa_w"]
STEPS = [0, 10, 20, 30]
rng = np.random.default_rng(3)


def _cell(experiment, dataset, depth, condition, seeds=range(3), shift=0.0, diverged_seed=None):
    """Data training of one cell: test accuracy and last-layer angle, different per condition and seed."""
    base = {"bp": 0.9, "fa_wo": 0.6, "fa_w": 0.8, "kp": 0.7, "ss": 0.65}[condition] + shift
    rows = []
    for step, seed in itertools.product(STEPS, seeds):
        f = step / STEPS[-1]
        at = {"step": step, "epoch": step / 10, "seed": seed}
        rows += [{**at, "layer": "", "metric": "test_acc", "value": 0.1 + (base - 0.1) * f + rng.normal(0, 0.02)}]
        rows += [{**at, "layer": str(depth), "metric": "angle_deg", "value": 90 - 40 * f * base + rng.normal(0, 2)}]
        rows += [{**at, "layer": str(depth - 1), "metric": "angle_deg", "value": 50.0}]  # another layer: never drawn
        if seed == diverged_seed and step == STEPS[-1]:
            rows += [{**at, "layer": "", "metric": "diverged", "value": 1.0}]
    return frame(rows, experiment=experiment, dataset=dataset, noise="", depth=depth, condition=condition, phase="data")


def _metrics(conds=CONDS, experiment="main"):
    parts = [_cell(experiment, d, k, c) for d, k, c in itertools.product(["toy"], [2, 3], conds)]
    parts.append(_cell(experiment, "toy", 2, "fa_w", seeds=[7], diverged_seed=7, shift=-0.5))  # a diverged network
    parts.append(_cell("other", "toy", 2, "bp", shift=-0.5))  # another experiment
    return pd.concat(parts, ignore_index=True)


def _lines(ax) -> dict[str, list]:
    """{colour: [(x, y), ...]} of the drawn (non-empty) lines of an axis."""
    out: dict[str, list] = {}
    for line in ax.get_lines():
        x, y = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
        if len(x) > 1:
            out.setdefault(to_hex(line.get_color()), []).append((x, y))
    return out


def _captured(monkeypatch):
    figs = []
    monkeypatch.setattr(style, "save", lambda fig, out: figs.append(fig))
    return figs


def _kept(metrics, experiment="main"):
    """The rows a figure of ``experiment`` should draw: its own, diverged networks left out."""
    m = metrics[metrics.experiment == experiment]
    bad = m[m.metric == "diverged"][["dataset", "depth", "condition", "seed"]].drop_duplicates()
    key = m[["dataset", "depth", "condition", "seed"]].apply(tuple, axis=1)
    return m[~key.isin(set(bad.apply(tuple, axis=1)))]


def test_learning_curves_draw_the_mean_test_accuracy_of_each_condition(tmp_path, monkeypatch):
    metrics = _metrics()
    write_table(metrics, tmp_path / "m.parquet")
    figs = _captured(monkeypatch)
    learning_curves.main(["--metrics", str(tmp_path / "m.parquet"), "--context", json.dumps({"experiment": "main"}),
                          "--out", str(tmp_path / "x.png")])  # fmt: skip
    fig = figs[0]
    kept = _kept(metrics)
    acc = kept[kept.metric == "test_acc"]
    aucs = summarise(kept).groupby(["depth", "condition"]).auc_test_acc.mean()
    assert "[1 diverged networks excluded]" in fig._suptitle.get_text()
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in axes] == ["toy, depth 2", "toy, depth 3"]
    for ax, depth in zip(axes, (2, 3)):
        drawn = _lines(ax)
        for c in CONDS:
            want = acc[(acc.depth == depth) & (acc.condition == c)].groupby("epoch").value.mean()
            ((x, y),) = drawn[to_hex(style.PALETTE[c])]
            np.testing.assert_allclose(x, want.index.to_numpy())
            np.testing.assert_allclose(y, want.to_numpy(), rtol=1e-6)
        legend = [t.get_text() for t in ax.get_legend().texts]
        assert legend == [f"{style.label(c)} (AUC {aucs[(depth, c)]:.3f})" for c in CONDS]


def test_alignment_draws_the_last_layer_angle_only():
    metrics = _metrics()
    fig = alignment.plot(metrics[metrics.experiment == "main"])
    kept = _kept(metrics)
    data = [ax for ax in fig.axes if ax.get_title().endswith(": data")]
    assert [ax.get_title() for ax in data] == ["toy, depth 2: data", "toy, depth 3: data"]
    for ax, depth in zip(data, (2, 3)):
        ang = kept[(kept.metric == "angle_deg") & (kept.layer == str(depth)) & (kept.depth == depth)]
        for c in CONDS:
            want = ang[ang.condition == c].groupby("epoch").value.mean()
            ((_, y),) = _lines(ax)[to_hex(style.PALETTE[c])]
            np.testing.assert_allclose(y, want.to_numpy(), rtol=1e-6)


def _summary(metrics):
    return summarise(metrics, patience_epochs=1.0, min_delta=0.001)


def test_figure3_draws_each_conditions_mean_converged_accuracy(tmp_path, monkeypatch):
    metrics = _metrics()
    s = _summary(metrics)
    s.to_csv(tmp_path / "s.csv", index=False)
    ctx = {"experiment": "main", "datasets": ["toy"], "depths": [2, 3], "table1": {"depth": 2, "trials": 3},
           "convergence": {"patience_epochs": 1.0, "min_delta": 0.001}}  # fmt: skip
    figs = _captured(monkeypatch)
    figure3.main(["--summary", str(tmp_path / "s.csv"), "--context", json.dumps(ctx), "--out", str(tmp_path / "f.png")])
    ax = figs[0].axes[0]
    kept = s[(s.experiment == "main") & ~s.diverged]
    for c in CONDS:
        want = kept[kept.condition == c].groupby("depth").converged_test_acc.mean()
        bars = next(b for b in ax.containers if b.get_label() == style.label(c))  # errorbar: mean and interval
        line = bars.lines[0]
        np.testing.assert_allclose(np.asarray(line.get_ydata(), float), want.to_numpy(), rtol=1e-9)
        # the depths are dodged per condition, never moved to another depth
        np.testing.assert_allclose(np.round(np.asarray(line.get_xdata(), float)), want.index.to_numpy())


@pytest.mark.parametrize("panel, column", [(1, "auc_test_acc"), (2, "converged_test_acc")])
def test_rules_bars_are_the_mean_of_each_condition(panel, column):
    conds = ["bp", "fa_w", "ss", "kp"]
    metrics = _metrics(conds, experiment="rules")
    s = _summary(metrics)
    fig = rules.plot(metrics, s, pd.DataFrame(), {"experiment": "rules", "conditions": conds})
    kept = s[(s.experiment == "rules") & ~s.diverged & (s.depth == 2)]
    ax = fig.axes[panel]  # row 1 of cell (toy, depth 2)
    heights = [p.get_height() for p in ax.patches if p.get_height() > 0]
    want = kept.groupby("condition")[column].mean()
    np.testing.assert_allclose(heights, [want[c] for c in conds], rtol=1e-9)
    # panel e: only rules whose angle to B measures alignment (FA, KP), never BP or SS
    angle_ax = fig.axes[4]
    assert set(_lines(angle_ax)) - {to_hex("grey")} == {to_hex(style.PALETTE[c]) for c in ("fa_w", "kp")}
