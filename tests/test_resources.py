from pathlib import Path

from noisefa import resources as R
from noisefa.config import load

REPO = Path(__file__).resolve().parents[1]
TRAIN = {"epochs": 10, "evals_per_epoch": 4, "eval_train_samples": 10000, "train_subset": 0}


def test_flops_per_sample_matches_hand_count():
    # 784x100 and 100x10: forward 2*79400, weight grads 2*79400, input grad of layer 2 only 2*1000
    assert R.train_flops_per_sample(784, 100, 10, 2) == 2 * 79400 * 2 + 2 * 1000


def test_train_estimate_scales_with_the_work():
    base = R.train_job(784, 10, 60000, 10000, 10, 2, 100, TRAIN)
    assert R.train_job(784, 10, 60000, 10000, 10, 2, 100, {**TRAIN, "epochs": 20}).flops > 1.9 * base.flops
    assert R.train_job(784, 10, 60000, 10000, 20, 2, 100, TRAIN).flops == 2 * base.flops
    bigger = R.train_job(27648, 10, 5000, 8000, 10, 2, 100, TRAIN)
    assert bigger.mem_mb > base.mem_mb  # 13k images of 27,648 inputs outweigh 70k of 784
    assert base.runtime_min >= R.MIN_RUNTIME_MIN and base.mem_mb > R.BASELINE_MB


def test_fixed_noise_set_costs_memory_fresh_noise_does_not():
    fixed = R.pretrain_job(3072, 10, 60000, 10, 3, 100, {"steps": 3000, "batch_size": 128})
    fresh = R.pretrain_job(3072, 10, 0, 10, 3, 100, {"steps": 3000, "batch_size": 128})
    assert fixed.mem_mb - fresh.mem_mb > 1.5 * 60000 * 3072 * 4 / 2**20
    assert fixed.flops == fresh.flops


def test_paper_budget_lists_every_job():
    cfg = load(REPO / "config/config.yaml")
    jobs = R.job_estimates(cfg)
    assert sum(1 for r, _, _ in jobs if r == "train") == 5 * 4 * 3
    assert sum(1 for r, _, _ in jobs if r == "pretrain") == 4 * 4  # 4 input shapes x 4 depths
    assert "total CPU-hours" in R.budget(cfg)
