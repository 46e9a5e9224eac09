# Shared definitions: validated config, paths, parameter blocks and target functions.
import json
import os
import shlex

from noisefa.pipeline import paths, specs
from noisefa.pipeline.conditions import CONDITIONS, get_condition
from noisefa.pipeline.config import describe, read_yaml, validate
from noisefa.data.datasets import DATASETS, Source, get_spec, needs_fetch, raw_files_present
from noisefa.pipeline.experiments import (
    CNN,
    CONTROLS as CONTROLS_EXPERIMENT,
    RULES,
    ARCHS,
    batchnorm_at,
    dose_experiment,
    meta_controls,
    experiment_columns,
    figure2_experiment,
    generalisation_sizes,
    noise_shape,
    noise_sweep,
)
from noisefa.analysis.compare import OPTIONAL as COMPARED_OPTIONAL, REFERENCE_TABLES
from noisefa.figures.registry import FIGURES, REPORT_NAMES, TABLES
from noisefa.figures.registry import figures as registry_figures
from noisefa.figures.registry import reports as registry_reports
from noisefa.pipeline.plan import Job, Plan, files, ood_external, shape
from noisefa.pipeline.resources import estimate
from noisefa.sources import closure

# Schema (with defaults) and registry checks: a bad config stops here, before any job.
for _file in workflow.overwrite_configfiles:  # Snakemake's own YAML reading keeps the last of a repeated key
    read_yaml(_file)
_given = set(config)
validate(config)
if workflow.is_main_process:
    print(describe(workflow.overwrite_configfiles or ["config/config.yaml"], _given, config), file=sys.stderr)

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
# Every compute job of this config, with its wildcards (noisefa/pipeline/plan.py); the targets below and
# the scheduler's requests (noisefa/pipeline/resources.py) both read it.
PLAN = Plan(config)
# Where raw dataset files live (what the fetch and prepare jobs are given).
SOURCE = Source(Path(paths.TORCHVISION_ROOT), Path(config["data"]["local_dir"]) if config["data"]["local_dir"] else None)


wildcard_constraints:
    dataset="|".join(DATASETS),
    condition="|".join(CONDITIONS),
    depth=r"\d+",
    dim=r"\d+",
    classes=r"\d+",
    experiment=r"[A-Za-z0-9_-]+",
    noise=r"[A-Za-z0-9_.-]+",
    seeds=r"\d+-\d+",
    arch="|".join(ARCHS),
    report="|".join(REPORT_NAMES),
    figure=r"[A-Za-z0-9_]+",


def fetch_args():
    d = config["data"]
    args = [f"--timeout {d['download_timeout']:g}", f"--retries {d['download_retries']}"]
    args += [f"--mirror {shlex.quote(m)}" for m in d["mirrors"]]
    args += [] if d["original_urls"] else ["--no-original-urls"]
    return " ".join(args + local_dir_arg())


def local_dir_arg():
    return [f"--local-dir {shlex.quote(config['data']['local_dir'])}"] if config["data"]["local_dir"] else []


def drop_stale_markers():
    """A marker whose raw files are gone (deleted to save space, or after an error named them
    damaged) would keep its dataset from being fetched again; when its prepared file still has
    to be made, the marker goes, and that dataset's fetch job reruns. A dry run drops it too (the
    Snakefile is read before Snakemake says whether the run is dry), so its plan shows the fetch."""
    for d in PLAN.datasets:
        marker = Path(paths.FETCHED.format(dataset=d))
        if marker.exists() and not Path(paths.DATA.format(dataset=d)).exists() and not raw_files_present(d, SOURCE):
            print(f"{marker}: the raw files of {d} are gone; fetching them again", file=sys.stderr)
            marker.unlink()


if workflow.is_main_process:
    drop_stale_markers()


def lib(module):
    """The library files ``module`` imports: editing one reruns exactly its jobs."""
    return [str(LIB / f) for f in closure(module)]


def family_code(wc):
    """The library files of a job's model family (no stage imports one): editing the CNN reruns its jobs only."""
    return lib(specs.family_module(config, wc))


def spec_json(spec):
    """A job's spec (noisefa.pipeline.specs) as its params: changing any of it reruns the job."""
    return json.dumps(spec, sort_keys=True)


def pretrain_users():
    """{pretrain metrics file: [[experiment, dataset], ...] whose FA w/ networks start from it}."""
    return {job.file(paths.PRETRAIN_METRICS): users for job, users in PLAN.pretrain_users().items()}


def cell_labels():
    """{file: [[experiment, condition], ...]} of the main tables' train and OOD files that also hold other cells."""
    return {**PLAN.labels(PLAN.train(), paths.TRAIN_METRICS, paths.TRAIN_DETAILS), **PLAN.labels(PLAN.ood(), paths.OOD)}


def cell_job(wc, rule="train"):
    return Job.of(rule, {k: wc[k] for k in ("experiment", "dataset", "depth", "condition", "seeds")})


def ood_inputs(wc):
    return {
        "data": paths.DATA.format(dataset=wc.dataset),
        "external": [paths.DATA.format(dataset=d) for d in ood_external(config, wc.dataset)],
        "checkpoint": PLAN.source(cell_job(wc)).file(paths.TRAIN_CHECKPOINT),
    }


def ood_spec(wc):
    return spec_json(specs.ood_spec(config, wc))


def train_inputs(wc):
    inputs = {"data": paths.DATA.format(dataset=wc.dataset), "code": lib("noisefa.stages.train"), "family": family_code(wc)}
    if get_condition(wc.condition).pretrained:
        inputs["pretrained"] = PLAN.pretrain_of_train(cell_job(wc)).file(paths.PRETRAIN_CHECKPOINT)
    return inputs


def meta_controls_of(wc):
    starts = meta_controls(config, wc.noise)
    return {"controls": starts} if starts else {}


def train_spec(wc):
    return spec_json(specs.train_spec(config, wc))


def pretrain_spec(wc, extra=None):
    # No **kwargs here: Snakemake would fill them with the job's input, output and resources.
    return spec_json(specs.pretrain_spec(config, wc, extra))


def data_then_noise_input(wc):
    """The noise file a data->noise job trains on (the noise set its experiment pretrains FA w/ on)."""
    return PLAN.noise_of_data_then_noise(cell_job(wc, "data_then_noise")).file(paths.NOISE)


# Scheduler requests derived from the work (noisefa/pipeline/resources.py explains the model); a retry
# after a walltime or memory kill asks for proportionally more.
def mem_mb(rule):
    return lambda wc, attempt: estimate(config, Job.of(rule, wc), PLAN).mem_mb * attempt


def runtime(rule):
    return lambda wc, attempt: estimate(config, Job.of(rule, wc), PLAN).runtime_min * attempt


def claims_context():
    """What the claims test: the main experiment, the noise set used, the figures' cells."""
    g = config["generalisation"]
    return {
        "experiment": config["experiment"],
        "noise": config["noise"]["use"],
        "figure1_sets": [n for n, *_ in noise_sweep(config)],
        "figure1_depth": config["figure1"]["depth"],
        "figure1_shape": noise_shape(**shape(config["figure1"]["dataset"])),
        "figure2_experiment": figure2_experiment(config) if config["figure2"]["enabled"] else "",
        "figure2_cell": [config["figure2"]["dataset"], config["figure2"]["depth"]],
        "generalisation_size": g["size"] if g["enabled"] else None,
        "generalisation_experiments": generalisation_sizes(config),
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
    f2, g = config["figure2"], PLAN.groups[0]
    exp = figure2_experiment(config)
    out = {"noise": PLAN.pretrain_of(exp, f2["dataset"], f2["depth"], g).file(paths.PRETRAIN_TRAJECTORY)}
    for c in config["conditions"]:
        cell = Job.of("train", dict(experiment=exp, dataset=f2["dataset"], depth=f2["depth"], condition=c, seeds=g))
        out[c] = PLAN.source(cell).file(paths.TRAIN_TRAJECTORY)
    for f in files(PLAN.data_then_noise(), paths.DATA_NOISE_TRAJECTORY)[:1]:
        out["data_then_noise"] = f
    return out


def figure6_trajectories():
    return {"meta": f for f in files(PLAN.meta(), paths.META_TRAJECTORY)[:1]}


TRAJECTORY_FILES = {"figure2": figure2_trajectories, "figure6": figure6_trajectories}


def trajectory_files(fig):
    return TRAJECTORY_FILES[fig.trajectories]() if fig.trajectories else {}


def mechanism_context():
    """What the mechanism table reads: the main sweep, its noise set, the controls, the level."""
    c = config["controls"]
    doses = {dose_experiment(a): a for a in c["dose"]["angles"]} if c["enabled"] and c["dose"]["enabled"] else {}
    return {"experiment": config["experiment"], "noise": config["noise"]["use"], "controls": c,
            "controls_experiment": CONTROLS_EXPERIMENT, "dose_experiments": doses,
            "alpha": config["claims"]["mechanism_alpha"]}  # fmt: skip


def study_inputs(entries):
    """Every file a study's entries (Plan.protocol_entries, Plan.cnn_entry; None: off) read, once each."""
    files = []
    for e in filter(None, entries):
        files += e["train"] + e["train_details"] + list(e["pretrain"]) + e["pretrain_details"]
        files += e.get("ood", []) + e.get("meta", [])
    return list(dict.fromkeys(files))


def protocols_spec():
    context = {"noise_specs": config["noise"]["sets"], "claims": config["claims"]}
    return json.dumps({"protocols": PLAN.protocol_entries(), "convergence": config["convergence"], "context": context},
                      sort_keys=True)  # fmt: skip


def cnn_spec():
    context = {"noise_specs": config["noise"]["sets"], "claims": config["claims"], "controls": config["controls"],
               "alpha": config["claims"]["mechanism_alpha"]}  # fmt: skip
    return json.dumps({"entry": PLAN.cnn_entry(), "family": "cnn", "convergence": config["convergence"],
                       "context": context}, sort_keys=True)  # fmt: skip


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


def reference_tables(wc):
    if not config["reference"]:
        raise ValueError(
            "config key reference is not set: this config has no reference results to compare with "
            "(reference/<name>/ holds those of the shipped configs)"
        )
    folder = Path(os.path.relpath(Path(workflow.basedir) / config["reference"] / "tables", Path.cwd()))
    optional = [folder / f for f in COMPARED_OPTIONAL]  # compared when both have it (older references have none)
    return [str(folder / name) for name in REFERENCE_TABLES] + [str(f) for f in optional if f.exists()]


def all_targets():
    return [
        paths.METRICS,
        paths.SUMMARY,
        paths.CLAIMS,
        paths.VERDICT.format(ext="md"),
        *([paths.PROTOCOLS_TABLE] if config["protocols"]["enabled"] else []),
        *([paths.MECHANISM, paths.MECHANISM_MD] if config["controls"]["enabled"] else []),
        *([paths.CNN_CLAIMS, paths.CNN_MD] if config["cnn"]["enabled"] else []),
        *table_targets(),
        *[figure_file(f) for f in figures()],
        *[paths.NOTEBOOK_HTML.format(report=r) for r in reports()],
    ]
