"""Figures 1, 2 and 4 draw from small synthetic tables (the columns of noisefa.analysis.tidy), and their helpers
pick the right rows. No pipeline run: every table and trajectory file is built here."""

from __future__ import annotations

import itertools
import json

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
import torch

from noisefa.analysis.summary import summarise
from noisefa.analysis.tidy import detail_frame, frame, write_table
from noisefa.figures import figure1, figure2, figure4, trajectories

SHAPE = "noise:in16_c4"
SEEDS = [0, 1, 2]
SETS = {
    "small": {"distribution": "gaussian", "mean": 0.0, "std": 1.0, "protocol": "fixed", "n_samples": 100},
    "large": {"distribution": "gaussian", "mean": 0.0, "std": 1.0, "protocol": "fixed", "n_samples": 1000},
    "fresh": {"distribution": "gaussian", "mean": 0.0, "std": 1.0, "protocol": "fresh", "n_samples": 60000},
    "unif": {"distribution": "uniform", "mean": 0.0, "std": 1.0, "protocol": "fixed", "n_samples": 100},
    "wide": {"distribution": "gaussian", "mean": 0.0, "std": 2.0, "protocol": "fixed", "n_samples": 100},
}
NOISE_STEPS, DATA_STEPS = [0, 10, 20], [0, 5, 10, 15]
rng = np.random.default_rng(0)


def _pretrain() -> pd.DataFrame:
    parts = []
    for noise, depth in itertools.product(SETS, [2, 3]):
        rows = [
            {"step": s, "epoch": s / 10, "seed": seed, "layer": layer, "metric": m, "value": v + rng.normal()}
            for s, seed in itertools.product(NOISE_STEPS, SEEDS)
            for layer, m, v in [("", "batch_loss", 2.0 - s / 20)]
            + [(str(k), "angle_deg", 90 - 2 * s) for k in range(1, depth + 1)]
            + [(str(k), "erank", 10 - s / 10) for k in range(1, depth + 1)]
        ]
        parts.append(frame(rows, experiment="pretrain", dataset=SHAPE, noise=noise, depth=depth, condition="fa_w", phase="noise"))
    return pd.concat(parts, ignore_index=True)


def _details() -> pd.DataFrame:
    parts = []
    for noise, depth in itertools.product(SETS, [2, 3]):
        rows = []
        for s, seed in itertools.product(NOISE_STEPS, SEEDS):
            at = {"step": s, "epoch": s / 10, "seed": seed}
            rows += [{**at, "layer": "1", "metric": "singular_value", "index": i, "value": 8.0 - i} for i in range(8)]
            if s in (0, NOISE_STEPS[-1]):
                rows += [
                    {**at, "layer": str(depth), "metric": m, "index": i, "value": v}
                    for m, n, v in [
                        ("neuron_angle_deg", 8, 90 - 2 * s),
                        ("readout_max_prob", 20, 0.5),
                        ("readout_unit_mean", 4, 0.25),
                    ]
                    for i in range(n)
                ]
        d = detail_frame(rows, experiment="pretrain", dataset=SHAPE, noise=noise, depth=depth, condition="fa_w", phase="noise")
        parts.append(d.assign(value=d.value + rng.normal(0, 0.01, len(d)).clip(-0.01, 0.01)))
    return pd.concat(parts, ignore_index=True)


def _network(experiment, depth, condition) -> pd.DataFrame:
    """Networks of one cell: data training, plus noise training (fa_w) and the data->noise control (fa_wo)."""
    phases = ["data"] + ["noise"] * (condition == "fa_w") + ["noise_after"] * (condition == "fa_wo" and experiment == "figure2")
    start = {"bp": 90.0, "fa_wo": 90.0, "fa_w": 50.0}[condition]
    parts = []
    for phase in phases:
        steps, rows = DATA_STEPS if phase == "data" else NOISE_STEPS, []
        for (i, step), seed in itertools.product(enumerate(steps), SEEDS):
            f = i / (len(steps) - 1)
            angle = {"noise": 90 - 40 * f, "noise_after": 70 - 30 * f}.get(phase, start - 20 * f * (condition != "bp"))
            ms = [("angle_deg", str(depth), angle), ("wb_distance", str(depth), angle / 10)]
            ms += [("wb_distance_norm", str(depth), angle / 60)]
            if phase == "data":
                acc = 0.1 + 0.8 * f ** (0.5 if condition != "fa_wo" else 1.5)
                ms += [("test_acc", "", acc), ("train_acc", "", acc + 0.05), ("test_loss", "", 2 - acc)]
                ms += [("train_loss", "", 1.9 - acc), ("gram_erank", str(depth - 1), 20 - 3 * (condition == "fa_w") - depth)]
            at = {"step": step, "epoch": step / 10, "seed": seed}
            rows += [{**at, "layer": k, "metric": m, "value": v + rng.normal(0, 0.01)} for m, k, v in ms]
        noise = "small" if condition == "fa_w" or phase == "noise_after" else ""
        parts.append(
            frame(rows, experiment=experiment, dataset="toy", noise=noise, depth=depth, condition=condition, phase=phase)
        )
    return pd.concat(parts, ignore_index=True)


def _metrics() -> pd.DataFrame:
    cells = [("figure2", 2), ("main", 2), ("main", 3), ("size100", 3), ("size400", 3)]
    return pd.concat([_network(e, k, c) for (e, k), c in itertools.product(cells, ["bp", "fa_wo", "fa_w"])], ignore_index=True)


def _trajectory(path, phase, B, W) -> str:
    torch.save({"phase": phase, "seeds": [1, 0], "steps": list(range(len(W))), "W": W, "B": B, "layer": 2, "meta": {}}, path)
    return str(path)


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    d = tmp_path_factory.mktemp("tables")
    metrics, pretrain, details = _metrics(), _pretrain(), _details()
    paths = {n: d / f"{n}.parquet" for n in ("metrics", "pretrain", "details")}
    for n, t in zip(paths, (metrics, pretrain, details)):
        write_table(t, paths[n])
    paths["summary"] = d / "summary.csv"
    summarise(metrics).to_csv(paths["summary"], index=False)
    B = torch.randn(2, 4, 6)
    walk = lambda start: start + torch.cumsum(0.1 * torch.randn(5, 2, 4, 6), 0)  # noqa: E731
    init = torch.randn(2, 4, 6)
    noise_w = walk(init)
    paths["trajectories"] = {
        "noise": _trajectory(d / "noise.pt", "noise", B, noise_w),
        "bp": _trajectory(d / "bp.pt", "data", B, walk(init)),
        "fa_wo": _trajectory(d / "fa_wo.pt", "data", B, walk(init)),
        "fa_w": _trajectory(d / "fa_w.pt", "data", B, walk(noise_w[-1])),
        "data_then_noise": _trajectory(d / "dtn.pt", "noise_after", B, walk(init)),
    }
    return paths


def _check_png(path):
    assert path.exists() and path.stat().st_size > 20_000
    img = mpimg.imread(path)
    assert img.shape[0] > 300 and img.shape[1] > 300 and img[..., :3].std() > 0.05


def test_figure1(tables, tmp_path):
    context = {"noise": "small", "noise_sets": SETS, "shape": SHAPE, "classes": 4, "depth": 2, "pretrain": {}}
    out = tmp_path / "figure1.png"
    args = ["--pretrain", tables["pretrain"], "--details", tables["details"], "--context", json.dumps(context)]
    figure1.main([str(a) for a in args] + ["--out", str(out), "--title", "Figure 1 test"])
    _check_png(out)


def test_figure2(tables, tmp_path):
    context = {"experiment": "figure2", "dataset": "toy", "depth": 2, "noise": "small", "train": {}}
    out = tmp_path / "figure2.png"
    args = ["--metrics", tables["metrics"], "--summary", tables["summary"], "--context", json.dumps(context)]
    args += ["--trajectories", json.dumps(tables["trajectories"]), "--out", out, "--title", "Figure 2 test"]
    figure2.main([str(a) for a in args])
    _check_png(out)


def test_figure4(tables, tmp_path):
    gen = {
        "enabled": True,
        "dataset": "toy",
        "depths": [3],
        "sizes": [100, 400],
        "size": 100,
        "experiments": {"size100": 100, "size400": 400},
    }
    context = {"experiment": "main", "noise": "small", "shape": SHAPE, "classes": 4, "depth": 2, "generalisation": gen}
    out = tmp_path / "figure4.png"
    args = ["--metrics", tables["metrics"], "--pretrain", tables["pretrain"], "--details", tables["details"]]
    figure4.main([str(a) for a in args + ["--context", json.dumps(context), "--out", out]])
    _check_png(out)


def test_missing_pieces_say_no_data(tmp_path):
    """Empty tables, no trajectories, unknown sets: every figure still draws, with 'no data' panels."""
    empty, empty_details = frame([]), detail_frame([])
    figs = [
        figure1.plot(empty, empty_details, {"noise": "x", "noise_sets": {"x": {}}, "shape": SHAPE, "depth": 2}),
        figure2.plot(empty, pd.DataFrame(), {}, {"experiment": "figure2", "dataset": "toy", "depth": 2}),
        figure4.plot(empty, empty, empty_details, {"experiment": "main", "shape": SHAPE, "depth": 2}),
    ]
    for fig in figs:
        texts = [t.get_text() for ax in fig.axes for t in ax.texts]
        assert "no data" in texts
        figure1.style.save(fig, tmp_path / "f.png")


def test_pca_puts_B_at_the_end_of_a_walk_towards_it():
    B, C = torch.randn(4, 6, dtype=torch.float64), torch.randn(4, 6, dtype=torch.float64)
    t = torch.linspace(0, 1, 5, dtype=torch.float64)[:, None, None]
    coords, b, ratio = trajectories.pca_project({"to_B": t * B, "to_C": t * C}, B)
    # every point lies in span{B, C}: two components are exact, distances are kept
    assert torch.allclose(coords["to_B"][-1], b, atol=1e-9)
    assert torch.allclose((coords["to_B"][0] - b).norm(), B.norm())
    assert torch.allclose(coords["to_B"][0], coords["to_C"][0], atol=1e-9)
    assert abs(float(ratio.sum()) - 1) < 1e-9


def test_set_size_curve_picks_fixed_standard_gaussian_sets():
    fixed, fresh = figure1.standard_sizes(SETS)
    assert fixed == {"small": 100, "large": 1000} and fresh == ["fresh"]
    assert figure1.describe(SETS["large"]) == "gaussian σ=1, fixed 1k"
    assert figure1.describe(SETS["fresh"]) == "gaussian σ=1, fresh"
    assert figure1.describe(SETS["unif"]) == "uniform, fixed 100"
    assert figure4.spectrum_steps([0, 20, 40, 60, 80, 100]) == [0, 40, 60, 100]
    assert figure4.spectrum_steps([0, 5]) == [0, 5]


def test_order_controls_take_the_right_rows():
    angle = _network("figure2", 2, "fa_wo")
    angle = pd.concat([angle, _network("figure2", 2, "fa_w")])
    angle = angle[angle.metric == "angle_deg"]
    d = figure2.order_controls(angle).groupby("order").value.agg(["mean", "size"])
    assert (d["size"] == len(SEEDS)).all() and list(d.index.sort_values()) == sorted(figure2.ORDER_CONTROLS)
    expected = {"untrained": 90, "noise only": 50, "data only": 70, "noise→data": 30, "data→noise": 40}
    assert np.allclose(d["mean"][list(expected)], list(expected.values()), atol=0.1)


def _saved_trajectory(path, W, B, seeds):
    torch.save({"phase": "data", "seeds": seeds, "steps": list(range(len(W))), "W": W, "B": B, "layer": 2, "meta": {}}, path)
    return path


def test_figure2_pca_leaves_out_diverged_networks_and_says_so(tmp_path):
    """lr 1e6 with on_divergence: record made the PCA's SVD fail on non-finite points. The panel
    now takes the first network finite in every trajectory, or leaves a trajectory out and says so."""
    g = torch.Generator().manual_seed(0)
    B = torch.randn(2, 3, 4, generator=g)
    W = torch.randn(5, 2, 3, 4, generator=g)
    nan_first = W.clone()
    nan_first[3:, 0] = float("nan")  # seed 0 diverged at the 4th snapshot
    files = {
        "fa_wo": _saved_trajectory(tmp_path / "a.pt", nan_first, B, [0, 1]),
        "fa_w": _saved_trajectory(tmp_path / "b.pt", W, B, [0, 1]),
    }
    traj, b, left_out = figure2.load_trajectories(files)
    assert left_out == [] and torch.equal(traj["fa_wo"], W[:, 1].double()) and torch.equal(b, B[1].double())
    all_nan = W.clone()
    all_nan[2:] = float("nan")
    files["bp"] = _saved_trajectory(tmp_path / "c.pt", all_nan, B, [0, 1])
    traj, b, left_out = figure2.load_trajectories(files)
    assert left_out == ["bp"] and set(traj) == {"fa_wo", "fa_w"} and torch.equal(b, B[1].double())
    fig, ax = plt_subplots()
    figure2._pca(ax, files)
    assert any("left out (every network diverged): BP, data" in t.get_text() for t in ax.texts)
    assert np.isfinite(np.concatenate([line.get_xydata() for line in ax.lines if len(line.get_xydata())])).all()


def plt_subplots():
    import matplotlib.pyplot as plt

    return plt.subplots()
