"""What a job asks a scheduler for, derived from the work it does.

- **Memory**: the job holds its inputs as float32 tensors (a dataset's train and test
  images, or a fixed noise set) and, while standardising them, about three copies at once;
  plus the stacked model (W, B, gradient, momentum), plus the interpreter with torch and
  pandas loaded.
- **Runtime**: the job's floating-point work (training: forward, input and weight
  gradients per sample; evaluations: forward passes) divided by the training throughput
  measured by ``python -m noisefa.bench`` on one CPU thread, times a safety factor.

``python -m noisefa.resources --configfile config/config.yaml`` prints the budget of a
config: jobs per rule, CPU-hours, and the largest memory request.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

BASELINE_MB = 800  # peak RSS of a training job on the tiny synthetic dataset (python, torch, pandas)
LOAD_COPIES = 3  # uint8 -> float -> standardised: peak copies of the data while loading
# FLOP/s one CPU thread sustains in this engine, rounded down for shared, noisy nodes: noisefa.bench
# measured 161k model·samples/s at depth 2, batch 128 (~319 kFLOP each) = ~51 GFLOP/s, 53% of a
# 94 GFLOP/s torch.mm, on the 2-core build machine (single repeats swing by ±30%); evaluation passes
# run at ~70 GFLOP/s. On the quick config this predicts 423 job-seconds against 521 measured.
CPU_FLOPS_PER_THREAD = 35e9
SAFETY = 3.0  # runtime requests are this many times the estimate (shared, noisy nodes; evaluation)
MIN_RUNTIME_MIN = 10


def macs(in_dim: int, hidden: int, classes: int, depth: int) -> list[int]:
    dims = [in_dim] + [hidden] * (depth - 1) + [classes]
    return [dims[i] * dims[i + 1] for i in range(depth)]


def train_flops_per_sample(in_dim: int, hidden: int, classes: int, depth: int) -> float:
    """Forward (2 per MAC) + weight gradient (2 per MAC) + input gradient (2 per MAC, not layer 1)."""
    m = macs(in_dim, hidden, classes, depth)
    return 2 * sum(m) * 2 + 2 * sum(m[1:])


def forward_flops_per_sample(in_dim: int, hidden: int, classes: int, depth: int) -> float:
    return 2 * sum(macs(in_dim, hidden, classes, depth))


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


def _model_mb(n_models: int, in_dim: int, hidden: int, classes: int, depth: int) -> float:
    return 4 * n_models * sum(macs(in_dim, hidden, classes, depth)) * 4 / 2**20  # W, B, grad, momentum


def train_job(in_dim, classes, n_train, n_test, n_models, depth, hidden, train: dict) -> Estimate:
    n = train.get("train_subset") or n_train
    per_epoch = n * train_flops_per_sample(in_dim, hidden, classes, depth)
    evals = train["epochs"] * train["evals_per_epoch"] + 1
    eval_samples = min(train["eval_train_samples"], n) + n_test
    eval_flops = evals * eval_samples * forward_flops_per_sample(in_dim, hidden, classes, depth)
    flops = n_models * (train["epochs"] * per_epoch + eval_flops)
    data_mb = LOAD_COPIES * (n_train + n_test) * in_dim * 4 / 2**20
    mem = BASELINE_MB + data_mb + _model_mb(n_models, in_dim, hidden, classes, depth)
    return Estimate(flops, int(math.ceil(1.5 * mem)))


def pretrain_job(in_dim, classes, n_noise, n_models, depth, hidden, pretrain: dict) -> Estimate:
    """n_noise: samples of a fixed noise set (0 for fresh noise, generated per batch)."""
    flops = n_models * pretrain["steps"] * pretrain["batch_size"] * train_flops_per_sample(in_dim, hidden, classes, depth)
    noise_mb = 2 * n_noise * in_dim * 4 / 2**20  # the set, and its copy on the way in
    mem = BASELINE_MB + noise_mb + _model_mb(n_models, in_dim, hidden, classes, depth)
    return Estimate(flops, int(math.ceil(1.5 * mem)))


def meta_job(in_dim, classes, n_noise, n_models, depth, hidden, pretrain: dict, meta: dict, n_tasks: int) -> Estimate:
    """The noise training retraced, plus at each snapshot `steps` adaptation steps and `steps + 1`
    evaluations per task."""
    base = pretrain_job(in_dim, classes, n_noise, n_models, depth, hidden, pretrain)
    per_task = meta["steps"] * meta["batch_size"] * train_flops_per_sample(in_dim, hidden, classes, depth)
    per_task += (meta["steps"] + 1) * meta["eval_samples"] * forward_flops_per_sample(in_dim, hidden, classes, depth)
    return Estimate(base.flops + n_models * meta["snapshots"] * n_tasks * per_task, base.mem_mb + 500)


def job_estimates(cfg: dict) -> list[tuple[str, str, Estimate]]:
    """(rule, job, estimate) for every compute job of a validated config (experiments.py plans them)."""
    from .conditions import get_condition
    from .datasets import get_spec
    from .experiments import (
        batchnorm_at,
        experiment_batchnorm,
        experiment_noise,
        meta_shape,
        noise_sweep,
        ood_cells,
        ood_tests,
        pretrain_config,
        protocol_meta,
        protocol_ood_cells,
        train_cells,
        train_config,
    )

    hidden, out = cfg["model"]["hidden"], []
    groups = [min(cfg["seeds_per_job"], cfg["n_seeds"] - lo) for lo in range(0, cfg["n_seeds"], cfg["seeds_per_job"])]

    def n_noise(name):
        spec = cfg["noise"]["sets"][name]
        return spec["n_samples"] if spec["protocol"] == "fixed" else 0

    pretrains = {}  # (noise, in_dim, classes, depth, batchnorm) -> label
    use = cfg["noise"]["use"]
    for e, d, depth, c in train_cells(cfg):
        spec = get_spec(d)
        if get_condition(c).pretrained:
            pretrains[(experiment_noise(cfg, e), spec.in_dim, spec.n_classes, depth, experiment_batchnorm(cfg, e, depth))] = None
        for g in groups:
            est = train_job(spec.in_dim, spec.n_classes, *spec.sizes, g, depth, hidden, train_config(cfg, e, d))
            out.append(("train", f"{e} {d} depth{depth} {c} ({g} nets)", est))
    for noise, dim, classes, depth in noise_sweep(cfg):
        pretrains[(noise, dim, classes, depth, batchnorm_at(cfg, depth))] = None
    for noise, dim, classes, depth, _ in pretrains:
        for g in groups:
            est = pretrain_job(dim, classes, n_noise(noise), g, depth, hidden, pretrain_config(cfg, depth))
            out.append(("pretrain", f"{noise} in{dim}_c{classes} depth{depth} ({g} nets)", est))
    if cfg["figure2"]["enabled"] and "fa_wo" in cfg["conditions"]:
        spec = get_spec(cfg["figure2"]["dataset"])
        for g in groups:
            f2_depth = cfg["figure2"]["depth"]
            est = pretrain_job(spec.in_dim, spec.n_classes, n_noise(use), g, f2_depth, hidden, pretrain_config(cfg, f2_depth))
            out.append(("data_then_noise", f"figure2 {spec.name} ({g} nets)", est))
    shape = meta_shape(cfg)
    if shape:
        metas = [use] + [noise for noise, _ in protocol_meta(cfg)]  # Figure 6's, then the protocol study's
        for noise in metas:
            for g in groups:
                est = meta_job(
                    *shape,
                    n_noise(noise),
                    g,
                    cfg["meta"]["depth"],
                    hidden,
                    pretrain_config(cfg, cfg["meta"]["depth"]),
                    cfg["meta"],
                    len(cfg["meta"]["tasks"]),
                )
                out.append(("meta", f"{noise} in{shape[0]}_c{shape[1]} depth{cfg['meta']['depth']} ({g} nets)", est))
    n_tests = sum(len(m) for m in ood_tests(cfg).values())
    for _, d, depth, c in ood_cells(cfg) + protocol_ood_cells(cfg):
        spec = get_spec(d)
        ext = sum(sum(get_spec(x).sizes) for x in cfg["ood"]["external"])
        for g in groups:
            flops = g * (n_tests * spec.sizes[1] + ext) * forward_flops_per_sample(spec.in_dim, hidden, spec.n_classes, depth)
            out.append(("ood", f"{d} depth{depth} {c} ({g} nets)", Estimate(flops, 2000)))
    return out


def budget(cfg: dict) -> str:
    rows = job_estimates(cfg)
    lines = [f"{'rule':16} {'jobs':>5} {'CPU-hours':>10} {'largest job h':>14} {'max mem GB':>11}"]
    for rule in ("pretrain", "train", "data_then_noise", "meta", "ood"):
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
