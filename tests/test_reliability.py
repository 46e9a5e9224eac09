"""Faults injected: killed jobs, determinism, corrupt files, divergence, concurrency, disk."""

import json
import os
import re
import signal
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from pipeline_utils import REPO, run_ok, snakemake, stage, tiny_config

from noisefa import files
from noisefa.analysis.summary import exclude_diverged, summarise
from noisefa.data.datasets import Source, check_idx, load_prepared, prepare
from noisefa.errors import DatasetUnavailable

TRAIN_TARGET = "results/train/main/synthetic/depth2/fa_wo/seeds0-1/metrics.parquet"
SLOW = {"train": {"epochs": 40, "evals_per_epoch": 2}, "depths": [2]}


def _read(d: Path, rel=TRAIN_TARGET) -> pd.DataFrame:
    return pd.read_parquet(d / rel)


def test_killed_training_job_resumes_to_identical_metrics(tmp_path):
    ref_dir, kill_dir = tmp_path / "ref", tmp_path / "killed"
    ref_cfg = tiny_config(tmp_path / "ref.yaml", resume_every_s=-1, **SLOW)
    kill_cfg = tiny_config(tmp_path / "kill.yaml", resume_every_s=0, **SLOW)
    run_ok("--configfile", ref_cfg, "--cores", "1", "--directory", ref_dir, TRAIN_TARGET)

    proc = snakemake(
        "--configfile",
        kill_cfg,
        "--cores",
        "1",
        "--directory",
        kill_dir,
        TRAIN_TARGET,
        start_new_session=True,
        popen=True,
        log=tmp_path / "killed.log",
    )
    resume = kill_dir / "results/train/main/synthetic/depth2/fa_wo/seeds0-1/checkpoint.pt.resume"
    deadline = time.monotonic() + 240
    step = 0
    while time.monotonic() < deadline and proc.poll() is None:
        if resume.exists():
            try:
                step = torch.load(resume, weights_only=True)["step"]
            except Exception:  # being replaced right now
                step = 0
            if step >= 200:
                break
        time.sleep(0.2)
    assert proc.poll() is None, "the job finished before it could be killed; make it slower"
    os.killpg(proc.pid, signal.SIGKILL)  # the job and snakemake, as a walltime kill does
    proc.wait()
    assert step >= 200 and not (kill_dir / TRAIN_TARGET).exists()

    r = snakemake("--configfile", kill_cfg, "--cores", "1", "--directory", kill_dir, TRAIN_TARGET)
    assert r.returncode != 0 and "--unlock" in r.stderr  # a killed snakemake leaves its lock: the user is told
    run_ok("--configfile", kill_cfg, "--directory", kill_dir, "--unlock")
    run_ok("--configfile", kill_cfg, "--cores", "1", "--directory", kill_dir, TRAIN_TARGET, "--rerun-incomplete")
    log = (kill_dir / "results/logs/train/main/synthetic/depth2/fa_wo/seeds0-1.log").read_text()
    assert "resumed from step" in log
    pd.testing.assert_frame_equal(_read(ref_dir), _read(kill_dir))
    assert not resume.exists()  # cleaned up after success


def test_same_config_twice_is_bit_identical_and_cells_are_independent(tiny_run, tmp_path):
    """A second run with only depth 2 reproduces the depth-2 rows of the full tiny run exactly."""
    cfg = tiny_config(tmp_path / "d2.yaml", depths=[2])
    run_ok("--configfile", cfg, "--cores", "2", "--directory", tmp_path / "run", "results/tables/metrics.parquet")
    full = _read(tiny_run, "results/tables/metrics.parquet")
    full = full[full.depth == 2].reset_index(drop=True)
    pd.testing.assert_frame_equal(full, _read(tmp_path / "run", "results/tables/metrics.parquet"))


def test_truncated_idx_file_is_named_with_how_to_refetch(tmp_path):
    from test_datasets import _fake_idx

    raw = tmp_path / "tv" / "MNIST" / "raw"
    _fake_idx(raw)
    img = raw / "train-images-idx3-ubyte"
    assert check_idx(img) == 30
    img.write_bytes(img.read_bytes()[:-100])
    with pytest.raises(DatasetUnavailable) as e:
        prepare("mnist", Source(tmp_path / "tv"), tmp_path / "m.pt")
    assert str(img) in str(e.value) and "truncated" in str(e.value) and "rerun" in str(e.value)
    img.write_bytes(b"garbage!" * 10)
    with pytest.raises(DatasetUnavailable, match="not an IDX file"):
        check_idx(img)


def test_corrupt_prepared_file_says_how_to_regenerate(tmp_path):
    prepare("synthetic", Source(tmp_path), tmp_path / "s.pt")
    data = (tmp_path / "s.pt").read_bytes()
    (tmp_path / "s.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(RuntimeError) as e:
        load_prepared(tmp_path / "s.pt")
    assert f"snakemake --forcerun {tmp_path / 's.pt'}" in str(e.value) and "rule prepare_dataset" in str(e.value)


def _train_stage(tmp_path, on_divergence):
    stage("prepare_data", "--dataset", "synthetic", "--root", tmp_path, "--out", tmp_path / "s.pt")
    train = {"optimizer": "sgd", "lr": 1e20, "momentum": 0.9, "batch_size": 64, "epochs": 1,
             "evals_per_epoch": 2, "eval_train_samples": 300, "probe_batch": 64, "gram_samples": 100}  # fmt: skip
    spec = {"experiment": "t", "dataset": "synthetic", "depth": 2, "condition": "fa_wo", "seeds": [0, 1],
            "model": {"hidden": 16, "batchnorm": False}, "on_divergence": on_divergence, "train": train}  # fmt: skip
    return stage(
        "train", "--spec", json.dumps(spec), "--data", tmp_path / "s.pt",
        "--checkpoint", tmp_path / "c.pt", "--metrics", tmp_path / "m.parquet",
        "--details", tmp_path / "d.parquet", "--trajectory", tmp_path / "t.pt", check=False,
    )  # fmt: skip


def test_divergence_stops_with_the_cell_and_step(tmp_path):
    r = _train_stage(tmp_path, on_divergence="stop")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "ERROR: train dataset=synthetic depth=2 condition=fa_wo" in r.stderr and "at step" in r.stderr
    assert not (tmp_path / "m.parquet").exists() and not (tmp_path / "c.pt").exists()


def test_divergence_recorded_and_excluded_with_a_count(tmp_path):
    r = _train_stage(tmp_path, on_divergence="record")
    assert r.returncode == 0, r.stderr
    df = pd.read_parquet(tmp_path / "m.parquet")
    assert set(df[df.metric == "diverged"].seed) == {0, 1}
    s = summarise(df)
    assert s.diverged.all()
    kept, n = exclude_diverged(df)
    assert n == 2 and kept.empty


def test_exclude_diverged_keeps_other_networks():
    rows = [
        dict(
            experiment="e",
            dataset="d",
            noise="",
            depth=2,
            condition="fa_wo",
            seed=s,
            phase="data",
            step=st,
            epoch=st / 2,
            layer="",
            metric="test_acc",
            value=v,
        )
        for s, v in ((0, 0.5), (1, float("nan")))
        for st in (0, 1, 2)
    ]
    rows.append({**rows[-1], "metric": "diverged", "value": 1.0})
    kept, n = exclude_diverged(pd.DataFrame(rows))
    assert n == 1 and set(kept.seed) == {0}


def test_atomic_write_leaves_nothing_behind_on_failure(tmp_path):
    target = tmp_path / "out.pt"
    target.write_bytes(b"previous result")

    def crash(tmp):
        Path(tmp).write_bytes(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        files.atomic_write(target, crash)
    assert target.read_bytes() == b"previous result"  # nothing computed is lost or half-overwritten
    assert [p.name for p in tmp_path.iterdir()] == ["out.pt"]


def test_quick_dag_has_one_fetch_job_and_no_shared_outputs(tmp_path):
    r = snakemake("--configfile", REPO / "config/quick.yaml", "--directory", tmp_path, "-n", "--quiet", "rules")
    assert r.returncode == 0, r.stderr
    r = snakemake("--configfile", REPO / "config/quick.yaml", "--directory", tmp_path, "--dag")
    assert r.returncode == 0, r.stderr
    dot = r.stdout
    labels = {}
    for line in dot.splitlines():
        if "[label" in line and "->" not in line:
            node = line.strip().split("[")[0].strip()
            labels[node] = re.search(r'label = "([^"\\\\]+)', line).group(1)
    edges = [tuple(x.strip().rstrip(";") for x in line.split("->")) for line in dot.splitlines() if "->" in line]
    fetch = [n for n, lab in labels.items() if lab == "fetch_dataset"]
    assert len(fetch) == 1  # only fashion_mnist needs a fetch; one job, others wait for it
    waits = {labels[b] for a, b in edges if a in fetch}
    assert waits == {"download", "prepare_dataset"}
    # Downloads first: every branch starts after `download` (a failed fetch leaves nothing to compute).
    roots = {labels[n] for n in labels if n not in {b for _, b in edges}}
    assert roots == {"fetch_dataset"}
    assert {labels[b] for a, b in edges if labels[a] == "download"} == {"make_noise", "prepare_dataset"}
    r = snakemake("--configfile", REPO / "config/quick.yaml", "--directory", tmp_path, "-n", "--printshellcmds")
    outs = [line.split("output:", 1)[1].strip() for line in r.stdout.splitlines() if line.strip().startswith("output:")]
    flat = [o.strip() for line in outs for o in line.split(",")]
    assert len(flat) == len(set(flat)) > 20  # no two jobs write the same file
    specs = [line for line in r.stdout.splitlines() if "--spec" in line]
    assert specs and not [s for s in specs if '"input"' in s or '"output"' in s]  # a spec holds parameters, not paths


def test_default_tiny_run_is_complete_without_leftover_resume_files(tiny_run):
    assert not list((tiny_run / "results").rglob("*.resume"))
    assert not list((tiny_run / "results").rglob("*.tmp"))
