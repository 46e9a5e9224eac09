"""Figures 3, 5 and 6 draw from small synthetic tables (no pipeline run)."""

from __future__ import annotations

import json

import frames
import numpy as np
import pandas as pd
import pytest
import torch

from noisefa.analysis import tidy
from noisefa.figures import figure3, figure5, figure6, trajectories

CONDS = ["bp", "fa_wo", "fa_w"]


def _png_ok(path) -> None:
    assert path.exists() and path.stat().st_size > 10_000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------ Figure 3


def _summary(diverged_seed: int | None = None) -> pd.DataFrame:
    rows = []
    rng = np.random.default_rng(0)
    base = {"bp": 0.90, "fa_wo": 0.80, "fa_w": 0.86}
    for ds in ("mnist", "fashion_mnist"):
        for depth in (2, 3):
            for cond in CONDS:
                for seed in range(4):
                    rows.append(
                        {
                            "experiment": "main",
                            "dataset": ds,
                            "depth": depth,
                            "condition": cond,
                            "seed": seed,
                            "final_test_acc": 0.8,
                            "converged_test_acc": base[cond] - 0.02 * (depth - 2) + rng.normal(0, 0.005),
                            "convergence_epoch": 5.0,
                            "converged": not (cond == "fa_wo" and seed == 0),
                            "auc_test_acc": 4.0,
                            "diverged": seed == diverged_seed and cond == "fa_w",
                        }
                    )
    rows.append({**rows[0], "experiment": "other", "converged_test_acc": 0.1})  # another experiment: ignored
    return frames.summary(rows)


def test_gap_to_bp_is_bp_mean_minus_each_network():
    s = pd.DataFrame(
        {
            "dataset": ["d"] * 6,
            "depth": [2] * 6,
            "condition": ["bp", "bp", "fa_wo", "fa_wo", "fa_w", "fa_w"],
            "seed": [0, 1, 0, 1, 0, 1],
            "converged_test_acc": [0.9, 0.8, 0.6, 0.7, 0.8, 0.8],
        }
    )
    g = figure3.gap_to_bp(s, depth=2).set_index("condition")
    assert list(g.index) == ["fa_wo", "fa_w"]
    assert g.loc["fa_wo", "gap"] == pytest.approx(0.85 - 0.65)
    assert g.loc["fa_w", "gap"] == pytest.approx(0.05)
    assert g.loc["fa_w", "lo"] == pytest.approx(0.05) and g.loc["fa_w", "n"] == 2  # no spread: zero-width interval
    assert figure3.gap_to_bp(s, depth=3).empty
    one = figure3.gap_to_bp(s, depth=2, trials=1).set_index("condition")
    assert one.loc["fa_wo", "gap"] == pytest.approx(0.3) and np.isnan(one.loc["fa_wo", "lo"])


def test_figure3_plot_and_main(tmp_path):
    ctx = {
        "experiment": "main",
        "datasets": ["mnist", "fashion_mnist", "cifar10"],  # cifar10 has no rows: "no data"
        "depths": [2, 3],
        "table1": {"depth": 2, "trials": 3},
        "convergence": {"patience_epochs": 3, "min_delta": 0.001},
    }
    s = _summary(diverged_seed=1)
    fig = figure3.plot(s, ctx, "t")
    assert "[4 diverged networks excluded]" in fig._suptitle.get_text()  # seed 1 of fa_w in 2 datasets x 2 depths
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "no data" in texts and "1/4" in texts  # fa_wo seed 0 hit the cap in every cell
    path = tmp_path / "s.csv"
    s.to_csv(path, index=False)
    out = tmp_path / "figure3.png"
    figure3.main(["--summary", str(path), "--context", json.dumps(ctx), "--out", str(out), "--title", "Figure 3"])
    _png_ok(out)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    figure3.main(["--summary", str(empty), "--context", json.dumps(ctx), "--out", str(tmp_path / "e.png")])
    _png_ok(tmp_path / "e.png")


# ------------------------------------------------------------------ Figure 5

TESTS = {"translate": [0.0, 2.0, 4.0], "rotate": [0.0, 30.0], "scale": [1.0, 0.8, 1.2]}


def _ood(external=("digits",), depths=(2,)) -> pd.DataFrame:
    rows = []
    for depth in depths:
        for cond in CONDS:
            for seed in range(3):
                bonus = 0.05 if cond == "fa_w" else 0.0
                for name, mags in TESTS.items():
                    for m in mags:
                        shift = abs(m - (1.0 if name == "scale" else 0.0))
                        for metric, v in (("acc", 0.9 - 0.05 * shift + bonus + 0.01 * seed), ("loss", 0.5)):
                            rows.append((name, m, metric, v, depth, cond, seed))
                for ext in external:
                    rows.append((ext, 0.0, "acc", 0.6 + bonus, depth, cond, seed))
    df = pd.DataFrame(rows, columns=["test_set", "magnitude", "metric", "value", "depth", "condition", "seed"])
    df["experiment"], df["dataset"] = "main", "mnist"
    return df[tidy.OOD_COLUMNS].astype(tidy.OOD_DTYPES)


def test_external_title_names_the_stand_in():
    text = figure5.external_title("digits", {"digits": "scikit-learn 8x8 digits"})
    assert "scikit-learn 8x8 digits" in text and "digits stands in for USPS" in text
    assert figure5.external_title("usps", {"usps": "USPS digits"}) == "usps: USPS digits"


def test_figure5_plot_and_main(tmp_path):
    ctx = {
        "experiment": "main",
        "dataset": "mnist",
        "tests": TESTS,
        "external": ["digits"],
        "descriptions": {"digits": "scikit-learn 8x8 digits resized to 28x28 (offline)"},
    }
    df = _ood(depths=(2, 3))
    fig = figure5.plot(df, ctx, "t")
    assert len(fig.axes) == 2 * 4
    assert any("digits stands in for USPS" in " ".join(ax.get_title().split()) for ax in fig.axes)
    path = tmp_path / "ood.parquet"
    tidy.write_table(df, path)
    out = tmp_path / "figure5.png"
    figure5.main(["--ood", str(path), "--context", json.dumps(ctx), "--out", str(out), "--title", "Figure 5"])
    _png_ok(out)
    # no external set configured, one depth, a network with a NaN accuracy
    df = _ood(external=())
    df.loc[df.index[0], "value"] = np.nan
    fig = figure5.plot(df, {**ctx, "external": [], "descriptions": {}}, "t")
    assert "1 networks with non-finite accuracy excluded" in fig._suptitle.get_text()
    assert "no external dataset configured" in [" ".join(t.get_text().split()) for t in fig.axes[-1].texts]
    figure5.plot(df.iloc[:0], ctx, "empty")


# ------------------------------------------------------------------ Figure 6

TASKS = ["mnist", "fashion_mnist"]
K, STEPS = 3, [0, 50, 100]


def _meta() -> pd.DataFrame:
    rows = []
    for seed in (4, 7):
        for step in STEPS:
            total = 0.0
            for i, task in enumerate(TASKS):
                for k in range(K + 1):
                    v = 2.3 - 0.1 * k - 0.002 * step + 0.1 * i
                    rows.append((step, seed, task, k, "loss", v))
                total += v
            rows.append((step, seed, "meta", K, "loss", total))
            if step:
                rows.append((step, seed, "noise", 0, "batch_loss", 2.3 - 0.001 * step))
    df = pd.DataFrame(rows, columns=["step", "seed", "task", "adapt_step", "metric", "value"])
    df["noise"], df["dataset"], df["depth"], df["start"] = "fixed60k", "noise:in784_c10", 2, "noise"
    return df[tidy.META_COLUMNS].astype(tidy.META_DTYPES)


def _trajectory() -> dict:
    g = torch.Generator().manual_seed(0)
    B = torch.randn(2, 10, 6, generator=g)
    W = {f"{p}/{t}": torch.randn(K + 1, 2, 10, 6, generator=g) for p in ("untrained", "trained") for t in TASKS}
    return {"seeds": [7, 4], "B": B, "W": W}


def test_pca_projection():
    g = torch.Generator().manual_seed(1)
    a = torch.zeros(5, 3, 2)
    a[:, 0, 0] = torch.arange(5.0)  # moves along one direction only
    b = torch.randn(3, 2, generator=g)
    proj, pb, ratio = trajectories.pca_project({"a": a}, b)
    assert proj["a"].shape == (5, 2) and pb.shape == (2,)
    assert float(ratio.sum()) == pytest.approx(1.0)  # six points in a plane: two PCs explain everything
    # distances between projected points equal the true ones (the points lie in the PC plane)
    pts = torch.cat([a.flatten(1), b.flatten()[None]]).double()
    xy = torch.cat([proj["a"], pb[None]])
    assert torch.allclose(torch.cdist(xy, xy), torch.cdist(pts, pts), atol=1e-9)


def test_first_network_is_lowest_seed():
    t = _trajectory()
    trajs, B, seed = figure6.first_network(t)
    assert seed == 4 and torch.equal(B, t["B"][1].double())
    assert torch.equal(trajs["trained/mnist"], t["W"]["trained/mnist"][:, 1].double())
    assert figure6.first_network(None) == ({}, None, None)


def test_figure6_plot_and_main(tmp_path):
    ctx = {"noise": "fixed60k", "meta": {"tasks": TASKS, "steps": K, "depth": 2, "lr": 0.01}, "pretrain_steps": 100}
    fig = figure6.plot(_meta(), _trajectory(), ctx, "t")
    assert len(fig.axes) == 3 + 2 * len(TASKS)
    path, traj = tmp_path / "meta.parquet", tmp_path / "trajectory.pt"
    tidy.write_table(_meta(), path)
    torch.save(_trajectory(), traj)
    out = tmp_path / "figure6.png"
    argv = ["--meta", str(path), "--trajectories", json.dumps({"meta": str(traj)}), "--context", json.dumps(ctx)]
    figure6.main(argv + ["--out", str(out), "--title", "Figure 6"])
    _png_ok(out)
    # no trajectory file, no rows of the used noise set: every panel says "no data"
    fig = figure6.plot(_meta(), None, {**ctx, "noise": "other"}, "t")
    assert sum(t.get_text() == "no data" for ax in fig.axes for t in ax.texts) == len(fig.axes)
