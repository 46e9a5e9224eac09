# Shared definitions: validated config, paths, parameter blocks and target functions.
import json
import shlex

from noisefa import paths
from noisefa.conditions import CONDITIONS, get_condition
from noisefa.config import train_config, validate
from noisefa.datasets import DATASETS, get_spec, needs_fetch
from noisefa.resources import pretrain_job, train_job
from noisefa.sources import closure

# Schema (with defaults) and registry checks: a bad config stops here, before any job.
validate(config)

# Every job (local, SLURM or conda) runs the library from this checkout, whatever else is
# installed; remote jobs re-read this Snakefile, so they get the same prefix.
shell.prefix(f"set -euo pipefail; export PYTHONPATH={shlex.quote(str(LIB_DIR))}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; ")
ENV = str(Path(workflow.basedir) / "envs" / "noisefa.yaml")
REPORT_ENV = str(Path(workflow.basedir) / "envs" / "report.yaml")
# Seeds are trained in groups of `seeds_per_job` stacked networks: one job per (cell, group).
# Adding seeds beyond a full group adds jobs and leaves the existing ones untouched.
SEED_GROUPS = [
    f"{lo}-{min(lo + config['seeds_per_job'], config['n_seeds']) - 1}"
    for lo in range(0, config["n_seeds"], config["seeds_per_job"])
]


def seeds_of(group):
    lo, hi = map(int, group.split("-"))
    return list(range(lo, hi + 1))


wildcard_constraints:
    dataset="|".join(DATASETS),
    condition="|".join(CONDITIONS),
    depth=r"\d+",
    dim=r"\d+",
    classes=r"\d+",
    experiment=r"[A-Za-z0-9_-]+",
    noise=r"[A-Za-z0-9_.-]+",
    seeds=r"\d+-\d+",


def lib(module):
    """The library files ``module`` imports: editing one reruns exactly its jobs."""
    return [str(LIB_DIR / f) for f in closure(module)]


def shape(dataset):
    spec = get_spec(dataset)
    return {"dim": spec.in_dim, "classes": spec.n_classes}


def pretrain_paths(dataset, depth, seeds, pattern):
    return pattern.format(noise=config["noise"]["use"], depth=depth, seeds=seeds, **shape(dataset))


def job_spec(seeds, **extra):
    """JSON of a job's hyper-parameters: it is in params, so changing one reruns the job."""
    return json.dumps(
        {"experiment": config["experiment"], "seeds": seeds_of(seeds), "model": config["model"],
         "device": config["device"], "threads": config["threads"],
         "resume_every_s": config["resume_every_s"], "on_divergence": config["on_divergence"], **extra},
        sort_keys=True,
    )


def train_jobs():
    """(dataset, depth, condition, seed group) of every training job."""
    return [
        (d, depth, c, g)
        for d in config["datasets"]
        for depth in config["depths"]
        for c in config["conditions"]
        for g in SEED_GROUPS
    ]


def train_metrics():
    return [
        paths.TRAIN_METRICS.format(experiment=config["experiment"], dataset=d, depth=depth, condition=c, seeds=g)
        for d, depth, c, g in train_jobs()
    ]


def pretrain_metrics_map():
    """{pretrain metrics file: [datasets whose FA w/ networks start from it]}."""
    out = {}
    for d, depth, c, g in train_jobs():
        if get_condition(c).pretrained:
            out.setdefault(pretrain_paths(d, depth, g, paths.PRETRAIN_METRICS), []).append(d)
    return out


def train_inputs(wc):
    inputs = {"data": paths.DATA.format(dataset=wc.dataset), "code": lib("noisefa.stages.train")}
    if get_condition(wc.condition).pretrained:
        inputs["pretrained"] = pretrain_paths(wc.dataset, wc.depth, wc.seeds, paths.PRETRAIN_CHECKPOINT)
    return inputs


def train_spec(wc):
    pretrained = get_condition(wc.condition).pretrained
    return job_spec(
        wc.seeds,
        dataset=wc.dataset, depth=int(wc.depth), condition=wc.condition,
        noise=config["noise"]["use"] if pretrained else "", train=train_config(config, wc.dataset),
    )


def _train_estimate(wc):
    spec = get_spec(wc.dataset)
    return train_job(spec.in_dim, spec.n_classes, *spec.sizes, len(seeds_of(wc.seeds)), int(wc.depth),
                     config["model"]["hidden"], train_config(config, wc.dataset))


def _pretrain_estimate(wc):
    noise = config["noise"]["sets"][wc.noise]
    n_noise = noise["n_samples"] if noise["protocol"] == "fixed" else 0
    return pretrain_job(int(wc.dim), int(wc.classes), n_noise, len(seeds_of(wc.seeds)), int(wc.depth),
                        config["model"]["hidden"], config["pretrain"])


# Scheduler requests derived from the work (noisefa/resources.py explains the model); a retry
# after a walltime or memory kill asks for proportionally more.
def train_mem_mb(wc, attempt):
    return _train_estimate(wc).mem_mb * attempt


def train_runtime(wc, attempt):
    return _train_estimate(wc).runtime_min * attempt


def pretrain_mem_mb(wc, attempt):
    return _pretrain_estimate(wc).mem_mb * attempt


def pretrain_runtime(wc, attempt):
    return _pretrain_estimate(wc).runtime_min * attempt


def data_note():
    described = ", ".join(f"{d} ({get_spec(d).description})" for d in config["datasets"])
    return f"data: {described}"


FIGURES = ["learning_curves", "alignment"]
REPORTS = ["main"]


def all_targets():
    return [
        paths.METRICS,
        paths.SUMMARY,
        paths.CLAIMS,
        *[paths.FIGURE.format(figure=f) for f in FIGURES],
        *[paths.NOTEBOOK_HTML.format(report=r) for r in REPORTS],
    ]
