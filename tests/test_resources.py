from pathlib import Path

from noisefa.data.noise import NOISE_CHUNK
from noisefa.pipeline import resources as R
from noisefa.pipeline.config import load

REPO = Path(__file__).resolve().parents[1]
TRAIN = {"epochs": 10, "evals_per_epoch": 4, "eval_train_samples": 10000, "train_subset": 0}


def test_flops_per_sample_matches_hand_count():
    # 784x100 and 100x10: forward 2*79400, weight grads 2*79400, input grad of layer 2 only 2*1000
    assert R.train_flops_per_sample(R.mlp(784, 100, 10, 2)) == 2 * 79400 * 2 + 2 * 1000


def test_train_estimate_scales_with_the_work():
    base = R.train_job(R.mlp(784, 100, 10, 2), 60000, 10000, 10, TRAIN)
    assert R.train_job(R.mlp(784, 100, 10, 2), 60000, 10000, 10, {**TRAIN, "epochs": 20}).flops > 1.9 * base.flops
    assert R.train_job(R.mlp(784, 100, 10, 2), 60000, 10000, 20, TRAIN).flops == 2 * base.flops
    bigger = R.train_job(R.mlp(27648, 100, 10, 2), 5000, 8000, 10, TRAIN)
    assert bigger.mem_mb > base.mem_mb  # 13k images of 27,648 inputs outweigh 70k of 784
    assert base.runtime_min >= R.MIN_RUNTIME_MIN and base.mem_mb > R.BASELINE_MB


def test_fixed_noise_set_costs_memory_fresh_noise_does_not():
    pre = {"steps": 3000, "batch_size": 128}
    fixed = R.pretrain_job(R.mlp(3072, 100, 10, 3), 60000, 10, pre)
    fresh = R.pretrain_job(R.mlp(3072, 100, 10, 3), 0, 10, pre)
    # a set of 60k x 3072 floats (703 MB, under NOISE_HOLD_MB) is drawn once and held
    whole = 60000 * 3072 * 4 / 2**20
    assert R.MEM_MARGIN * whole < fixed.mem_mb - fresh.mem_mb <= R.MEM_MARGIN * (whole + 10 * 2 * 128 * 3072 * 4 / 2**20) + 1
    assert fixed.flops == fresh.flops
    # STL-10's shape (6.6 GB as a set) is regenerated chunk by chunk: two chunks per network
    big, big_fresh = (
        R.pretrain_job(R.mlp(27648, 100, 10, 3), 60000, 10, pre),
        R.pretrain_job(R.mlp(27648, 100, 10, 3), 0, 10, pre),
    )
    assert 0 < big.mem_mb - big_fresh.mem_mb <= R.MEM_MARGIN * 10 * 2 * NOISE_CHUNK * 27648 * 4 / 2**20 + 1
    assert big.mem_mb < 4096


def test_paper_budget_lists_exactly_the_jobs_snakemake_plans(tmp_path):
    """The paper config's dry run: every job of every figure, all five datasets and depths; the budget
    estimates exactly those jobs."""
    from collections import Counter

    from pipeline_utils import snakemake

    cfg = load(REPO / "config/config.yaml")
    jobs = Counter(r for r, _, _ in R.job_estimates(cfg))
    r = snakemake("--configfile", REPO / "config/config.yaml", "--directory", tmp_path, "-n", "--quiet", "rules")
    assert r.returncode == 0, r.stderr[-3000:]
    planned = {}
    for line in (r.stdout + r.stderr).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            planned[parts[0]] = int(parts[1])
    for rule in ("pretrain", "train", "data_then_noise", "meta", "ood"):
        assert planned.get(rule) == jobs[rule], rule
    # main sweep, Figure 2, Figure 4e,f's sizes, the rules; the protocol study (Fashion-MNIST, depths 2-3):
    # without BatchNorm the main sweep's BP / FA w/o and its FA w/ on the 60k set are reused, so FA w/
    # on fresh, 1k, 10k (3 x 2 depths); with BatchNorm BP, FA w/o (2 x 2) and FA w/ on all four sets (4 x 2)
    # and the controls: 4 at every main-sweep cell, fa_aligned at 5 fixed angles on MNIST at depths 2-3;
    # the CNN: 9 conditions on Fashion-MNIST, CIFAR-10 and CIFAR-100; less the cells that repeat another's
    # computation (Plan.source): the rules' BP, FA w/o and FA w/ on MNIST at depths 2-3 are the main
    # sweep's networks, the protocol study's FA w/ on fresh noise without BatchNorm (Fashion-MNIST, depths
    # 2-3) the fa_fresh control's
    assert jobs["train"] == 5 * 4 * 3 + 3 + 4 * 3 + 7 * 2 + 3 * 2 + 2 * 2 + 4 * 2 + 5 * 4 * 4 + 5 * 2 + 3 * 9 - 3 * 2 - 2
    # Figure 5: MNIST networks of every depth and condition, and the controls' there; the protocol
    # study's 24 cells (C14)
    assert jobs["ood"] == 4 * 3 + 4 * 4 + (2 * 2 + 4 * 2) * 2
    # Figure 6's (which also adapts from the controls), and one per other (noise set, BatchNorm) of the
    # study (C16), fresh noise's among them (the fa_fresh control's C16)
    assert jobs["meta"] == 1 + 7
    assert {f"figure{i}" for i in range(1, 7)} | {"figure_rules"} <= set(planned) and planned["table1"] == 1
    assert "total CPU-hours" in R.budget(cfg)
