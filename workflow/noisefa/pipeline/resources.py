"""What a job asks a scheduler for, derived from the work it does.

- **Memory**: the job holds a dataset's train and test images as uint8 and one standardised
  float32 copy, or the chunks of a fixed noise set that its current batches need (the set is
  regenerated, never held: ``noise.FixedNoiseBatches``); plus the stacked model (W, B,
  gradient, momentum), plus the interpreter with torch and pandas loaded; requests are
  ``MEM_MARGIN`` above that. Every job of the paper config asks for at most 3.4 GB.
- **Runtime**: the job's floating-point work (training: forward, input and weight
  gradients per sample; evaluations: forward passes) divided by the training throughput
  measured by ``python -m noisefa.tools.bench`` on one CPU thread, times a safety factor.

``python -m noisefa.pipeline.resources --configfile config/config.yaml`` prints the budget of a
config: jobs per rule, CPU-hours, and the largest memory request.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

from ..data.datasets import get_spec
from ..data.noise import NOISE_CHUNK, NOISE_HOLD_MB
from ..nets.families import architecture
from ..nets.model import Architecture
from .experiments import experiment_arch, model_block, ood_tests, pretrain_block, train_config
from .plan import COMPUTE_RULES, Plan

# Memory, calibrated on Snakemake's benchmark files (max_rss): tiny-config jobs peak at 611-624 MB
# (python, torch, pandas); a Fashion-MNIST train job of 10 networks at 927 MB, where this model
# gives 944 MB before the margin.
BASELINE_MB = 650
LOAD_BYTES_PER_PIXEL = 5  # the prepared file's uint8 images and one float32 copy, standardised in place
MEM_MARGIN = 1.25  # requests are this much above the estimate
# FLOP/s one CPU thread sustains in this engine, rounded down for shared, noisy nodes: noisefa.tools.bench
# measured 161k model·samples/s at depth 2, batch 128 (~319 kFLOP each) = ~51 GFLOP/s, 53% of a
# 94 GFLOP/s torch.mm, on the 2-core build machine (single repeats swing by ±30%); evaluation passes
# run at ~70 GFLOP/s. On the quick config this predicts 423 job-seconds against 521 measured.
CPU_FLOPS_PER_THREAD = 35e9
SAFETY = 3.0  # runtime requests are this many times the estimate (shared, noisy nodes; evaluation)
MIN_RUNTIME_MIN = 10
OOD_MEM_MB = 2000  # a trained checkpoint, one test set and its transformed copies


def mlp(in_dim: int, hidden: int, classes: int, depth: int) -> Architecture:
    """The MLP of this shape (what the cost functions below take: any family's architecture)."""
    return Architecture(in_dim, classes, depth, hidden)


def train_flops_per_sample(arch) -> float:
    """Forward (2 per MAC) + weight gradient (2 per MAC) + input gradient (2 per MAC, not layer 1)."""
    m = arch.macs
    return 2 * sum(m) * 2 + 2 * sum(m[1:])


def forward_flops_per_sample(arch) -> float:
    return 2 * sum(arch.macs)


@dataclass(frozen=True)
class Estimate:
    flops: float
    mem_mb: int

    @property
    def cpu_seconds(self) -> float:
        return self.flops / CPU_FLOPS_PER_THREAD

    @property
    def runtime_min(self) -> int:
        """Minutes to request on one CPU thread (SLURM's `runtime` resource)."""
        return max(MIN_RUNTIME_MIN, math.ceil(SAFETY * self.cpu_seconds / 60))


def _model_mb(n_models: int, arch) -> float:
    return 4 * n_models * arch.n_weights * 4 / 2**20  # W, B, grad, momentum


def train_job(arch, n_train, n_test, n_models, train: dict) -> Estimate:
    n = train.get("train_subset") or n_train
    in_dim = arch.in_dim
    per_epoch = n * train_flops_per_sample(arch)
    evals = train["epochs"] * train["evals_per_epoch"] + 1  # the test set at each
    ends = 2 * (min(train["eval_train_samples"], n) + n_test)  # the training subset and the ECE pass, first and last step
    eval_flops = (evals * n_test + ends) * forward_flops_per_sample(arch)
    flops = n_models * (train["epochs"] * per_epoch + eval_flops)
    data_mb = LOAD_BYTES_PER_PIXEL * (n_train + n_test) * in_dim / 2**20
    mem = BASELINE_MB + data_mb + _model_mb(n_models, arch)
    return Estimate(flops, int(math.ceil(MEM_MARGIN * mem)))


def pretrain_job(arch, n_noise, n_models, pretrain: dict) -> Estimate:
    """n_noise: samples of a fixed noise set (0 for fresh noise, generated per batch). A fixed set
    of at most ``NOISE_HOLD_MB`` is drawn once and held; a larger one is regenerated chunk by chunk (``noise.FixedNoiseBatches``),
    each network holding the chunks of one batch (two at most); a batch is gathered and stacked
    once more on its way in."""
    in_dim = arch.in_dim
    flops = n_models * pretrain["steps"] * pretrain["batch_size"] * train_flops_per_sample(arch)
    batches = n_models * 2 * pretrain["batch_size"] * in_dim * 4 / 2**20
    whole = n_noise * in_dim * 4 / 2**20  # a set up to NOISE_HOLD_MB is drawn once and held
    chunks = n_models * 2 * min(n_noise, NOISE_CHUNK) * in_dim * 4 / 2**20
    noise_mb = batches + (0 if not n_noise else whole if whole <= NOISE_HOLD_MB else chunks)
    mem = BASELINE_MB + noise_mb + _model_mb(n_models, arch)
    return Estimate(flops, int(math.ceil(MEM_MARGIN * mem)))


def meta_job(arch, n_noise, n_models, pretrain: dict, meta: dict, n_tasks: int) -> Estimate:
    """The noise training retraced, plus at each snapshot `steps` adaptation steps and `steps + 1`
    evaluations per task."""
    base = pretrain_job(arch, n_noise, n_models, pretrain)
    per_task = meta["steps"] * meta["batch_size"] * train_flops_per_sample(arch)
    per_task += (meta["steps"] + 1) * meta["eval_samples"] * forward_flops_per_sample(arch)
    return Estimate(base.flops + n_models * meta["snapshots"] * n_tasks * per_task, base.mem_mb + 500)


def _n_noise(cfg: dict, name: str) -> int:
    spec = cfg["noise"]["sets"][name]
    return spec["n_samples"] if spec["protocol"] == "fixed" else 0


def _arch(cfg: dict, arch_key: str, dim: int, classes: int, depth: int):
    return architecture(model_block(cfg, arch_key), dim, classes, depth)


def _cell_arch(cfg: dict, job):
    w, spec = job.wc, get_spec(job.wc["dataset"])
    depth = int(w["depth"])
    return _arch(cfg, experiment_arch(cfg, w["experiment"], depth), spec.in_dim, spec.n_classes, depth)


def _train(cfg, job, plan):
    w, spec = job.wc, get_spec(job.wc["dataset"])
    return train_job(_cell_arch(cfg, job), *spec.sizes, len(job.seeds), train_config(cfg, w["experiment"], w["dataset"]))


def _pretrain(cfg, job, plan):
    w, depth = job.wc, int(job.wc["depth"])
    arch = _arch(cfg, w["arch"], int(w["dim"]), int(w["classes"]), depth)
    return pretrain_job(arch, _n_noise(cfg, w["noise"]), len(job.seeds), pretrain_block(cfg, w["arch"], depth))


def _data_then_noise(cfg, job, plan):
    """Noise training of trained networks: the pretraining job of the same noise set and shape."""
    return _pretrain(cfg, plan.noise_of_data_then_noise(job), plan)


def _meta(cfg, job, plan):
    w, depth = job.wc, int(job.wc["depth"])
    arch = _arch(cfg, w["arch"], int(w["dim"]), int(w["classes"]), depth)
    return meta_job(arch, _n_noise(cfg, w["noise"]), len(job.seeds), pretrain_block(cfg, w["arch"], depth), cfg["meta"],
                    len(cfg["meta"]["tasks"]))  # fmt: skip


def _ood(cfg, job, plan):
    spec = get_spec(job.wc["dataset"])
    n_tests = sum(len(m) for m in ood_tests(cfg).values())
    ext = sum(sum(get_spec(x).sizes) for x in cfg["ood"]["external"])
    per = forward_flops_per_sample(_cell_arch(cfg, job))
    return Estimate(len(job.seeds) * (n_tests * spec.sizes[1] + ext) * per, OOD_MEM_MB)


ESTIMATORS = {"train": _train, "pretrain": _pretrain, "data_then_noise": _data_then_noise, "meta": _meta, "ood": _ood}


def estimate(cfg: dict, job, plan=None) -> Estimate:
    """The estimate of one planned job (``noisefa.pipeline.plan.Job``) of a validated config."""
    return ESTIMATORS[job.rule](cfg, job, plan or Plan(cfg))


def job_estimates(cfg: dict) -> list[tuple[str, str, Estimate]]:
    """(rule, job, estimate) for every compute job of a validated config, as ``noisefa.pipeline.plan`` plans them."""
    p = Plan(cfg)
    return [(j.rule, j.label, estimate(cfg, j, p)) for j in p.jobs]


def budget(cfg: dict) -> str:
    rows = job_estimates(cfg)
    lines = [f"{'rule':16} {'jobs':>5} {'CPU-hours':>10} {'largest job h':>14} {'max mem GB':>11}"]
    for rule in COMPUTE_RULES:
        r = [e for k, _, e in rows if k == rule]
        if r:
            lines.append(
                f"{rule:16} {len(r):5d} {sum(e.cpu_seconds for e in r) / 3600:10.1f} "
                f"{max(e.cpu_seconds for e in r) / 3600:14.2f} {max(e.mem_mb for e in r) / 1024:11.1f}"
            )
    total = sum(e.cpu_seconds for _, _, e in rows) / 3600
    lines.append(f"total CPU-hours (1 thread per job, at {CPU_FLOPS_PER_THREAD / 1e9:.0f} GFLOP/s): {total:.1f}")
    return "\n".join(lines)


def main(argv=None):
    from .config import load

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configfile", required=True)
    p.add_argument("--jobs", action="store_true", help="also list every job's estimate")
    a = p.parse_args(argv)
    cfg = load(a.configfile)
    if a.jobs:
        for rule, job, e in job_estimates(cfg):
            print(f"{rule:9} {job:45} {e.cpu_seconds / 60:8.1f} CPU-min  request {e.runtime_min:5d} min  {e.mem_mb:6d} MB")
    print(budget(cfg))


if __name__ == "__main__":
    main()
