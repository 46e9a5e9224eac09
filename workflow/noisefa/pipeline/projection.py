"""How long would a whole config take where a sample of its jobs has run? (The GPU check.)

A run of a config's main sweep (its ``main`` training jobs and the pretraining they start from)
leaves one Snakemake benchmark file per job. Their measured seconds over those jobs' CPU
estimates (``noisefa.pipeline.resources``) is the machine's speed relative to the estimate; the projection
of another config is its whole estimate times that ratio. It assumes the measured machine keeps
the same ratio on the other jobs (OOD, meta and the sweeps are the same kinds of products).

    python -m noisefa.pipeline.projection --configfile config/paper_offline.yaml --targets
    python -m noisefa.pipeline.projection --configfile config/paper_offline.yaml --project config/config.yaml
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from ..cli import user_errors
from ..errors import UserError
from . import paths
from .plan import Job, Plan
from .resources import estimate, job_estimates


def main_sweep(cfg: dict) -> list[Job]:
    """The main study's training jobs and the pretraining jobs their FA w/ networks start from."""
    plan = Plan(cfg)
    train = [j for j in plan.train(None) if j.wc["experiment"] == "main"]
    return list(dict.fromkeys([p for j in train if (p := plan.pretrain_of_train(j))] + train))


def targets(cfg: dict) -> list[str]:
    """Snakemake targets of the main sweep: one output file per job."""
    out = {"train": paths.TRAIN_METRICS, "pretrain": paths.PRETRAIN_METRICS}
    return [j.file(out[j.rule]) for j in main_sweep(cfg)]


def measured(cfg: dict, root: Path = Path(".")) -> pd.DataFrame:
    """One row per main-sweep job: its measured wall seconds (``s`` of its benchmark file; NaN if
    it has not run) beside its CPU estimate."""
    plan = Plan(cfg)
    rows = []
    for j in main_sweep(cfg):
        f = root / j.file(paths.job_benchmark(j.rule))
        s = float(pd.read_csv(f, sep="\t")["s"].iloc[-1]) if f.exists() else float("nan")
        rows.append({"rule": j.rule, "job": j.label, "seconds": s, "estimate_s": estimate(cfg, j, plan).cpu_seconds})
    return pd.DataFrame(rows)


def project(sample: pd.DataFrame, target_cfg: dict, elapsed_s: float | None = None) -> dict:
    """The target config's wall time on the sample's machine: from the jobs' own seconds (one job
    at a time), or from ``elapsed_s``, the sweep's wall clock when its jobs ran side by side (the
    projection then assumes the target runs at the same concurrency)."""
    done = sample.dropna(subset=["seconds"])
    if done.empty:
        raise UserError("no main-sweep job has a benchmark file: run the targets first (--targets)")
    ratio = (elapsed_s if elapsed_s is not None else done.seconds.sum()) / done.estimate_s.sum()
    total = sum(e.cpu_seconds for _, _, e in job_estimates(target_cfg))
    return {
        "jobs_measured": len(done),
        "jobs_planned": len(sample),
        "measured_s": elapsed_s if elapsed_s is not None else done.seconds.sum(),
        "estimated_s": done.estimate_s.sum(),
        "ratio": ratio,
        "target_estimate_h": total / 3600,
        "projected_h": total * ratio / 3600,
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configfile", required=True, help="the config whose main sweep ran")
    p.add_argument("--targets", action="store_true", help="print the main sweep's Snakemake targets")
    p.add_argument("--project", metavar="CONFIG", help="project this config's wall time from the measured jobs")
    p.add_argument("--elapsed", type=float, help="the sweep's wall seconds, if its jobs ran side by side")
    p.add_argument("--root", type=Path, default=Path("."), help="where results/ is")
    a = p.parse_args(argv)
    with user_errors():
        _main(a)


def _main(a) -> None:
    from .config import load

    cfg = load(a.configfile)
    if a.targets:
        print(" ".join(targets(cfg)))
        return
    sample = measured(cfg, a.root)
    print(sample.to_string(index=False))
    if a.project:
        r = project(sample, load(a.project), a.elapsed)
        how = "at the sweep's concurrency" if a.elapsed is not None else "one job at a time"
        print(
            f"\n{r['jobs_measured']} of {r['jobs_planned']} main-sweep jobs measured: {r['measured_s']:.0f} s against "
            f"{r['estimated_s']:.0f} CPU-s estimated (ratio {r['ratio']:.3f}); {a.project}: estimate "
            f"{r['target_estimate_h']:.1f} CPU-h, projected {r['projected_h']:.2f} h here, {how}"
        )


if __name__ == "__main__":
    main()
