"""The model-family registry (noisefa.nets.families) and the CNN experiment through the config, the plan
and the stage CLIs: a family is one registry entry; the CNN's jobs, files and claims never mix with
the MLP's."""

import copy
import json
import math

import pandas as pd
import pytest
import torch
from pipeline_utils import TINY, stage, tiny_noise_set

from noisefa.nets import metrics as M
from noisefa.nets.details import hidden_features, spectrum_rows
from noisefa.nets.engine import weight_rows
from noisefa.nets.families import FAMILIES, architecture, build, family_of, family_of_arch, load_checkpoint, save_checkpoint
from noisefa.nets.starts import new_feedback
from noisefa.pipeline.config import ConfigError, load, validate
from noisefa.pipeline.experiments import CNN, experiments, model_block
from noisefa.pipeline.plan import Plan
from noisefa.pipeline.resources import estimate, forward_flops_per_sample

CNN_BLOCK = {"family": "cnn", "channels": [2, 4], "kernel": 3, "pool": 2, "hidden": 8}
MLP_BLOCK = {"hidden": 16, "batchnorm": False}


def test_every_family_builds_its_stack_from_a_model_block():
    mlp, cnn = build(MLP_BLOCK, 64, 10, 3, [0, 1]), build(CNN_BLOCK, 64, 10, 4, [0, 1])
    assert family_of_arch(mlp.arch).name == "mlp" and family_of_arch(cnn.arch).name == "cnn"
    assert cnn.arch.in_shape == (1, 8, 8) and cnn.arch.depth == 4 and cnn.arch.channels == (2, 4)
    assert set(FAMILIES) == {"mlp", "cnn"} and family_of({}).name == "mlp"  # an MLP block has no family key
    with pytest.raises(KeyError, match="unknown model family 'resnet'; known families"):
        family_of({"family": "resnet"})
    with pytest.raises(ValueError, match="has depth 4 .*not 3"):
        architecture(CNN_BLOCK, 64, 10, 3)  # a CNN's depth is fixed by its layers
    with pytest.raises(ValueError, match="not a square image"):
        architecture(CNN_BLOCK, 60, 10, 4)


def test_a_cnn_checkpoint_round_trips_and_an_mlp_s_keeps_its_old_payload(tmp_path):
    cnn = build(CNN_BLOCK, 64, 10, 4, [3, 5])
    save_checkpoint(cnn, tmp_path / "c.pt", note="x")
    back, meta = load_checkpoint(tmp_path / "c.pt")
    assert back.arch == cnn.arch and back.seeds == [3, 5] and meta == {"note": "x"}
    for k, v in cnn.state_dict().items():
        assert torch.equal(v, back.state_dict()[k]), k
    mlp = build(MLP_BLOCK, 64, 10, 2, [0])
    save_checkpoint(mlp, tmp_path / "m.pt")
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    assert payload["family"] == "mlp" and {"bn_momentum", "bn_eps"} <= set(payload)
    del payload["family"]  # a checkpoint written before the families: an MLP's
    torch.save(payload, tmp_path / "old.pt")
    assert load_checkpoint(tmp_path / "old.pt")[0].arch == mlp.arch
    # a CNN with BatchNorm keeps its statistics; a CNN checkpoint from before BatchNorm still loads
    bn = build({**CNN_BLOCK, "batchnorm": True}, 64, 10, 4, [0])
    bn.estimate_batchnorm(torch.randn(16, 64))
    save_checkpoint(bn, tmp_path / "bn.pt")
    assert torch.equal(load_checkpoint(tmp_path / "bn.pt")[0].bn_var0, bn.bn_var0)
    old = torch.load(tmp_path / "c.pt", weights_only=True)
    del old["bn_momentum"], old["bn_eps"], old["arch"]["batchnorm"]
    torch.save(old, tmp_path / "old_cnn.pt")
    assert load_checkpoint(tmp_path / "old_cnn.pt")[0].arch == cnn.arch


def test_kernel_metrics_read_the_unfolded_matrices_and_a_fresh_b_is_he_scaled():
    cnn = build({**CNN_BLOCK, "channels": [6, 12]}, 64, 10, 4, [0, 1, 2])
    rows = {(layer, metric): v for layer, metric, v in weight_rows(cnn)}
    W1 = cnn.weights[1].detach()
    torch.testing.assert_close(rows[("2", "erank")], M.effective_rank(W1.flatten(2)))
    spectra = pd.DataFrame(spectrum_rows(cnn, 0, 0.0))
    assert spectra[spectra.layer == "2"].groupby("seed").size().tolist() == [12] * 3  # min(out 12, in*k*k 54)
    hidden = hidden_features(cnn, torch.randn(5, 64))
    assert [tuple(h.shape) for h in hidden] == [(3, 5, 6 * 16), (3, 5, 12 * 4), (3, 5, 8)]
    for b, old in zip(new_feedback(cnn), cnn.feedback):
        fan_in = math.prod(old.shape[2:])
        assert abs(b.std().item() - math.sqrt(2 / fan_in)) < 0.25 * math.sqrt(2 / fan_in)
        assert not torch.equal(b, old)


def _tiny():
    return load(TINY)


def test_the_cnn_experiment_is_its_own_study_with_its_own_pretraining():
    cfg = _tiny()
    plan = Plan(cfg)
    e = experiments(cfg)[CNN]
    assert e.family == "cnn" and e.depths == (4,) and e.study == CNN
    assert not [j for j in plan.train("") if j.wc["experiment"] == CNN]  # never in the MLP's tables
    cnn_jobs = plan.train(CNN)
    assert {j.wc["condition"] for j in cnn_jobs} == set(cfg["cnn"]["conditions"])
    pre = plan.pretrain(CNN)
    assert [j.wc["arch"] for j in pre] == ["cnn"] and pre[0].wc["noise"] == cfg["cnn"]["noise"]
    assert set(pre) <= set(plan.jobs) and set(cnn_jobs) <= set(plan.jobs)
    entry = plan.cnn_entry()
    assert entry["experiment"] == CNN and len(entry["train"]) == len(cnn_jobs)
    assert list(entry["pretrain"].values()) == [["synthetic"]] and "/cnn/depth4/" in next(iter(entry["pretrain"]))
    layers = {k: v for k, v in cfg["cnn"]["model"].items() if k != "batchnorm"}
    assert model_block(cfg, "cnn") == {"family": "cnn", **layers}  # BatchNorm off: no key, the spec of before
    assert model_block(cfg, "bn") == {**cfg["model"], "batchnorm": True}  # an MLP's spec is what it was
    assert entry["batchnorm"] is False
    # BatchNorm (D3) for the CNN: in its model block and its claims' context when on, no key when off
    for bn, want in ((True, {"batchnorm": True}), (False, {})):
        on = copy.deepcopy(cfg)
        on["cnn"]["model"]["batchnorm"] = bn
        on = validate(on)
        assert model_block(on, "cnn") == {"family": "cnn", **layers, **want}
        assert Plan(on).cnn_entry()["batchnorm"] is bn
        assert architecture(model_block(on, "cnn"), 64, 10, 4).batchnorm is bn
    # the scheduler's estimate counts the CNN's convolutions: more work per image than the MLP's matrix products
    job = next(j for j in cnn_jobs if j.wc["condition"] == "bp")
    arch = architecture(model_block(cfg, "cnn"), 64, 10, 4)
    assert arch.macs == [2 * 9 * 64, 4 * 2 * 9 * 16, 8 * 16, 10 * 8]
    assert estimate(cfg, job, plan).flops > 0 and forward_flops_per_sample(arch) == 2 * sum(arch.macs)


@pytest.mark.parametrize(
    "change, needle",
    [
        ({"conditions": ["bp", "fa_wo", "fa_w", "dfa"]}, "cnn.conditions: ['dfa'] have no convolutional form"),
        ({"conditions": ["bp", "fa_wo"]}, "cnn.conditions: the claims compare BP, FA w/o and FA w/; add ['fa_w']"),
        ({"conditions": ["bp", "fa_wo", "fa_w", "fa_w"]}, "cnn.conditions: 'fa_w' is listed twice"),
        ({"noise": "nope"}, "cnn.noise"),
        ({"datasets": ["mnst"]}, "cnn.datasets"),
        ({"model": {"channels": [2, 4], "kernel": 3, "pool": 3, "hidden": 8}}, "cnn.model: does not fit synthetic"),
        ({"model": {"channels": [2, 4], "kernel": 4, "pool": 2, "hidden": 8}}, "kernel must be odd"),
        ({"pretrain": {"lr": -1}}, "cnn.pretrain -> pretrain.lr"),
        ({"train": {"epochs": 0}}, "cnn.train (synthetic) -> train.epochs"),
        ({"train": {"optimizer": "sgdd"}}, "cnn.train.optimizer"),
    ],
)
def test_a_bad_cnn_block_is_refused_with_its_key(change, needle):
    cfg = copy.deepcopy(_tiny())
    cfg["cnn"] = {**cfg["cnn"], **change}
    with pytest.raises(ConfigError) as err:
        validate(cfg)
    assert needle in str(err.value)


CNN_TRAIN = {"optimizer": "sgd", "lr": 0.01, "momentum": 0.9, "weight_decay": 0.0, "batch_size": 64, "epochs": 1,
             "evals_per_epoch": 2, "train_subset": 0, "eval_train_samples": 300, "probe_batch": 64,
             "gram_samples": 100}  # fmt: skip


def _cnn_job(d, rule, tag, condition, spec_extra, *files):
    spec = {"experiment": "cnn", "seeds": [0, 1], "model": CNN_BLOCK, "depth": 4, **spec_extra}
    outs = [a for k in ("checkpoint", "metrics", "details", "trajectory") for a in (f"--{k}", d / f"{tag}_{k}")]
    stage(rule, "--spec", json.dumps(spec), *files, *outs)
    return pd.read_parquet(d / f"{tag}_metrics")


def test_the_stages_pretrain_and_train_a_cnn_twice_identically(tmp_path):
    d = tmp_path
    stage("prepare_data", "--dataset", "synthetic", "--root", d / "tv", "--out", d / "data.pt")
    tiny_noise_set(d / "noise.pt")
    pre = {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "batch_size": 32, "steps": 30, "log_every": 10,
           "readout_probes": 100, "clip_grad_norm": 1.0}  # fmt: skip
    p = _cnn_job(d, "pretrain", "pre", "fa_w", {"pretrain": pre}, "--noise", d / "noise.pt")
    assert set(p.layer) >= {"1", "2", "3", "4"} and (p[p.metric == "angle_deg"].value < 180).all()
    runs = []
    for tag in ("a", "b"):
        extra = {"dataset": "synthetic", "condition": "fa_w", "noise": "n", "train": CNN_TRAIN}
        runs.append(_cnn_job(d, "train", tag, "fa_w", extra, "--data", d / "data.pt", "--pretrained", d / "pre_checkpoint"))
    pd.testing.assert_frame_equal(*runs)
    m = runs[0]
    assert set(m.metric) >= {"test_acc", "angle_deg", "erank", "delta_angle_deg", "gram_erank", "test_ece"}
    assert sorted(m[m.metric == "gram_erank"].layer.unique()) == ["1", "2", "3"]  # both conv maps and the hidden layer
    first = m[(m.step == 0) & (m.metric == "angle_deg")].set_index(["layer", "seed"]).value
    last_pre = p[(p.step == p.step.max()) & (p.metric == "angle_deg")].set_index(["layer", "seed"]).value
    # FA w/ starts where noise training left it
    pd.testing.assert_series_equal(first.sort_index(), last_pre.sort_index(), check_names=False)
