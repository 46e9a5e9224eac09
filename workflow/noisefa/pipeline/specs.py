"""A job's spec: the hyper-parameters its stage reads (``--spec`` JSON), from the config and its wildcards.

The spec is a rule's ``params``, so changing any of it reruns exactly that job. Built here, not in
the Snakefile, so that the planner can tell when two training cells are one computation
(``Plan.source``) and the tests can read a job's spec without Snakemake. ``w`` is a job's
wildcards as a dict of strings (``Job.wc``, or Snakemake's wildcards).
"""

from __future__ import annotations

from ..nets.families import family_of
from .conditions import get_condition
from .experiments import (
    CNN,
    aligned_angle,
    condition_noise,
    experiment_arch,
    model_block,
    ood_tests,
    pretrain_block,
    train_config,
    train_stop,
)

# The names a training spec gives its cell; the rest of the spec (and its input files) is the computation.
CELL_NAMES = ("experiment", "condition")


def seeds_of(group: str) -> list[int]:
    lo, hi = map(int, group.split("-"))
    return list(range(lo, hi + 1))


def arch_key(cfg: dict, w) -> str:
    """A job's architecture key (``experiments.ARCHS``): its `arch` wildcard, else its experiment's."""
    return w["arch"] if "arch" in w.keys() else experiment_arch(cfg, w["experiment"], int(w["depth"]))


def model_of(cfg: dict, w) -> dict:
    """The model block (``noisefa.nets.families``) of a job's networks."""
    return model_block(cfg, arch_key(cfg, w))


def family_module(cfg: dict, w) -> str:
    """The module of a job's model family (no stage imports one): its code is the job's input."""
    return family_of(model_of(cfg, w)).module


def job_spec(cfg: dict, seeds: str, model: dict | None = None, **extra) -> dict:
    return {
        "seeds": seeds_of(seeds), "model": model or cfg["model"], "device": cfg["device"], "threads": cfg["threads"],
        "precision": cfg["precision"], "resume_every_s": cfg["resume_every_s"], "on_divergence": cfg["on_divergence"],
        **extra,
    }  # fmt: skip


def divergence_of(cfg: dict, key: str) -> dict:
    """The CNN's own `cnn.on_divergence` for its jobs; nothing for an MLP's (the top-level key)."""
    return {"on_divergence": cfg["cnn"]["on_divergence"]} if key == CNN else {}


def start_of(cfg: dict, w) -> dict:
    """A control's start parameters (``noisefa.nets.starts``); none for the paper's conditions."""
    cond = get_condition(w["condition"])
    return {"start": {"aligned_angle": aligned_angle(cfg, w["experiment"])}} if cond.start == "aligned" else {}


def train_spec(cfg: dict, w) -> dict:
    pretrained = get_condition(w["condition"]).pretrained
    return job_spec(
        cfg,
        w["seeds"],
        model=model_of(cfg, w),
        experiment=w["experiment"],
        dataset=w["dataset"],
        depth=int(w["depth"]),
        condition=w["condition"],
        noise=condition_noise(cfg, w["experiment"], w["condition"]) if pretrained else "",
        train=train_config(cfg, w["experiment"], w["dataset"]),
        stop=train_stop(cfg, w["experiment"]),
        **start_of(cfg, w),
        **divergence_of(cfg, arch_key(cfg, w)),
    )


def computation(cfg: dict, w) -> dict:
    """What a training job computes, without the names of its cell: its spec with the experiment left
    out and the condition replaced by what the stage does with it (rule, start, twin). Two cells with
    the same computation (and input files) train the same networks to the same bits."""
    spec = train_spec(cfg, w)
    cond = get_condition(spec.pop("condition"))
    del spec["experiment"]
    return {**spec, "computes": {"rule": cond.rule, "start": cond.start, "pretrained": cond.pretrained}}


def pretrain_spec(cfg: dict, w, extra: dict | None = None) -> dict:
    key = arch_key(cfg, w)
    pre = pretrain_block(cfg, key, int(w["depth"]))
    return job_spec(
        cfg,
        w["seeds"],
        model_of(cfg, w),
        **{"experiment": "pretrain", "depth": int(w["depth"]), "pretrain": pre, **divergence_of(cfg, key), **(extra or {})},
    )


def ood_spec(cfg: dict, w) -> dict:
    return job_spec(
        cfg, w["seeds"], model_of(cfg, w), experiment=w["experiment"], dataset=w["dataset"], depth=int(w["depth"]),
        condition=w["condition"], rule=get_condition(w["condition"]).rule, tests=ood_tests(cfg),
    )  # fmt: skip
