"""The GPU check's projection: measured seconds of the main sweep over its estimate, times a
config's whole estimate."""

from pathlib import Path

import pandas as pd
import pytest

from noisefa.errors import UserError
from noisefa.pipeline import paths, projection
from noisefa.pipeline.config import load
from noisefa.pipeline.resources import job_estimates

REPO = Path(__file__).resolve().parents[1]


def test_the_main_sweep_is_the_main_training_jobs_and_their_pretraining():
    cfg = load(REPO / "config" / "paper_offline.yaml")
    jobs = projection.main_sweep(cfg)
    train = [j for j in jobs if j.rule == "train"]
    assert {j.wc["experiment"] for j in train} == {"main"}
    assert len(train) == 2 * 4 * 3  # fashion_mnist and mnist5k x depths 2-5 x bp, fa_wo, fa_w
    assert sorted(int(j.wc["depth"]) for j in jobs if j.rule == "pretrain") == [2, 3, 4, 5]
    assert all(t.startswith(("results/train/main/", "results/pretrain/")) for t in projection.targets(cfg))


def test_projection_scales_the_whole_estimate_by_the_measured_ratio(tmp_path):
    cfg = load(REPO / ".test" / "config" / "config.yaml")
    jobs = projection.main_sweep(cfg)
    for j in jobs[:-1]:  # every job ran but the last, each at half its estimate
        f = tmp_path / j.file(paths.job_benchmark(j.rule))
        f.parent.mkdir(parents=True, exist_ok=True)
        est = projection.measured(cfg, tmp_path).set_index("job").estimate_s[j.label]
        pd.DataFrame({"s": [est / 2], "cpu_time": [est / 2]}).to_csv(f, sep="\t", index=False)
    sample = projection.measured(cfg, tmp_path)
    assert sample.seconds.isna().sum() == 1
    r = projection.project(sample, cfg)
    total = sum(e.cpu_seconds for _, _, e in job_estimates(cfg))
    assert r["jobs_measured"] == len(jobs) - 1 and r["ratio"] == pytest.approx(0.5)
    assert r["projected_h"] == pytest.approx(total / 2 / 3600)
    side_by_side = projection.project(sample, cfg, elapsed_s=sample.estimate_s.iloc[:-1].sum() / 8)
    assert side_by_side["ratio"] == pytest.approx(1 / 8)


def test_nothing_measured_is_an_error_that_says_what_to_run(tmp_path):
    cfg = load(REPO / ".test" / "config" / "config.yaml")
    with pytest.raises(UserError, match="run the targets first"):
        projection.project(projection.measured(cfg, tmp_path), cfg)
