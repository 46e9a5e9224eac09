"""The stage CLIs, run as a user (or a rule) runs them: determinism and the shared-B contract."""

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
from pipeline_utils import stage

from noisefa.model import load_checkpoint

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
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("stages")
    stage("prepare_data", "prepare", "--dataset", "synthetic", "--root", d / "tv", "--out", d / "data.pt")
    spec = {
        "name": "n",
        "noise": {"distribution": "gaussian", "mean": 0, "std": 1, "protocol": "fixed", "n_samples": 256, "seed": 0},
        "dim": 64,
        "n_classes": 10,
    }
    stage("make_noise", "--spec", json.dumps(spec), "--out", d / "noise.pt")
    pre = {
        "experiment": "t",
        "seeds": [0, 1],
        "model": MODEL,
        "depth": 2,
        "pretrain": {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "batch_size": 32, "steps": 40, "log_every": 10},
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
    )
    return d


def train(d, condition, tag, pretrained=True):
    spec = {
        "experiment": "t",
        "seeds": [0, 1],
        "model": MODEL,
        "depth": 2,
        "dataset": "synthetic",
        "condition": condition,
        "noise": "n",
        "train": TRAIN,
    }
    extra = ["--pretrained", d / "pre.pt"] if pretrained and condition == "fa_w" else []
    stage(
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
    )
    return pd.read_parquet(d / f"{tag}.parquet")


def test_training_cli_twice_gives_identical_metrics(workdir):
    a = train(workdir, "fa_w", "run1")
    b = train(workdir, "fa_w", "run2")
    pd.testing.assert_frame_equal(a, b)
    assert set(a.metric) >= {"test_acc", "train_loss", "angle_deg", "erank", "wb_distance", "delta_angle_deg"}


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
        "--checkpoint", tmp_path / "x.pt", "--metrics", tmp_path / "x.parquet", check=False,
    )  # fmt: skip
    assert r.returncode != 0 and "Rerun pretraining" in r.stderr
    assert not (tmp_path / "x.parquet").exists()
