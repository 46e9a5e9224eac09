# Shared definitions: validated config, paths, parameter blocks and target functions.
import json
import os
import shlex

from noisefa import paths
from noisefa.conditions import CONDITIONS, get_condition
from noisefa.config import validate
from noisefa.datasets import DATASETS, get_spec, needs_fetch
from noisefa.experiments import (
    RULES,
    arch,
    batchnorm_at,
    experiment_batchnorm,
    experiment_noise,
    experiments,
    figure2_experiment,
    meta_shape,
    noise_sweep,
    ood_cells,
    ood_tests,
    pretrain_config,
    protocol_cells,
    protocol_grid,
    train_cells,
    train_config,
)
from noisefa.figures.registry import FIGURES, REPORT_NAMES, TABLES
from noisefa.figures.registry import figures as registry_figures
from noisefa.figures.registry import reports as registry_reports
from noisefa.resources import pretrain_job, train_job
from noisefa.sources import closure

# Schema (with defaults) and registry checks: a bad config stops here, before any job.
validate(config)

# Every path Snakemake records as provenance (inputs, params, shell text) is relative to the
# working directory, so a finished results tree stays valid when the checkout is renamed or
# moved with it (tests/test_reruns.py copies one). LIB is the library relative to it.
LIB = Path(os.path.relpath(LIB_DIR, Path.cwd()))
# Every job (local, SLURM or conda) runs the library from this checkout, whatever else is
# installed; remote jobs re-read this Snakefile in the same working directory, so they get the
# same prefix. The shell makes the path absolute when the job starts.
shell.prefix(
    f'set -euo pipefail; export PYTHONPATH="$(cd {shlex.quote(str(LIB))} && pwd)"${{{{PYTHONPATH:+:$PYTHONPATH}}}}; '
)
# conda: paths are relative to the rule file (all rules live in workflow/rules/).
ENV = "../../envs/noisefa.yaml"
REPORT_ENV = "../../envs/report.yaml"
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
    arch="bn|nobn",
    report="|".join(REPORT_NAMES),
    figure=r"[A-Za-z0-9_]+",


def lib(module):
    """The library files ``module`` imports: editing one reruns exactly its jobs."""
    return [str(LIB / f) for f in closure(module)]


def shape(dataset):
    spec = get_spec(dataset)
    return {"dim": spec.in_dim, "classes": spec.n_classes}


def main_arch(depth):
    return arch(batchnorm_at(config, depth))


def pretrain_paths(dataset, depth, seeds, pattern, experiment=None):
    """A pretraining job's file for ``dataset``'s shape: the noise set and architecture of
    ``experiment``'s FA w/ networks (the main sweep's when None)."""
    noise = experiment_noise(config, experiment) if experiment else config["noise"]["use"]
    variant = arch(experiment_batchnorm(config, experiment, depth)) if experiment else main_arch(depth)
    return pattern.format(noise=noise, arch=variant, depth=depth, seeds=seeds, **shape(dataset))


def model_of(batchnorm):
    return {**config["model"], "batchnorm": bool(batchnorm)}


def job_spec(seeds, model=None, **extra):
    """JSON of a job's hyper-parameters: it is in params, so changing one reruns the job."""
    return json.dumps(
        {"seeds": seeds_of(seeds), "model": model or config["model"],
         "device": config["device"], "threads": config["threads"],
         "resume_every_s": config["resume_every_s"], "on_divergence": config["on_divergence"], **extra},
        sort_keys=True,
    )


def train_jobs(study=""):
    """(experiment, dataset, depth, condition, seed group) of every training job of ``study`` ("" the
    figures' experiments, which the main tables aggregate; "protocols" the protocol study's own)."""
    return [(e, d, depth, c, g) for e, d, depth, c in train_cells(config, study) for g in SEED_GROUPS]


def train_file(pattern, experiment, dataset, depth, condition, seeds):
    return pattern.format(experiment=experiment, dataset=dataset, depth=depth, condition=condition, seeds=seeds)


def train_outputs(pattern):
    return [train_file(pattern, *job) for job in train_jobs()]


def pretrain_metrics_map():
    """{pretrain metrics file: [[experiment, dataset], ...] whose FA w/ networks start from it}."""
    out = {}
    for e, d, depth, c, g in train_jobs():
        if get_condition(c).pretrained:
            users = out.setdefault(pretrain_paths(d, depth, g, paths.PRETRAIN_METRICS, e), [])
            if [e, d] not in users:
                users.append([e, d])
    return out


def sweep_files(pattern):
    """Files of Figure 1's pretraining jobs (noise set x seed group at one shape and depth)."""
    return [
        pattern.format(noise=n, arch=main_arch(depth), dim=dim, classes=classes, depth=depth, seeds=g)
        for n, dim, classes, depth in noise_sweep(config)
        for g in SEED_GROUPS
    ]


def pretrain_files(pattern):
    """The pretraining jobs the main tables hold: those the figures' FA w/ networks start from
    and Figure 1's sweep (the protocol study's own are ``protocol_entries``')."""
    used = [
        pretrain_paths(d, depth, g, pattern, e)
        for e, d, depth, c, g in train_jobs()
        if get_condition(c).pretrained
    ]
    return list(dict.fromkeys(used + sweep_files(pattern)))


def data_noise_files(pattern):
    """The data->noise order control: Figure 2's FA w/o networks, then noise training."""
    f2 = config["figure2"]
    if not f2["enabled"] or "fa_wo" not in config["conditions"]:
        return []
    return [
        pattern.format(
            experiment=figure2_experiment(config), dataset=f2["dataset"], depth=f2["depth"], condition="fa_wo", seeds=g
        )
        for g in SEED_GROUPS
    ]


def ood_files():
    return [
        paths.OOD.format(experiment=e, dataset=d, depth=depth, condition=c, seeds=g)
        for e, d, depth, c in ood_cells(config)
        for g in SEED_GROUPS
    ]


def ood_inputs(wc):
    return {
        "data": paths.DATA.format(dataset=wc.dataset),
        "external": [paths.DATA.format(dataset=d) for d in config["ood"]["external"]],
        "checkpoint": train_file(paths.TRAIN_CHECKPOINT, wc.experiment, wc.dataset, wc.depth, wc.condition, wc.seeds),
    }


def ood_spec(wc):
    # Passed as a dict: Snakemake's parser takes a line that begins with that keyword for a new rule.
    extra = {"rule": get_condition(wc.condition).rule, "tests": ood_tests(config)}
    model = model_of(experiment_batchnorm(config, wc.experiment, int(wc.depth)))
    return job_spec(
        wc.seeds, model, experiment=wc.experiment, dataset=wc.dataset, depth=int(wc.depth), condition=wc.condition, **extra
    )


def meta_files(pattern, noise=None, batchnorm=None):
    """Figure 6's meta-loss jobs (the main sweep's noise set and architecture), or those of ``noise``
    and ``batchnorm`` (the protocol study)."""
    shape = meta_shape(config)
    if shape is None:
        return []
    dim, classes = shape
    depth = config["meta"]["depth"]
    variant = main_arch(depth) if batchnorm is None else arch(batchnorm)
    return [
        pattern.format(noise=noise or config["noise"]["use"], arch=variant, dim=dim, classes=classes, depth=depth, seeds=g)
        for g in SEED_GROUPS
    ]


def train_inputs(wc):
    inputs = {"data": paths.DATA.format(dataset=wc.dataset), "code": lib("noisefa.stages.train")}
    if get_condition(wc.condition).pretrained:
        inputs["pretrained"] = pretrain_paths(wc.dataset, wc.depth, wc.seeds, paths.PRETRAIN_CHECKPOINT, wc.experiment)
    return inputs


def train_spec(wc):
    pretrained = get_condition(wc.condition).pretrained
    return job_spec(
        wc.seeds,
        model=model_of(experiment_batchnorm(config, wc.experiment, int(wc.depth))),
        experiment=wc.experiment,
        dataset=wc.dataset,
        depth=int(wc.depth),
        condition=wc.condition,
        noise=experiment_noise(config, wc.experiment) if pretrained else "",
        train=train_config(config, wc.experiment, wc.dataset),
    )


def pretrain_spec(wc, extra=None, batchnorm=None):
    # No **kwargs here: Snakemake would fill them with the job's input, output and resources.
    pre = pretrain_config(config, int(wc.depth))
    bn = (wc.arch == "bn") if batchnorm is None else batchnorm
    return job_spec(
        wc.seeds, model_of(bn), **{"experiment": "pretrain", "depth": int(wc.depth), "pretrain": pre, **(extra or {})}
    )


def _train_estimate(wc):
    spec = get_spec(wc.dataset)
    return train_job(spec.in_dim, spec.n_classes, *spec.sizes, len(seeds_of(wc.seeds)), int(wc.depth),
                     config["model"]["hidden"], train_config(config, wc.experiment, wc.dataset))


def _pretrain_estimate(wc):
    noise = config["noise"]["sets"][wc.noise]
    n_noise = noise["n_samples"] if noise["protocol"] == "fixed" else 0
    return pretrain_job(int(wc.dim), int(wc.classes), n_noise, len(seeds_of(wc.seeds)), int(wc.depth),
                        config["model"]["hidden"], pretrain_config(config, int(wc.depth)))


def _noise_wc(wc):
    """The pretraining wildcards (noise set, shape) of a data->noise job, for its resources."""
    from types import SimpleNamespace

    return SimpleNamespace(
        noise=experiment_noise(config, wc.experiment), arch=arch(experiment_batchnorm(config, wc.experiment, int(wc.depth))),
        depth=wc.depth, seeds=wc.seeds, **shape(wc.dataset),
    )


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


def claims_context():
    """What the claims test: the main experiment, the noise set used, the figures' cells."""
    g = config["generalisation"]
    return {
        "experiment": config["experiment"],
        "noise": config["noise"]["use"],
        "figure1_sets": [n for n, *_ in noise_sweep(config)],
        "figure1_depth": config["figure1"]["depth"],
        "figure1_shape": "noise:in{dim}_c{classes}".format(**shape(config["figure1"]["dataset"])),
        "figure2_experiment": figure2_experiment(config) if config["figure2"]["enabled"] else "",
        "figure2_cell": [config["figure2"]["dataset"], config["figure2"]["depth"]],
        "generalisation_size": g["size"] if g["enabled"] else None,
        "generalisation_sizes": g["sizes"] if g["enabled"] else [],
        "table1": config["table1"],
        "rules_experiment": RULES if config["rules"]["enabled"] else "",
        "noise_specs": config["noise"]["sets"],
        "batchnorm": config["model"]["batchnorm"],
        "batchnorm_by_depth": {str(d): batchnorm_at(config, d) for d in range(2, 1 + max(config["depths"] + [5]))},
        "claims": config["claims"],
    }


# ---- trajectory files the figures read (paths: the planner's part of a figure's inputs)


def figure2_trajectories():
    """{label: trajectory file} of the first seed group of Figure 2's cell."""
    f2, g = config["figure2"], SEED_GROUPS[0]
    out = {"noise": pretrain_paths(f2["dataset"], f2["depth"], g, paths.PRETRAIN_TRAJECTORY, figure2_experiment(config))}
    for c in config["conditions"]:
        out[c] = train_file(paths.TRAIN_TRAJECTORY, figure2_experiment(config), f2["dataset"], f2["depth"], c, g)
    for f in data_noise_files(paths.DATA_NOISE_TRAJECTORY)[:1]:
        out["data_then_noise"] = f
    return out


def figure6_trajectories():
    return {"meta": f for f in meta_files(paths.META_TRAJECTORY)[:1]}


TRAJECTORY_FILES = {"figure2": figure2_trajectories, "figure6": figure6_trajectories}


def trajectory_files(fig):
    return TRAJECTORY_FILES[fig.trajectories]() if fig.trajectories else {}


def protocol_entries():
    """Per protocol of the study, its jobs' files (what noisefa.protocols.tables_for reads)."""
    p, out = config["protocols"], []
    for proto in protocol_grid(config):
        cells = [(d, depth, g) for d in p["datasets"] for depth in p["depths"] for g in SEED_GROUPS]
        jobs = [(*cell, g) for cell in protocol_cells(config, proto) for g in SEED_GROUPS]
        pre, pre_details = {}, []
        for d, depth, g in cells:
            users = pre.setdefault(pretrain_paths(d, depth, g, paths.PRETRAIN_METRICS, proto.pretrained), [])
            users += [d] if d not in users else []
            pre_details.append(pretrain_paths(d, depth, g, paths.PRETRAIN_DETAILS, proto.pretrained))
        out.append({
            "noise": proto.noise, "batchnorm": proto.batchnorm,
            "train": [train_file(paths.TRAIN_METRICS, *j) for j in jobs],
            "train_details": [train_file(paths.TRAIN_DETAILS, *j) for j in jobs],
            "pretrain": pre, "pretrain_details": list(dict.fromkeys(pre_details)),
            "ood": [paths.OOD.format(experiment=e, dataset=d, depth=depth, condition=c, seeds=g)
                    for e, d, depth, c, g in jobs] if config["ood"]["enabled"] else [],
            "meta": meta_files(paths.META, proto.noise, proto.batchnorm),
        })  # fmt: skip
    return out


def protocol_inputs():
    files = []
    for e in protocol_entries():
        files += e["train"] + e["train_details"] + list(e["pretrain"]) + e["pretrain_details"] + e["ood"] + e["meta"]
    return list(dict.fromkeys(files))


def protocols_spec():
    context = {"noise_specs": config["noise"]["sets"], "claims": config["claims"]}
    return json.dumps({"protocols": protocol_entries(), "convergence": config["convergence"], "context": context},
                      sort_keys=True)  # fmt: skip


def figures():
    """Figures this config draws (noisefa.figures.registry: a figure whose experiment is off is left out)."""
    return registry_figures(config)


def table_targets():
    return [paths.TABLE1.format(ext=e) for e in ("csv", "md", "tex")]


REPORTS = registry_reports(config)  # report notebook -> the figures it shows


def reports():
    return list(REPORTS)


def notebook_file(report):
    return str(LIB / "notebooks" / f"{report}.ipynb")


def figure_file(name):
    return paths.FIGURE.format(figure=name)


def all_targets():
    return [
        paths.METRICS,
        paths.SUMMARY,
        paths.CLAIMS,
        paths.VERDICT.format(ext="md"),
        *([paths.PROTOCOLS_TABLE] if config["protocols"]["enabled"] else []),
        *table_targets(),
        *[figure_file(f) for f in figures()],
        *[paths.NOTEBOOK_HTML.format(report=r) for r in reports()],
    ]
