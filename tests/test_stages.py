"""The stage CLIs, run as a user (or a rule) runs them: determinism and the shared-B contract."""

import json
from pathlib import Path

import frames
import numpy as np
import pandas as pd
import pytest
import torch
from pipeline_utils import stage, tiny_noise_set

from noisefa.analysis.summary import summarise
from noisefa.analysis.tidy import OOD_COLUMNS
from noisefa.nets import metrics as M
from noisefa.nets.families import load_checkpoint
from noisefa.pipeline.conditions import CONTROLS, get_condition
from noisefa.stages.train import AT_ENDS

REPO = Path(__file__).resolve().parents[1]
MODEL = {"hidden": 16, "batchnorm": True}
TRAIN = {
    "optimizer": "sgd",
    "lr": 0.01,
    "momentum": 0.9,
    "weight_decay": 0.0,
    "batch_size": 64,
    "epochs": 1,
    "evals_per_epoch": 2,
    "train_subset": 0,
    "eval_train_samples": 300,
    "probe_batch": 64,
    "gram_samples": 200,
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("stages")
    stage("prepare_data", "--dataset", "synthetic", "--root", d / "tv", "--out", d / "data.pt")
    tiny_noise_set(d / "noise.pt")
    pre = {
        "experiment": "t",
        "seeds": [0, 1],
        "model": MODEL,
        "depth": 2,
        "pretrain": {
            "optimizer": "sgd",
            "lr": 0.05,
            "momentum": 0.9,
            "batch_size": 32,
            "steps": 40,
            "log_every": 10,
            "readout_probes": 300,
        },
    }
    stage(
        "pretrain",
        "--spec",
        json.dumps(pre),
        "--noise",
        d / "noise.pt",
        "--checkpoint",
        d / "pre.pt",
        "--metrics",
        d / "pre.parquet",
        "--details",
        d / "pre_details.parquet",
        "--trajectory",
        d / "pre_traj.pt",
    )
    return d


def train(d, condition, tag, pretrained=True, check=True, stop=None, precision=None, start=None, **train_changes):
    spec = {
        "experiment": "t",
        "seeds": [0, 1],
        "model": MODEL,
        "depth": 2,
        "dataset": "synthetic",
        "condition": condition,
        "noise": "n",
        "train": {**TRAIN, **train_changes},
        **({"stop": stop} if stop else {}),
        **({"precision": precision} if precision else {}),
        **({"start": start} if start else {}),
    }
    extra = ["--pretrained", d / "pre.pt"] if pretrained and get_condition(condition).pretrained else []
    r = stage(
        "train",
        "--spec",
        json.dumps(spec),
        "--data",
        d / "data.pt",
        *extra,
        "--checkpoint",
        d / f"{tag}.pt",
        "--metrics",
        d / f"{tag}.parquet",
        "--details",
        d / f"{tag}_details.parquet",
        "--trajectory",
        d / f"{tag}_traj.pt",
        check=check,
    )
    return pd.read_parquet(d / f"{tag}.parquet") if check else r


@pytest.mark.parametrize(
    "change, needle",
    [
        ({"batch_size": 2001}, "config key train.batch_size: 2001 is larger than the 2000 training images of synthetic"),
        ({"train_subset": 2500}, "config key train.train_subset: 2500 is larger than the 2000 training images of synthetic"),
        ({"train_subset": 50}, "config key train.batch_size: 64 is larger than the 50 training images of synthetic"),
    ],
)
def test_a_job_refuses_sizes_its_data_cannot_give_and_writes_nothing(workdir, tmp_path, change, needle):
    """What only the data can check (a dataset prepared from other files than the registry's)."""
    d = tmp_path
    (d / "data.pt").symlink_to(workdir / "data.pt")
    r = train(d, "fa_wo", "big", check=False, **change)
    assert r.returncode == 1 and needle in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert sorted(p.name for p in d.iterdir()) == ["data.pt"]


def test_noise_pretraining_refuses_a_batch_larger_than_its_fixed_set(workdir, tmp_path):
    spec = {"experiment": "t", "seeds": [0], "model": MODEL, "depth": 2,
            "pretrain": {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "batch_size": 512, "steps": 4, "log_every": 2,
                         "readout_probes": 10}}  # fmt: skip
    out = {k: tmp_path / f"p.{k}" for k in ("checkpoint", "metrics", "details", "trajectory")}
    args = [x for k, v in out.items() for x in (f"--{k}", v)]
    r = stage("pretrain", "--spec", json.dumps(spec), "--noise", workdir / "noise.pt", *args, check=False)
    assert r.returncode == 1 and "config key pretrain.batch_size: 512 is larger than the 256 samples of noise set n" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_training_prints_a_progress_line_at_every_evaluation(workdir):
    r = train(workdir, "bp", "progress", check=False)
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stdout.splitlines() if " ETA " in line]
    m = pd.read_parquet(workdir / "progress.parquet")
    steps = sorted(m.step.unique())
    assert len(lines) == len(steps)  # step 0 and every evaluation
    n_steps = steps[-1]
    for line, step in zip(lines, steps):
        assert f"step {step}/{n_steps} (epoch " in line and " elapsed, ETA " in line
        acc = m[(m.step == step) & (m.metric == "test_acc")].value.mean()
        assert f"mean test_acc {acc:.4f} over 2 networks" in line  # the cell's mean, as the tables have it
    assert lines[-1].split("ETA ")[1].startswith("0:00:00")


def test_training_stops_once_every_network_has_converged_and_the_summary_is_unchanged(workdir):
    rule = {"patience_epochs": 1.0, "min_delta": 0.01}
    full = train(workdir, "bp", "to_cap", epochs=6)
    stopped = train(workdir, "bp", "stopped", epochs=6, stop={**rule, "min_epochs": 2.0})
    assert stopped.step.max() < full.step.max()  # it stopped before the 6-epoch cap ...
    assert stopped.epoch.max() >= 2.0  # ... but not before the AUC window was trained
    common = full[full.step <= stopped.step.max()]

    def curve(d):  # the end-only metrics are at each run's own last step
        return d[~d.metric.isin(AT_ENDS)].reset_index(drop=True)

    pd.testing.assert_frame_equal(curve(stopped), curve(common))  # the same run, cut
    for d in (full, stopped):
        assert sorted(d[d.metric.isin(AT_ENDS)].step.unique()) == [0, d.step.max()]
    a, b = summarise(full, **rule, auc_epochs=2.0), summarise(stopped, **rule, auc_epochs=2.0)
    assert b.converged.all()
    for col in ("converged_test_acc", "convergence_epoch", "auc_test_acc"):
        np.testing.assert_array_equal(a[col], b[col])  # stopping changes no converged accuracy, epoch or AUC
    det = pd.read_parquet(workdir / "stopped_details.parquet")
    assert det[det.metric == "neuron_angle_deg"].step.max() == stopped.step.max()  # end details at the last step


def test_training_cli_twice_gives_identical_metrics(workdir):
    a = train(workdir, "fa_w", "run1")
    b = train(workdir, "fa_w", "run2")
    pd.testing.assert_frame_equal(a, b)
    assert set(a.metric) >= {"test_acc", "train_loss", "angle_deg", "erank", "wb_distance", "delta_angle_deg"}


def _start_of(d, tag):
    """The networks a training job started from: its step-0 rows (angles) and its checkpoint's B."""
    m = pd.read_parquet(d / f"{tag}.parquet")
    return m[(m.step == 0) & (m.metric == "angle_deg")].set_index(["layer", "seed"]).value


def test_the_controls_train_from_their_starts_and_twice_identically(workdir):
    pre = pd.read_parquet(workdir / "pre.parquet")
    twin, _ = load_checkpoint(workdir / "pre.pt")
    if not (workdir / "wo.parquet").exists():
        train(workdir, "fa_wo", "wo")
    wo = _start_of(workdir, "wo")
    for name in CONTROLS:
        a = train(workdir, name, f"c_{name}", start={"aligned_angle": "matched"} if name == "fa_aligned" else None)
        b = train(workdir, name, f"c_{name}2", start={"aligned_angle": "matched"} if name == "fa_aligned" else None)
        pd.testing.assert_frame_equal(a, b)
    aligned = _start_of(workdir, "c_fa_aligned")
    target = M.neuron_angles(twin.weights[1].detach(), twin.feedback[1]).double().mean(1).numpy()
    # the layer angle of W whose every column is at angle t from B's is at least t (equal norms: equal)
    assert (aligned.loc["2"].to_numpy() >= target - 1e-3).all() and (aligned.loc["2"].to_numpy() < target + 8).all()
    assert (aligned.loc["1"] == wo.loc["1"]).all()  # the first layer is untouched
    last = pre[(pre.metric == "angle_deg") & (pre.layer == "2") & (pre.step == pre.step.max())].set_index("seed").value
    np.testing.assert_allclose(_start_of(workdir, "c_fa_newb").loc["2"].to_numpy(), 90, atol=25)  # a fresh B: no alignment
    assert (_start_of(workdir, "c_fa_fresh").loc["2"].to_numpy() == last.to_numpy()).all()  # the twin itself (tests' noise)
    # a rescaled readout has the same angles (up to the float32 rounding of the rescaled weights)
    np.testing.assert_allclose(_start_of(workdir, "c_fa_scaled").sort_index().to_numpy(), wo.sort_index().to_numpy(), atol=1e-3)
    newb, _ = load_checkpoint(workdir / "c_fa_newb.pt")
    assert not any(torch.equal(x, y) for x, y in zip(newb.feedback, twin.feedback))


def test_pretraining_aligns_last_layer_and_fa_arms_share_B(workdir):
    pre = pd.read_parquet(workdir / "pre.parquet")
    ang = pre[(pre.metric == "angle_deg") & (pre.layer == "2")]
    assert ang[ang.step == 40].value.mean() < ang[ang.step == 0].value.mean() - 5
    train(workdir, "fa_wo", "wo")
    w, _ = load_checkpoint(workdir / "run1.pt")
    wo, _ = load_checkpoint(workdir / "wo.pt")
    p, _ = load_checkpoint(workdir / "pre.pt")
    for bw, bwo, bp in zip(w.feedback, wo.feedback, p.feedback):
        assert torch.equal(bw, bwo) and torch.equal(bw, bp)


def test_all_conditions_start_from_the_same_W(workdir):
    bp = pd.read_parquet(workdir / "wo.parquet") if (workdir / "wo.parquet").exists() else train(workdir, "fa_wo", "wo")
    b = train(workdir, "bp", "bp")
    first = lambda df: df[(df.step == 0) & (df.metric == "test_acc")].value.to_numpy()  # noqa: E731
    assert (first(bp) == first(b)).all()


def test_tidy_columns_contract(workdir):
    df = pd.read_parquet(workdir / "run1.parquet")
    assert list(df.columns) == [
        "experiment",
        "dataset",
        "noise",
        "depth",
        "condition",
        "seed",
        "phase",
        "step",
        "epoch",
        "layer",
        "metric",
        "value",
    ]
    assert set(df.phase) == {"data"} and set(df.noise) == {"n"}
    assert df[df.metric == "test_acc"].layer.eq("").all()


def test_fa_w_refuses_a_checkpoint_of_other_networks(workdir, tmp_path):
    spec = {
        "experiment": "t",
        "seeds": [5, 6],
        "model": MODEL,
        "depth": 2,
        "dataset": "synthetic",
        "condition": "fa_w",
        "noise": "n",
        "train": TRAIN,
    }
    r = stage(
        "train", "--spec", json.dumps(spec), "--data", workdir / "data.pt", "--pretrained", workdir / "pre.pt",
        "--checkpoint", tmp_path / "x.pt", "--metrics", tmp_path / "x.parquet",
        "--details", tmp_path / "x_d.parquet", "--trajectory", tmp_path / "x_t.pt", check=False,
    )  # fmt: skip
    assert r.returncode != 0 and "Rerun pretraining" in r.stderr
    assert not (tmp_path / "x.parquet").exists()


def test_details_and_trajectory_of_pretraining(workdir):
    det = pd.read_parquet(workdir / "pre_details.parquet")
    assert set(det.metric) == {
        "neuron_angle_deg",
        "singular_value",
        "readout_max_prob",
        "readout_top_unit_prob",
        "readout_unit_mean",
        "readout_pred_class",
        "readout_cv_top_unit_prob",
    }
    cv = det[(det.metric == "readout_cv_top_unit_prob") & (det.seed == 0) & (det.step == 0)]
    assert len(cv) == 150 and set(cv["index"] % 2) == {1}  # the odd half of 300 probes
    neurons = det[(det.metric == "neuron_angle_deg") & (det.seed == 0)]
    assert set(neurons.layer) == {"2"} and set(neurons.step) == {0, 40}
    assert len(neurons[neurons.step == 0]) == MODEL["hidden"]  # one angle per hidden neuron
    probes = det[(det.metric == "readout_max_prob") & (det.seed == 0) & (det.step == 0)]
    assert len(probes) == 300 and probes.value.between(0.1, 1.0).all()  # max of 10 softmax outputs
    unit = det[(det.metric == "readout_unit_mean") & (det.seed == 0) & (det.step == 0)]
    assert abs(unit.value.sum() - 1.0) < 1e-6  # mean probabilities over units sum to one
    sv = det[(det.metric == "singular_value") & (det.seed == 0) & (det.step == 0) & (det.layer == "1")]
    assert sv.sort_values("index").value.is_monotonic_decreasing
    tr = torch.load(workdir / "pre_traj.pt", weights_only=False)
    assert tr["steps"] == [0, 10, 20, 30, 40] and tr["W"].shape == (5, 2, 10, MODEL["hidden"])
    p, _ = load_checkpoint(workdir / "pre.pt")
    assert torch.equal(tr["W"][-1], p.weights[-1].detach()) and torch.equal(tr["B"], p.feedback[-1])


def test_data_then_noise_starts_from_the_trained_networks(workdir, tmp_path):
    if not (workdir / "wo.pt").exists():
        train(workdir, "fa_wo", "wo")
    spec = {
        "experiment": "figure2", "dataset": "synthetic", "condition": "fa_wo", "phase": "noise_after",
        "seeds": [0, 1], "model": MODEL, "depth": 2,
        "pretrain": {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "batch_size": 32, "steps": 20, "log_every": 10,
                     "readout_probes": 50},
    }  # fmt: skip
    stage(
        "pretrain", "--spec", json.dumps(spec), "--noise", workdir / "noise.pt", "--init", workdir / "wo.pt",
        "--checkpoint", tmp_path / "dn.pt", "--metrics", tmp_path / "dn.parquet",
        "--details", tmp_path / "dn_d.parquet", "--trajectory", tmp_path / "dn_t.pt",
    )  # fmt: skip
    dn = pd.read_parquet(tmp_path / "dn.parquet")
    wo = pd.read_parquet(workdir / "wo.parquet")
    assert set(dn.phase) == {"noise_after"} and set(dn.condition) == {"fa_wo"} and set(dn.experiment) == {"figure2"}
    key = ["seed", "layer"]
    start = dn[(dn.step == 0) & (dn.metric == "angle_deg")].set_index(key).value
    end_of_data = wo[(wo.step == wo.step.max()) & (wo.metric == "angle_deg")].set_index(key).value
    pd.testing.assert_series_equal(start.sort_index(), end_of_data.sort_index(), check_exact=False, rtol=1e-6)


def test_ood_identity_is_the_test_accuracy_and_transforms_hurt(workdir, tmp_path):
    if not (workdir / "wo.pt").exists():
        train(workdir, "fa_wo", "wo")
    spec = {
        "experiment": "t", "dataset": "synthetic", "depth": 2, "condition": "fa_wo", "rule": "fa", "seeds": [0, 1],
        "tests": {"translate": [0.0, 3.0], "rotate": [0.0, 90.0], "scale": [1.0, 2.0]},
    }  # fmt: skip
    stage(
        "ood", "--spec", json.dumps(spec), "--data", workdir / "data.pt",
        "--external", json.dumps({"again": str(workdir / "data.pt")}),
        "--checkpoint", workdir / "wo.pt", "--out", tmp_path / "ood.parquet",
    )  # fmt: skip
    ood = pd.read_parquet(tmp_path / "ood.parquet")
    assert list(ood.columns) == OOD_COLUMNS
    wo = pd.read_parquet(workdir / "wo.parquet")
    final = wo[(wo.step == wo.step.max()) & (wo.metric == "test_acc")].set_index("seed").value.sort_index()
    acc = ood[ood.metric == "acc"]
    for name, identity in (("translate", 0.0), ("rotate", 0.0), ("scale", 1.0)):
        same = acc[(acc.test_set == name) & (acc.magnitude == identity)].set_index("seed").value.sort_index()
        pd.testing.assert_series_equal(same, final, check_names=False)  # the identity is the plain test set
        moved = acc[(acc.test_set == name) & (acc.magnitude != identity)].value
        assert moved.mean() < same.mean()  # 8x8 prototypes moved by 3 px / 90 deg / 2x are harder
    # an "external" dataset equal to the training data: train + test splits, standardised the same way
    assert acc[acc.test_set == "again"].value.between(final.min() - 0.2, 1.0).all()


def _meta(workdir, spec, out):
    """Run the meta stage on the synthetic task; its metrics (``out``.parquet; trajectory ``out``.pt)."""
    stage(
        "meta", "--spec", json.dumps(spec), "--noise", workdir / "noise.pt",
        "--tasks", json.dumps({"synthetic": str(workdir / "data.pt")}),
        "--out", out.with_suffix(".parquet"), "--trajectory", out.with_suffix(".pt"),
    )  # fmt: skip
    return pd.read_parquet(out.with_suffix(".parquet"))


def test_meta_retraces_the_pretraining_and_adaptation_lowers_the_loss(workdir, tmp_path):
    from noisefa.data.datasets import load_prepared
    from noisefa.nets.engine import evaluate_split
    from noisefa.nets.learning_rules import get_rule
    from noisefa.stages.meta import task_data

    meta = {"snapshots": 3, "steps": 4, "lr": 0.05, "batch_size": 32, "train_samples": 200, "eval_samples": 300}
    pre = {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "batch_size": 32, "steps": 40, "log_every": 10, "readout_probes": 300}
    spec = {"experiment": "pretrain", "seeds": [0, 1], "model": MODEL, "depth": 2, "pretrain": pre, "meta": meta}
    m = _meta(workdir, spec, tmp_path / "meta")
    assert sorted(m.step.unique()) == [0, 20, 40]
    loss = m[(m.metric == "loss") & (m.task == "synthetic")]
    # the snapshot at the last step is the pretraining job's network: same loss before adaptation
    model, _ = load_checkpoint(workdir / "pre.pt")
    x, y, xe, ye = task_data(workdir / "data.pt", "synthetic", meta, "cpu")
    model.estimate_batchnorm(x[: meta["batch_size"]])  # adaptation starts from the task's BN statistics
    expected = evaluate_split(model, get_rule("fa"), xe, ye)[0].numpy()
    got = loss[(loss.step == 40) & (loss.adapt_step == 0)].sort_values("seed").value.to_numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert load_prepared(workdir / "data.pt").y_test.shape[0] >= 300
    total = m[m.task == "meta"].set_index(["step", "seed"]).value
    last = loss[loss.adapt_step == 4].set_index(["step", "seed"]).value
    pd.testing.assert_series_equal(total.sort_index(), last.sort_index(), check_names=False)  # one task: the sum is it
    start = loss[loss.adapt_step == 0].groupby("step").value.mean()
    end = loss[loss.adapt_step == 4].groupby("step").value.mean()
    assert (end < start).all()  # adaptation helps from every snapshot
    tr = torch.load(tmp_path / "meta.pt", weights_only=False)
    assert set(tr["W"]) == {"untrained/synthetic", "trained/synthetic"} and tr["W"]["trained/synthetic"].shape == (5, 2, 10, 16)
    torch.testing.assert_close(tr["W"]["trained/synthetic"][0], model.weights[-1].detach())
    assert set(m.start) == {"noise"}

    # with the controls: the same snapshots, and adaptation from each control built from them
    spec["controls"] = ["aligned", "newb", "scaled"]
    c = _meta(workdir, spec, tmp_path / "meta_c")
    pd.testing.assert_frame_equal(c[c.start == "noise"].reset_index(drop=True), m)
    ctrl = c[c.start != "noise"]
    assert set(ctrl.start) == {"aligned", "newb", "scaled"} and set(ctrl.step) == {40}
    assert ctrl.groupby(["start", "task"]).seed.nunique().eq(2).all()
    from noisefa.nets.model import StackedMLP
    from noisefa.nets.starts import build

    scaled = build("scaled", StackedMLP(model.arch, model.seeds), model)
    scaled.estimate_batchnorm(x[: meta["batch_size"]])
    expected = evaluate_split(scaled, get_rule("fa"), xe, ye)[0].numpy()
    got = ctrl[(ctrl.start == "scaled") & (ctrl.task == "synthetic") & (ctrl.adapt_step == 0)].sort_values("seed").value
    np.testing.assert_allclose(got.to_numpy(), expected, rtol=1e-6)


def test_table1_from_a_known_summary(tmp_path):
    rows = [
        {"experiment": "main", "dataset": "d", "depth": 2, "condition": c, "seed": s, "diverged": False,
         "converged_test_acc": acc + 0.01 * s, "convergence_epoch": 5.0, "converged": s != 2}
        for c, acc in (("bp", 0.90), ("fa_wo", 0.80), ("fa_w", 0.85))
        for s in range(5)
    ]  # fmt: skip
    frames.summary(rows).to_csv(tmp_path / "summary.csv", index=False)
    spec = {"experiment": "main", "depth": 2, "trials": 3}
    out = {k: tmp_path / f"t.{k}" for k in ("csv", "md", "tex")}
    stage(
        "table1", "--spec", json.dumps(spec), "--summary", tmp_path / "summary.csv",
        "--csv", out["csv"], "--md", out["md"], "--tex", out["tex"],
    )  # fmt: skip
    t = pd.read_csv(out["csv"]).set_index("condition")
    assert (t.n == 3).all() and abs(t.loc["fa_w", "mean"] - 0.86) < 1e-12 and abs(t.loc["bp", "std"] - 0.01) < 1e-12
    assert (t.not_converged == 1).all()  # seed 2 hit the cap in every cell
    md = out["md"].read_text()
    assert "| d | 91.00 ± 1.00 (1 at cap) | 81.00 ± 1.00 (1 at cap) | 86.00 ± 1.00 (1 at cap) |" in md
    assert "\\begin{tabular}" in out["tex"].read_text() and "$\\pm$" in out["tex"].read_text()
    assert "mean ± std over 3 networks\n" in md
    # more trials than networks: the caption counts the networks the cells hold, and says so
    spec["trials"] = 8
    stage(
        "table1", "--spec", json.dumps(spec), "--summary", tmp_path / "summary.csv",
        "--csv", out["csv"], "--md", out["md"], "--tex", out["tex"],
    )  # fmt: skip
    assert "mean ± std over 5 networks; table1.trials is 8" in out["md"].read_text()


def test_table1_keeps_a_cell_whose_networks_diverged_and_says_why(tmp_path):
    """lr 1e6 made every BP network diverge: the column stays, empty, with the count; the trials
    are the first seeds whatever happened to them (a diverged one is not replaced by seed 3)."""
    rows = [
        {"experiment": "main", "dataset": "d", "depth": 2, "condition": c, "seed": s,
         "diverged": c == "bp" or (c == "fa_w" and s == 1), "blown_up": c == "fa_wo" and s == 0,
         "converged_test_acc": float("nan") if c == "bp" else 0.8 + 0.01 * s, "convergence_epoch": 5.0, "converged": True}
        for c in ("bp", "fa_wo", "fa_w")
        for s in range(5)
    ]  # fmt: skip
    frames.summary(rows).to_csv(tmp_path / "summary.csv", index=False)
    out = {k: tmp_path / f"t.{k}" for k in ("csv", "md", "tex")}
    stage(
        "table1", "--spec", json.dumps({"experiment": "main", "depth": 2, "trials": 3}), "--summary", tmp_path / "summary.csv",
        "--csv", out["csv"], "--md", out["md"], "--tex", out["tex"],
    )  # fmt: skip
    t = pd.read_csv(out["csv"]).set_index("condition")
    assert t.loc["bp", "n"] == 0 and t.loc["bp", "diverged"] == 3 and pd.isna(t.loc["bp", "mean"])
    assert (t.loc["fa_w", "n"], t.loc["fa_w", "diverged"]) == (2, 1) and abs(t.loc["fa_w", "mean"] - 0.81) < 1e-12
    assert (t.loc["fa_wo", "n"], t.loc["fa_wo", "blown_up"]) == (2, 1)
    md = out["md"].read_text()
    assert "| d | — (3 diverged) | 81.50 ± 0.71 (1 blew up) | 81.00 ± 1.41 (1 diverged) |" in md
    assert "left out: 4 network(s) that diverged, 1 that blew up" in md


def test_the_spec_s_precision_reaches_the_products(workdir):
    # bf16 moves every curve by its rounding (tests/test_precision.py bounds it), float32 by nothing
    f32, again, b16 = (
        train(workdir, "fa_wo", tag, precision=p) for tag, p in (("p32", "float32"), ("p32b", None), ("p16", "bf16"))
    )
    acc = {k: d[d.metric == "test_loss"].value.to_numpy() for k, d in (("f32", f32), ("again", again), ("b16", b16))}
    assert np.array_equal(acc["f32"], acc["again"])  # float32 is the default
    rel = np.abs(acc["b16"] - acc["f32"]).max() / np.abs(acc["f32"]).max()
    assert 1e-5 < rel < 0.1


def test_a_curve_sparser_than_the_auc_window_has_no_auc_and_the_others_keep_theirs():
    def curve(experiment, epochs):
        return pd.DataFrame(
            {"experiment": experiment, "dataset": "d", "noise": "", "depth": 2, "condition": "bp", "phase": "data",
             "seed": 0, "layer": "", "metric": "test_acc", "step": range(len(epochs)), "epoch": epochs,
             "value": [0.1 + 0.8 * min(e, 5) / 5 for e in epochs]}
        )  # fmt: skip

    df = pd.concat([curve("dense", [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), curve("sparse", [0, 160, 320, 480, 640])])
    s = summarise(df, patience_epochs=1.0, min_delta=0.001, auc_epochs=5).set_index("experiment")
    assert np.isnan(s.auc_test_acc["sparse"])  # only epoch 0 lies in the 5-epoch window
    assert s.auc_test_acc["dense"] == pytest.approx(0.5)  # the ramp from 0.1 to 0.9 over epochs 0-5


def test_meta_job_says_when_adaptation_explodes_and_prints_the_meta_loss(workdir, tmp_path):
    """A meta.lr that blows adaptation up finished with exit 0 and no word; the progress lines
    showed the noise loss, not the meta-loss the job is for."""
    meta = {"snapshots": 2, "steps": 4, "lr": 1e4, "batch_size": 32, "train_samples": 200, "eval_samples": 300}
    pre = {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "batch_size": 32, "steps": 20, "log_every": 10, "readout_probes": 300}
    spec = {"experiment": "pretrain", "seeds": [0, 1], "model": MODEL, "depth": 2, "pretrain": pre, "meta": meta}
    r = stage(
        "meta", "--spec", json.dumps(spec), "--noise", workdir / "noise.pt",
        "--tasks", json.dumps({"synthetic": str(workdir / "data.pt")}),
        "--out", tmp_path / "m.parquet", "--trajectory", tmp_path / "m.pt",
    )  # fmt: skip
    assert "WARNING: the meta-loss of seeds [0, 1] is not finite or above 1e+06" in r.stdout
    assert "meta depth=2: step 20/20" in r.stdout and "mean meta-loss" in r.stdout
