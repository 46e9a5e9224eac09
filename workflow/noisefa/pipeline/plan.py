"""Every compute job a config asks for, with its wildcards: the one plan that Snakemake's targets
(workflow/rules/common.smk) and the scheduler's estimates (``noisefa.pipeline.resources``) both read.

A job is a rule and its wildcards; its files are the rule's path patterns (``noisefa.pipeline.paths``)
formatted with them. Seeds are trained in groups of ``seeds_per_job`` stacked networks: one job per
(cell, group), so adding seeds beyond a full group adds jobs and leaves the existing ones alone.

Studies: ``""`` the figures' experiments (what the main tables aggregate), ``PROTOCOLS`` the
protocol study's own jobs (``experiments.protocol_grid``), ``CNN`` the convolutional family's
(``cnn_entry``). A job two need is planned once; so is a training cell that repeats another's
computation under other names (``Plan.source``): the rules experiment's BP, FA w/o and FA w/ cells
at the main sweep's datasets and depths are the main sweep's networks, and read its files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property

from ..data.datasets import get_spec, same_labels
from . import paths, specs
from .conditions import get_condition
from .experiments import (
    CNN,
    PROTOCOLS,
    arch,
    batchnorm_at,
    condition_noise,
    experiment_arch,
    figure2_experiment,
    fresh_noise_meta,
    meta_shape,
    noise_sweep,
    ood_cells,
    protocol_cells,
    protocol_grid,
    protocol_meta,
    train_cells,
)
from .specs import seeds_of

COMPUTE_RULES = ("pretrain", "train", "data_then_noise", "meta", "ood")
# rules whose wildcards name a training cell; the others name a pretraining job
CELL_RULES = ("train", "data_then_noise", "ood")


@dataclass(frozen=True)
class Job:
    rule: str
    wildcards: tuple[tuple[str, str], ...]  # sorted (name, value) pairs, values as Snakemake gives them

    @classmethod
    def of(cls, rule: str, wildcards) -> Job:
        """A job from a dict or from Snakemake's wildcards object."""
        items = wildcards.items() if hasattr(wildcards, "items") else dict(wildcards).items()
        return cls(rule, tuple(sorted((k, str(v)) for k, v in items)))

    @property
    def wc(self) -> dict[str, str]:
        return dict(self.wildcards)

    def file(self, pattern: str) -> str:
        return pattern.format(**self.wc)

    @property
    def seeds(self) -> list[int]:
        return seeds_of(self.wc["seeds"])

    @property
    def label(self) -> str:
        w = self.wc
        if self.rule in CELL_RULES:
            return f"{w['experiment']} {w['dataset']} depth{w['depth']} {w['condition']} seeds{w['seeds']}"
        return f"{w['noise']} in{w['dim']}_c{w['classes']} {w['arch']} depth{w['depth']} seeds{w['seeds']}"


def seed_groups(cfg: dict) -> list[str]:
    n, per = cfg["n_seeds"], cfg["seeds_per_job"]
    return [f"{lo}-{min(lo + per, n) - 1}" for lo in range(0, n, per)]


def shape(dataset: str) -> dict[str, int]:
    spec = get_spec(dataset)
    return {"dim": spec.in_dim, "classes": spec.n_classes}


def _pretrain(noise: str, arch_key: str, dim: int, classes: int, depth, seeds: str, rule: str = "pretrain") -> Job:
    wc = {"noise": noise, "arch": arch_key, "dim": dim, "classes": classes, "depth": depth, "seeds": seeds}
    return Job.of(rule, wc)


def _cell(rule: str, experiment: str, dataset: str, depth, condition: str, seeds: str) -> Job:
    return Job.of(rule, {"experiment": experiment, "dataset": dataset, "depth": depth, "condition": condition, "seeds": seeds})


class Plan:
    """The jobs of one validated config (``plan(cfg)``)."""

    def __init__(self, cfg: dict):
        self.cfg = cfg
        self.groups = seed_groups(cfg)

    # ---- training cells
    def train(self, study: str | None = "") -> list[Job]:
        """Training jobs of ``study`` (None: every study)."""
        return [_cell("train", *cell, g) for cell in train_cells(self.cfg, study) for g in self.groups]

    def pretrain_of(self, experiment: str, dataset: str, depth, seeds: str, condition: str = "fa_w") -> Job:
        """The pretraining job ``experiment``'s FA w/ networks (or the twins of ``condition``'s) of
        (dataset, depth, seeds) start from: its noise set and architecture, at the dataset's input shape."""
        key = experiment_arch(self.cfg, experiment, int(depth))
        noise = condition_noise(self.cfg, experiment, condition)
        return _pretrain(noise, key, **shape(dataset), depth=depth, seeds=seeds)

    def pretrain_of_train(self, job: Job) -> Job | None:
        w = job.wc
        if not get_condition(w["condition"]).pretrained:
            return None
        return self.pretrain_of(w["experiment"], w["dataset"], w["depth"], w["seeds"], w["condition"])

    def sweep(self) -> list[Job]:
        """Figure 1's pretraining jobs (noise set x seed group at one shape and depth)."""
        return [
            _pretrain(n, arch(batchnorm_at(self.cfg, depth)), dim, classes, depth, g)
            for n, dim, classes, depth in noise_sweep(self.cfg)
            for g in self.groups
        ]

    def pretrain(self, study: str | None = "") -> list[Job]:
        """Pretraining jobs ``study``'s FA w/ networks start from (Figure 1's sweep in the main study)."""
        used = [p for j in self.train(study) if (p := self.pretrain_of_train(j))]
        return list(dict.fromkeys(used + (self.sweep() if study in ("", None) else [])))

    def pretrain_users(self) -> dict[Job, list[list[str]]]:
        """{pretraining job: [[experiment, dataset], ...] of the main tables' FA w/ networks from it}."""
        out: dict[Job, list[list[str]]] = {}
        for j in self.train(""):
            if get_condition(j.wc["condition"]).control:  # a control's twin is FA w/'s: its noise rows are FA w/'s
                continue
            if p := self.pretrain_of_train(j):
                users = out.setdefault(p, [])
                pair = [j.wc["experiment"], j.wc["dataset"]]
                users += [pair] if pair not in users else []
        return out

    def data_then_noise(self) -> list[Job]:
        """The data->noise order control: Figure 2's FA w/o networks, then noise training."""
        f2 = self.cfg["figure2"]
        if not f2["enabled"] or "fa_wo" not in self.cfg["conditions"]:
            return []
        return [_cell("data_then_noise", figure2_experiment(self.cfg), f2["dataset"], f2["depth"], "fa_wo", g)
                for g in self.groups]  # fmt: skip

    def noise_of_data_then_noise(self, job: Job) -> Job:
        """The pretraining job whose noise set (and shape, architecture) a data->noise job uses."""
        w = job.wc
        return self.pretrain_of(w["experiment"], w["dataset"], w["depth"], w["seeds"])

    def ood(self, study: str | None = "") -> list[Job]:
        cells = []
        if study in ("", None):
            cells += ood_cells(self.cfg)
        if study in (PROTOCOLS, None) and self.cfg["ood"]["enabled"]:
            cells += [c for proto in protocol_grid(self.cfg) for c in protocol_cells(self.cfg, proto)]
        return list(dict.fromkeys(_cell("ood", *c, g) for c in cells for g in self.groups))

    def meta(self, study: str | None = "", noise: str | None = None, batchnorm: bool | None = None) -> list[Job]:
        """Figure 6's meta-loss jobs (study ""), the protocol study's others (PROTOCOLS), both (None);
        or, given ``noise`` and ``batchnorm``, those of one protocol."""
        shp = meta_shape(self.cfg)
        if shp is None:
            return []
        depth = self.cfg["meta"]["depth"]
        if noise is not None:
            keys = [(noise, bool(batchnorm))]
        else:
            keys = [(self.cfg["noise"]["use"], batchnorm_at(self.cfg, depth))] if study in ("", None) else []
            keys += [k for k in fresh_noise_meta(self.cfg) if k not in keys] if study in ("", None) else []
            keys += [k for k in protocol_meta(self.cfg) if k not in keys] if study in (PROTOCOLS, None) else []
        return [_pretrain(n, arch(bn), *shp, depth, g, rule="meta") for n, bn in keys for g in self.groups]

    # ---- every job once
    @cached_property
    def jobs(self) -> list[Job]:
        """Every compute job of the config once, in COMPUTE_RULES order (a repeated cell's source's)."""
        cells = [self.source(j) for j in self.train(None)]
        every = self.pretrain(None) + cells + self.data_then_noise() + self.meta(None)
        return list(dict.fromkeys(every + [self.source(j) for j in self.ood(None)]))

    # ---- one job per computation
    @cached_property
    def _sources(self) -> dict[Job, Job]:
        first: dict[str, Job] = {}
        out = {}
        # the figures' cells first: which job holds them never depends on another study
        for j in dict.fromkeys(self.train("") + self.train(None)):
            pre = self.pretrain_of_train(j)
            twin = pre.file(paths.PRETRAIN_CHECKPOINT) if pre else None
            out[j] = first.setdefault(json.dumps([specs.computation(self.cfg, j.wc), twin], sort_keys=True), j)
        return out

    def source(self, job: Job) -> Job:
        """The job that computes cell ``job`` (a train or ood job): the first planned cell (the figures'
        study first) with the same computation (``specs.computation``: the spec without the cell's
        names) and the same twin; the cell itself when none comes before it. A reader of a repeated
        cell reads its source's files under the cell's names (``labels``)."""
        cell = Job("train", job.wildcards)
        return Job(job.rule, self._sources.get(cell, cell).wildcards)

    def cell_files(self, jobs: list[Job], pattern: str) -> list[str]:
        """The files of ``pattern`` that hold ``jobs``' cells: their sources', once each."""
        return list(dict.fromkeys(self.source(j).file(pattern) for j in jobs))

    def labels(self, jobs: list[Job], *patterns: str) -> dict[str, list[list[str]]]:
        """{file: [[experiment, condition], ...]} for the files (of ``patterns``) that hold ``jobs``' cells
        under other names than their own: a reader repeats such a file's rows under each of them
        (``tidy.read_cells``). Files that hold only their own cell are left out."""
        names: dict[str, list[list[str]]] = {}
        own: dict[str, list[list[str]]] = {}
        for j in jobs:
            src = self.source(j)
            for p in patterns:
                f = src.file(p)
                cell, held = [j.wc["experiment"], j.wc["condition"]], names.setdefault(f, [])
                held += [cell] if cell not in held else []
                own[f] = [[src.wc["experiment"], src.wc["condition"]]]
        return {f: n for f, n in names.items() if n != own[f]}

    @cached_property
    def datasets(self) -> list[str]:
        """Every dataset a job of the config reads (trained on, tested on out of distribution, or
        adapted to in the meta-loss task): what the `download` target fetches."""
        used = {j.wc["dataset"] for j in self.jobs if "dataset" in j.wc}
        used |= {e for d in set(used) for e in ood_external(self.cfg, d)}
        used |= set(self.cfg["meta"]["tasks"]) if self.meta(None) else set()
        return sorted(used)

    # ---- the CNN experiment's files (what noisefa.family_claims reads)
    def cnn_entry(self) -> dict | None:
        """The CNN experiment's files: training metrics and details, and its pretraining's metrics
        ({file: [datasets whose FA w/ networks start from it]}) and details; None when it is off."""
        jobs = self.train(CNN)
        if not jobs:
            return None
        pre: dict[str, list[str]] = {}
        for j in jobs:
            if (p := self.pretrain_of_train(j)) and not get_condition(j.wc["condition"]).control:
                users = pre.setdefault(p.file(paths.PRETRAIN_METRICS), [])
                users += [j.wc["dataset"]] if j.wc["dataset"] not in users else []
        details = [p.file(paths.PRETRAIN_DETAILS) for p in self.pretrain(CNN)]
        return {
            "experiment": CNN,
            "noise": self.cfg[CNN]["noise"],
            "batchnorm": bool(self.cfg[CNN]["model"].get("batchnorm", False)),
            "train": self.cell_files(jobs, paths.TRAIN_METRICS),
            "train_details": self.cell_files(jobs, paths.TRAIN_DETAILS),
            "labels": self.labels(jobs, paths.TRAIN_METRICS, paths.TRAIN_DETAILS),
            "pretrain": pre,
            "pretrain_details": details,
        }

    # ---- the protocol study's files, per protocol (what noisefa.analysis.protocols.tables_for reads)
    def protocol_entries(self) -> list[dict]:
        p, out = self.cfg["protocols"], []
        for proto in protocol_grid(self.cfg):
            jobs = [_cell("train", *cell, g) for cell in protocol_cells(self.cfg, proto) for g in self.groups]
            pre: dict[str, list[str]] = {}
            details = []
            for d in p["datasets"]:
                for depth in p["depths"]:
                    for g in self.groups:
                        job = self.pretrain_of(proto.pretrained, d, depth, g)
                        users = pre.setdefault(job.file(paths.PRETRAIN_METRICS), [])
                        users += [d] if d not in users else []
                        details.append(job.file(paths.PRETRAIN_DETAILS))
            ood = [Job("ood", j.wildcards) for j in jobs] if self.cfg["ood"]["enabled"] else []
            out.append({
                "noise": proto.noise, "batchnorm": proto.batchnorm,
                "train": self.cell_files(jobs, paths.TRAIN_METRICS),
                "train_details": self.cell_files(jobs, paths.TRAIN_DETAILS),
                "labels": {**self.labels(jobs, paths.TRAIN_METRICS, paths.TRAIN_DETAILS), **self.labels(ood, paths.OOD)},
                "pretrain": pre, "pretrain_details": list(dict.fromkeys(details)), "ood": self.cell_files(ood, paths.OOD),
                "meta": [j.file(paths.META) for j in self.meta(noise=proto.noise, batchnorm=proto.batchnorm)],
            })  # fmt: skip
        return out


def ood_external(cfg: dict, dataset: str) -> list[str]:
    """The sets of `ood.external` an OOD job of ``dataset``'s networks is tested on: those of its label
    space (``datasets.same_labels``). For `ood.dataset` that is all of them (``config.validate``
    refuses any other); a protocol-study cell of another dataset (`protocols.datasets`, e.g.
    Fashion-MNIST beside digit sets) is tested on none, never on labels it was not trained for.
    (Its C15 rows would not be read anyway: the protocol study repeats C14, not C15.)"""
    return [d for d in cfg["ood"]["external"] if same_labels(d, dataset)]


def plan(cfg: dict) -> Plan:
    return Plan(cfg)


def files(jobs: list[Job], pattern: str) -> list[str]:
    return [j.file(pattern) for j in jobs]
