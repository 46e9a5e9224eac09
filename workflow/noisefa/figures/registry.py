"""Every figure in one place: its module, the tables it reads, its context and title from the config,
when it is drawn, its caption and the report notebook that shows it.

``workflow/rules/figures.smk`` makes one rule per entry, and ``common.smk`` derives the figure
targets, the report list and the report wildcard from here; the tests read it too. Adding a
figure = a module in this package (``plot`` and a ``main`` that takes ``style.cli``'s arguments),
an entry here and a caption in ``workflow/report/``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..analysis.claims import protocol_label
from ..analysis.protocols import protocol_column
from ..data.datasets import get_spec
from ..pipeline import paths
from ..pipeline.experiments import (
    CNN,
    RULES,
    batchnorm_at,
    figure2_experiment,
    generalisation_sizes,
    noise_shape,
    noise_sweep,
    ood_tests,
    pretrain_config,
    train_config,
)

TABLES = {  # the figure CLIs' table arguments -> the file each reads
    "metrics": paths.METRICS,
    "summary": paths.SUMMARY,
    "pretrain": paths.PRETRAIN_TABLE,
    "details": paths.DETAILS,
    "ood": paths.OOD_TABLE,
    "meta": paths.META_TABLE,
    "protocols": paths.PROTOCOLS_TABLE,
    "mechanism": paths.MECHANISM,
    "dose": paths.DOSE_RESPONSE,
}


@dataclass(frozen=True)
class Figure:
    name: str  # results/figures/<name>.png
    rule: str  # the Snakemake rule that draws it
    module: str  # noisefa.figures.<module>
    tables: tuple[str, ...]  # keys of TABLES, passed as --<key>
    caption: str  # workflow/report/<caption>
    category: str  # its section of `snakemake --report`
    report: str  # the notebook (workflow/notebooks/<report>.ipynb) that shows it
    context: Callable[[dict], dict]
    title: Callable[[dict], str]
    enabled: Callable[[dict], bool] = lambda cfg: True
    trajectories: str = ""  # a planner entry (common.smk's TRAJECTORY_FILES) giving {label: trajectory file}
    sources: tuple[tuple[str, str], ...] = ()  # (table, file) pairs read instead of TABLES' (another study's tables)

    @property
    def files(self) -> dict[str, str]:
        """{CLI table argument: the file it reads}."""
        return {t: dict(self.sources).get(t, TABLES[t]) for t in self.tables}


# ---- what the figures show, from the config


def shape_label(dataset: str) -> str:
    spec = get_spec(dataset)
    return noise_shape(spec.in_dim, spec.n_classes)


def noise_title(cfg: dict) -> str:
    spec = cfg["noise"]["sets"][cfg["noise"]["use"]]
    return f"noise set {cfg['noise']['use']} ({protocol_label(spec)} protocol)"


def data_note(cfg: dict, datasets=None) -> str:
    return "data: " + ", ".join(f"{d} ({get_spec(d).description})" for d in datasets or cfg["datasets"])


def _main(cfg: dict) -> dict:
    return {"experiment": cfg["experiment"], "convergence": cfg["convergence"]}


def _figure1(cfg: dict) -> dict:
    f1 = cfg["figure1"]
    return {
        "noise": cfg["noise"]["use"],
        "noise_sets": {n: cfg["noise"]["sets"][n] for n, *_ in noise_sweep(cfg)},
        "shape": shape_label(f1["dataset"]),
        "classes": get_spec(f1["dataset"]).n_classes,
        "depth": f1["depth"],
        "pretrain": pretrain_config(cfg, f1["depth"]),
    }


def _figure2(cfg: dict) -> dict:
    f2, e = cfg["figure2"], figure2_experiment(cfg)
    return {"experiment": e, "dataset": f2["dataset"], "depth": f2["depth"], "noise": cfg["noise"]["use"],
            "train": train_config(cfg, e, f2["dataset"])}  # fmt: skip


def _figure3(cfg: dict) -> dict:
    return {"experiment": cfg["experiment"], "datasets": cfg["datasets"], "depths": cfg["depths"],
            "table1": cfg["table1"], "convergence": cfg["convergence"]}  # fmt: skip


def _figure4(cfg: dict) -> dict:
    g = cfg["generalisation"]
    return {"experiment": cfg["experiment"], "noise": cfg["noise"]["use"], "shape": shape_label(cfg["figure1"]["dataset"]),
            "classes": get_spec(cfg["figure1"]["dataset"]).n_classes, "depth": cfg["figure1"]["depth"],
            "generalisation": {**g, "experiments": generalisation_sizes(cfg)}}  # fmt: skip


def _figure5(cfg: dict) -> dict:
    ood = cfg["ood"]
    return {"experiment": cfg["experiment"], "dataset": ood["dataset"], "tests": ood_tests(cfg), "external": ood["external"],
            "classes": get_spec(ood["dataset"]).n_classes,
            "descriptions": {d: get_spec(d).description for d in ood["external"]}}  # fmt: skip


def _figure6(cfg: dict) -> dict:
    return {"noise": cfg["noise"]["use"], "meta": cfg["meta"], "classes": get_spec(cfg["meta"]["tasks"][0]).n_classes,
            "pretrain_steps": pretrain_config(cfg, cfg["meta"]["depth"])["steps"]}  # fmt: skip


def _rules(cfg: dict) -> dict:
    r = cfg["rules"]
    return {"experiment": RULES, "conditions": r["conditions"], "datasets": r["datasets"], "depths": r["depths"]}


def _protocols(cfg: dict) -> dict:
    used = cfg["noise"]["use"]
    bn = batchnorm_at(cfg, cfg["protocols"]["depths"][0])
    return {"alpha": cfg["claims"]["alpha"],
            "primary_column": protocol_column(used, protocol_label(cfg["noise"]["sets"][used]), bn)}  # fmt: skip


def _cnn(cfg: dict) -> dict:
    c = cfg[CNN]
    return {"experiment": CNN, "conditions": c["conditions"], "datasets": c["datasets"]}


def _cnn_title(cfg: dict) -> str:
    c = cfg[CNN]
    m = c["model"]
    spec = cfg["noise"]["sets"][c["noise"]]
    return (f"CNN (conv {m['channels']} {m['kernel']}x{m['kernel']}, pool {m['pool']}, hidden {m['hidden']}): BP, FA, "
            f"the controls and the other rules; noise set {c['noise']} ({protocol_label(spec)}); "
            + data_note(cfg, c["datasets"]))  # fmt: skip


def _figure2_title(cfg: dict) -> str:
    f2 = cfg["figure2"]
    return f"Figure 2: {f2['dataset']} ({get_spec(f2['dataset']).description}), depth {f2['depth']}, {noise_title(cfg)}"


FIGURES: dict[str, Figure] = {
    f.name: f
    for f in (
        Figure("learning_curves", "figure_learning_curves", "learning_curves", ("metrics",), "learning_curves.rst",
               "Learning curves", "main", _main,
               lambda cfg: f"Test accuracy, {noise_title(cfg)}; {data_note(cfg)}"),
        Figure("alignment", "figure_alignment", "alignment", ("metrics",), "alignment.rst", "Alignment", "main", _main,
               lambda cfg: f"Last-layer W-B angle, {noise_title(cfg)}"),
        Figure("figure1", "figure1", "figure1", ("pretrain", "details"), "figure1.rst", "Figure 1", "figure1", _figure1,
               lambda cfg: f"Figure 1: noise training, input shape of {cfg['figure1']['dataset']}, depth "
                           f"{cfg['figure1']['depth']}; angles of the last layer",
               enabled=lambda cfg: cfg["figure1"]["enabled"]),
        Figure("figure2", "figure2", "figure2", ("metrics", "summary"), "figure2.rst", "Figure 2", "figure2", _figure2,
               _figure2_title, enabled=lambda cfg: cfg["figure2"]["enabled"], trajectories="figure2"),
        Figure("figure3", "figure3", "figure3", ("summary",), "figure3.rst", "Figure 3", "figure3", _figure3,
               lambda cfg: f"Figure 3: converged test accuracy, {noise_title(cfg)}; {data_note(cfg)}"),
        Figure("figure4", "figure4", "figure4", ("metrics", "pretrain", "details"), "figure4.rst", "Figure 4", "figure4",
               _figure4, lambda cfg: f"Figure 4: {noise_title(cfg)}; {data_note(cfg)}"),
        Figure("figure5", "figure5", "figure5", ("ood",), "figure5.rst", "Figure 5", "figure5", _figure5,
               lambda cfg: f"Figure 5: networks trained on {cfg['ood']['dataset']} "
                           f"({get_spec(cfg['ood']['dataset']).description}), tested out of distribution; {noise_title(cfg)}",
               enabled=lambda cfg: cfg["ood"]["enabled"]),
        Figure("figure6", "figure6", "figure6", ("meta",), "figure6.rst", "Figure 6", "figure6", _figure6,
               lambda cfg: f"Figure 6: meta-loss on {', '.join(cfg['meta']['tasks'])}; {noise_title(cfg)}",
               enabled=lambda cfg: cfg["meta"]["enabled"], trajectories="figure6"),
        Figure("rules", "figure_rules", "rules", ("metrics", "summary", "details"), "rules.rst", "Beyond the paper", "rules",
               _rules, lambda cfg: f"Learning rules without weight transport vs noise-pretrained FA; {noise_title(cfg)}",
               enabled=lambda cfg: cfg["rules"]["enabled"]),
        Figure("protocols", "figure_protocols", "protocols", ("protocols",), "protocols.rst", "Beyond the paper",
               "protocols", _protocols,
               lambda cfg: "Claims under every noise protocol, with and without BatchNorm; "
                           + data_note(cfg, cfg["protocols"]["datasets"]) + f", depths {cfg['protocols']['depths']}",
               enabled=lambda cfg: cfg["protocols"]["enabled"]),
        Figure("cnn", "figure_cnn", "rules", ("metrics", "summary", "details"), "cnn.rst", "CNN", "cnn", _cnn, _cnn_title,
               enabled=lambda cfg: cfg[CNN]["enabled"],
               sources=(("metrics", paths.CNN_METRICS), ("summary", paths.CNN_SUMMARY), ("details", paths.CNN_DETAILS))),
        Figure("mechanism", "figure_mechanism", "mechanism", ("mechanism", "dose"), "mechanism.rst", "Beyond the paper",
               "main", lambda cfg: {},
               lambda cfg: f"Why: the controls against FA w/; {noise_title(cfg)}; {data_note(cfg)}",
               enabled=lambda cfg: cfg["controls"]["enabled"]),
    )
}  # fmt: skip


def figures(cfg: dict) -> list[str]:
    """The figures this config draws, in registry order."""
    return [f.name for f in FIGURES.values() if f.enabled(cfg)]


def reports(cfg: dict) -> dict[str, list[str]]:
    """{report notebook: the figures it shows} for this config (a report whose figures are all off is left out)."""
    out: dict[str, list[str]] = {}
    for name in figures(cfg):
        out.setdefault(FIGURES[name].report, []).append(name)
    return out


REPORT_NAMES = tuple(dict.fromkeys(f.report for f in FIGURES.values()))
