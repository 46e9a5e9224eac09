"""Which networks the config asks for: the main sweep and the experiments behind single figures.

An *experiment* is a named set of training cells (dataset x depth x condition) that share
a training config; its name is the ``experiment`` column and a folder of results/train/.

- the main sweep (``experiment`` key): every dataset x depth x condition (Figs. 3, 4g,h; Table 1);
- ``figure2``: one dataset (an MNIST subset in the paper) at one depth, long learning curves,
  the order controls (Fig. 2);
- ``size<N>``: the generalisation-gap sweep over training-set sizes N at the same number of
  updates (Fig. 4e,f);
- ``rules``: beyond the paper, noise-pretrained FA against sign-symmetry, DFA, Kolen-Pollack
  and the weight mirror (the ``rules`` figure);
- ``controls``: beyond the paper, the control conditions (``conditions.CONTROLS``) at every cell of
  the main sweep, trained like it (the ``mechanism`` table and figure);
- ``dose<angle>``: beyond the paper, fa_aligned at a fixed target angle on one dataset (the
  alignment dose-response of the ``mechanism`` figure);
- ``cnn``: beyond the paper (its future work), the convolutional family (``noisefa.nets.families``) on
  image datasets: BP, FA w/o, FA w/, the controls and the other rules at the CNN's one depth, its
  own study (``CNN``): its claims are computed from its own files (``noisefa.family_claims``), never
  mixed into the MLP's tables;
- ``protocols-<bn|nobn>`` and ``protocols-<bn|nobn>-<noise set>``: the protocol study
  (``protocols`` key): per BatchNorm setting one experiment of BP and FA w/o networks, shared by
  every noise protocol, and per noise set one of FA w/ networks pretrained on it. A cell the main
  sweep already trains the same way is the main sweep's, never trained twice (``protocol_grid``).

Figure 1's noise sweep needs no training cells: it is pretraining jobs only (``noise_sweep``).
Snakemake's common.smk and the tests both plan from here, so a config means one set of jobs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..data.datasets import get_spec
from ..nets.families import MLP, fixed_depth
from .conditions import get_condition

FIGURE2 = "figure2"
SIZE_PREFIX = "size"
RULES = "rules"
PROTOCOLS = "protocols"
CONTROLS = "controls"
DOSE_PREFIX = "dose"
CNN = "cnn"
KINDS = ("main", FIGURE2, SIZE_PREFIX, RULES, PROTOCOLS, CONTROLS, DOSE_PREFIX, CNN)  # what an experiment is for


def dose_experiment(angle: int) -> str:
    """The name of the dose-response experiment at fa_aligned's target ``angle`` (made here only)."""
    return f"{DOSE_PREFIX}{int(angle)}"


def size_experiment(size: int) -> str:
    """The name of Figure 4e,f's experiment at training-set size ``size`` (made here only)."""
    return f"{SIZE_PREFIX}{int(size)}"


def noise_shape(dim: int, classes: int) -> str:
    """The `dataset` of a pretraining job's rows: its input shape, which tells sets of one name apart."""
    return f"noise:in{int(dim)}_c{int(classes)}"


@dataclass(frozen=True)
class Experiment:
    name: str
    datasets: tuple[str, ...]
    depths: tuple[int, ...]
    conditions: tuple[str, ...]
    train_overrides: dict  # applied after `train` and `train_overrides[dataset]`
    batchnorm: bool | None = None  # None: model.batchnorm
    noise: str | None = None  # the noise set FA w/ pretrains on; None: noise.use
    study: str = ""  # "" for the figures' experiments (the main tables), PROTOCOLS the protocol study, CNN the CNN
    kind: str = "main"  # one of KINDS: the summary's `kind` column
    aligned_angle: str | float | None = None  # fa_aligned's target; None: `controls.aligned_angle`
    family: str = MLP  # the model family (noisefa.nets.families) of its networks

    def train_size(self, cfg: dict, dataset: str) -> int:
        """Training images its networks of ``dataset`` learn from (the summary's `train_size` column)."""
        return int(train_config(cfg, self.name, dataset).get("train_subset") or get_spec(dataset).sizes[0])


@dataclass(frozen=True)
class Protocol:
    """One cell of the protocol study: a noise set and a BatchNorm setting, with the experiments
    whose BP / FA w/o networks (shared by every set of this BatchNorm setting) and FA w/ networks
    it compares."""

    noise: str
    batchnorm: bool
    shared: str
    pretrained: str


def arch(batchnorm: bool, family: str = MLP) -> str:
    """The path segment of a pretraining job's architecture variant (the `arch` wildcard): an MLP's
    BatchNorm setting (``bn``, ``nobn``: the paths written before other families existed), else the
    family's name (``cnn``: its BatchNorm setting is its model block's, in the job spec)."""
    if family != MLP:
        return family
    return "bn" if batchnorm else "nobn"


ARCHS = ("bn", "nobn", CNN)  # every value of the `arch` wildcard


def model_block(cfg: dict, arch_key: str) -> dict:
    """The `model` of a job spec of architecture ``arch_key``: what ``families.build`` builds. An MLP's
    is `model` with its BatchNorm setting (no `family` key: its jobs' specs predate the families)."""
    if arch_key == CNN:  # BatchNorm off is no key: the specs of CNN jobs from before it existed hold
        return {"family": CNN, **{k: v for k, v in cfg[CNN]["model"].items() if k != "batchnorm" or v}}
    return {**cfg["model"], "batchnorm": arch_key == "bn"}


def pretrain_block(cfg: dict, arch_key: str, depth: int) -> dict:
    """Noise pretraining of networks of ``arch_key`` and ``depth``: the MLP's per depth
    (``pretrain_config``), the CNN's `pretrain` with `cnn.pretrain`."""
    if arch_key == CNN:
        return {**cfg["pretrain"], **cfg[CNN]["pretrain"]}
    return pretrain_config(cfg, depth)


def pretrain_config(cfg: dict, depth: int) -> dict:
    """Noise pretraining of networks of ``depth``: `pretrain` with `pretrain_overrides.depth<N>`."""
    return {**cfg["pretrain"], **cfg.get("pretrain_overrides", {}).get(f"depth{int(depth)}", {})}


def base_train(cfg: dict, dataset: str) -> dict:
    return {**cfg["train"], **cfg["train_overrides"].get(dataset, {})}


def size_overrides(cfg: dict, dataset: str, size: int) -> dict:
    """Same number of updates at every size: small sets get more epochs, ~`evaluations` evaluations."""
    g = cfg["generalisation"]
    bs = base_train(cfg, dataset)["batch_size"]
    epochs = max(1, math.ceil(g["updates"] / math.ceil(size / bs)))
    return {"train_subset": size, "epochs": epochs, "evals_per_epoch": g["evaluations"] / epochs}


def figure2_experiment(cfg: dict) -> str:
    """The experiment whose networks Figure 2 shows: the main sweep's own cell when Figure 2's
    dataset and depth are in it and its training is the same (no duplicate jobs), else `figure2`."""
    f2 = cfg["figure2"]
    same = f2["dataset"] in cfg["datasets"] and f2["depth"] in cfg["depths"]
    if same and {**base_train(cfg, f2["dataset"]), **f2["train"]} == base_train(cfg, f2["dataset"]):
        return cfg["experiment"]
    return FIGURE2


def _main_has(cfg: dict, datasets, depths, conditions) -> bool:
    return (
        set(datasets) <= set(cfg["datasets"]) and set(depths) <= set(cfg["depths"]) and set(conditions) <= set(cfg["conditions"])
    )


def protocol_grid(cfg: dict) -> list[Protocol]:
    """Every (noise set, BatchNorm) of the protocol study, with the experiments it reads."""
    p = cfg.get("protocols", {})
    if not p.get("enabled"):
        return []
    out, main = [], cfg["experiment"]
    for bn in p["batchnorm"]:
        same_arch = all(batchnorm_at(cfg, d) == bool(bn) for d in p["depths"])
        shared = main if same_arch and _main_has(cfg, p["datasets"], p["depths"], ("bp", "fa_wo")) else f"{PROTOCOLS}-{arch(bn)}"
        for s in p["sets"]:
            reuse = same_arch and s == cfg["noise"]["use"] and _main_has(cfg, p["datasets"], p["depths"], ("fa_w",))
            out.append(Protocol(s, bool(bn), shared, main if reuse else f"{PROTOCOLS}-{arch(bn)}-{s}"))
    return out


def _protocol_experiments(cfg: dict) -> dict[str, Experiment]:
    p, out = cfg.get("protocols", {}), {}
    for proto in protocol_grid(cfg):
        for name, conds, noise in ((proto.shared, ("bp", "fa_wo"), None), (proto.pretrained, ("fa_w",), proto.noise)):
            if name != cfg["experiment"]:
                out[name] = Experiment(
                    name, tuple(p["datasets"]), tuple(p["depths"]), conds, {}, proto.batchnorm, noise, PROTOCOLS, PROTOCOLS
                )
    return out


def batchnorm_at(cfg: dict, depth: int) -> bool:
    """Whether the figures' networks of ``depth`` have BatchNorm: `model.batchnorm`, unless
    `model_overrides.depth<N>` says otherwise (the primary protocol's rule may need it at one depth)."""
    return bool(cfg.get("model_overrides", {}).get(f"depth{int(depth)}", {}).get("batchnorm", cfg["model"]["batchnorm"]))


def experiment_batchnorm(cfg: dict, name: str, depth: int) -> bool:
    e = experiments(cfg)[name]
    return batchnorm_at(cfg, depth) if e.batchnorm is None else bool(e.batchnorm)


def experiment_arch(cfg: dict, name: str, depth: int) -> str:
    """The `arch` key (``arch``) of ``name``'s networks of ``depth``."""
    return arch(experiment_batchnorm(cfg, name, depth), experiments(cfg)[name].family)


def experiment_noise(cfg: dict, name: str) -> str:
    e = experiments(cfg)[name]
    return e.noise or cfg["noise"]["use"]


def experiments(cfg: dict) -> dict[str, Experiment]:
    conds = tuple(cfg["conditions"])
    out = {
        cfg["experiment"]: Experiment(cfg["experiment"], tuple(cfg["datasets"]), tuple(cfg["depths"]), conds, {}),
    }
    f2 = cfg["figure2"]
    if f2["enabled"] and figure2_experiment(cfg) == FIGURE2:
        out[FIGURE2] = Experiment(FIGURE2, (f2["dataset"],), (f2["depth"],), conds, dict(f2["train"]), kind=FIGURE2)
    r = cfg["rules"]
    if r["enabled"]:
        out[RULES] = Experiment(
            RULES, tuple(r["datasets"]), tuple(r["depths"]), tuple(r["conditions"]), dict(r["train"]), kind=RULES
        )
    g = cfg["generalisation"]
    if g["enabled"]:
        for n in g["sizes"]:
            name = size_experiment(n)
            overrides = size_overrides(cfg, g["dataset"], n)
            out[name] = Experiment(name, (g["dataset"],), tuple(g["depths"]), conds, overrides, kind=SIZE_PREFIX)
    out.update(_protocol_experiments(cfg))
    out.update(_control_experiments(cfg))
    c = cfg.get(CNN, {})
    if c.get("enabled"):
        depth = fixed_depth(model_block(cfg, CNN))
        out[CNN] = Experiment(CNN, tuple(c["datasets"]), (depth,), tuple(c["conditions"]), dict(c["train"]),
                              batchnorm=bool(c["model"].get("batchnorm", False)), noise=c["noise"], study=CNN, kind=CNN,
                              family=CNN)  # fmt: skip
    return out


def _control_experiments(cfg: dict) -> dict[str, Experiment]:
    c = cfg.get("controls", {})
    if not c.get("enabled"):
        return {}
    conds = tuple(c["conditions"])
    out = {CONTROLS: Experiment(CONTROLS, tuple(cfg["datasets"]), tuple(cfg["depths"]), conds, {}, kind=CONTROLS)}
    dose = c["dose"]
    if dose["enabled"]:
        for a in dose["angles"]:
            name = dose_experiment(a)
            out[name] = Experiment(name, (dose["dataset"],), tuple(dose["depths"]), ("fa_aligned",), {}, kind=DOSE_PREFIX,
                                   aligned_angle=float(a))  # fmt: skip
    return out


def aligned_angle(cfg: dict, experiment: str) -> str | float:
    """fa_aligned's target angle in ``experiment``: its own (a dose) or `controls.aligned_angle`."""
    e = experiments(cfg)[experiment]
    return e.aligned_angle if e.aligned_angle is not None else cfg.get("controls", {}).get("aligned_angle", "matched")


def condition_noise(cfg: dict, experiment: str, condition: str) -> str:
    """The noise set the twin of ``condition``'s networks in ``experiment`` pretrains on."""
    return cfg["controls"]["fresh_noise"] if get_condition(condition).fresh_noise else experiment_noise(cfg, experiment)


# Figure 2 (curves) and the size sweep (fixed updates) run to the cap
STOPS_AT_CONVERGENCE = ("main", RULES, PROTOCOLS, CONTROLS, DOSE_PREFIX, CNN)


def train_stop(cfg: dict, experiment: str) -> dict | None:
    """The convergence rule a training job of ``experiment`` stops by, or None (to the epoch cap):
    only with `convergence.stop_at_convergence` and an AUC window (`convergence.auc_epochs`), which
    every network trains in full first, so that every condition's AUC covers the same epochs. A late
    window (`convergence.late_epochs`, the last epochs before the cap) needs the cap: no job stops."""
    c = cfg["convergence"]
    if not c.get("stop_at_convergence") or c.get("auc_epochs") is None or c.get("late_epochs"):
        return None
    if experiments(cfg)[experiment].kind not in STOPS_AT_CONVERGENCE:
        return None
    return {"patience_epochs": c["patience_epochs"], "min_delta": c["min_delta"], "min_epochs": c["auc_epochs"]}


def generalisation_sizes(cfg: dict) -> dict[str, int]:
    """{experiment: training-set size} of Figure 4e,f's sweep (empty when it is off)."""
    g = cfg["generalisation"]
    return {size_experiment(n): int(n) for n in g["sizes"]} if g["enabled"] else {}


def experiment_columns(cfg: dict) -> dict[str, dict]:
    """{experiment: {"kind", "train_size": {dataset: images}}}: the summary's identity columns."""
    return {
        name: {"kind": e.kind, "train_size": {d: e.train_size(cfg, d) for d in e.datasets}}
        for name, e in experiments(cfg).items()
    }


# train keys added after results existed: at their off value they are left out of a job's spec, so
# adding one never reruns a job that does not use it
OFF_WHEN_ZERO = ("clip_grad_norm",)


def train_config(cfg: dict, experiment: str, dataset: str) -> dict:
    merged = {**base_train(cfg, dataset), **experiments(cfg)[experiment].train_overrides}
    return {k: v for k, v in merged.items() if not (k in OFF_WHEN_ZERO and not v)}


def train_cells(cfg: dict, study: str | None = None) -> list[tuple[str, str, int, str]]:
    """(experiment, dataset, depth, condition) of every training cell (of one ``study`` if given:
    "" the figures' experiments, PROTOCOLS the protocol study's own)."""
    return [
        (e.name, d, depth, c)
        for e in experiments(cfg).values()
        if study is None or e.study == study
        for d in e.datasets
        for depth in e.depths
        for c in e.conditions
    ]


def noise_sweep(cfg: dict) -> list[tuple[str, int, int, int]]:
    """(noise set, in_dim, classes, depth) of Figure 1's pretraining jobs (the used set first)."""
    f1 = cfg["figure1"]
    if not f1["enabled"]:
        return []
    spec = get_spec(f1["dataset"])
    names = [cfg["noise"]["use"]] + [s for s in f1["sets"] if s != cfg["noise"]["use"]]
    return [(n, spec.in_dim, spec.n_classes, f1["depth"]) for n in names]


def ood_cells(cfg: dict) -> list[tuple[str, str, int, str]]:
    """(experiment, dataset, depth, condition) of the main sweep's cells tested out of distribution,
    and of the controls at the same cells (the mechanism of C14 and C15)."""
    ood = cfg["ood"]
    if not ood["enabled"]:
        return []
    out = [(cfg["experiment"], ood["dataset"], depth, c) for depth in ood["depths"] for c in cfg["conditions"]]
    if cfg.get("controls", {}).get("enabled") and ood["dataset"] in cfg["datasets"]:
        out += [(CONTROLS, ood["dataset"], depth, c) for depth in ood["depths"] if depth in cfg["depths"]
                for c in cfg["controls"]["conditions"]]  # fmt: skip
    return out


def ood_tests(cfg: dict) -> dict[str, list[float]]:
    """{transform: magnitudes}, each list with its identity first (the in-distribution reference)."""
    from ..data.transforms import TRANSFORMS

    out = {}
    for name, tf in TRANSFORMS.items():
        mags = [float(m) for m in cfg["ood"].get(name, [])]
        out[name] = [tf.identity] + [m for m in dict.fromkeys(mags) if m != tf.identity]
    return out


def meta_shape(cfg: dict) -> tuple[int, int] | None:
    """(in_dim, classes) of the meta-loss tasks, or None when the experiment is off."""
    if not cfg["meta"]["enabled"]:
        return None
    spec = get_spec(cfg["meta"]["tasks"][0])
    return spec.in_dim, spec.n_classes


def snapshot_steps(steps: int, n: int) -> list[int]:
    """``n`` evenly spaced noise steps from 0 to ``steps`` (both included)."""
    return sorted({round(k * steps / (n - 1)) for k in range(n)})


def protocol_cells(cfg: dict, proto: Protocol) -> list[tuple[str, str, int, str]]:
    """(experiment, dataset, depth, condition) of one protocol's BP, FA w/o and FA w/ cells."""
    p = cfg["protocols"]
    out = [(proto.shared, d, depth, c) for d in p["datasets"] for depth in p["depths"] for c in ("bp", "fa_wo")]
    return out + [(proto.pretrained, d, depth, "fa_w") for d in p["datasets"] for depth in p["depths"]]


def protocol_ood_cells(cfg: dict) -> list[tuple[str, str, int, str]]:
    """The protocol study's cells tested on transformed inputs (C14) that Figure 5 does not test already."""
    if not cfg["ood"]["enabled"]:
        return []
    cells = [c for proto in protocol_grid(cfg) for c in protocol_cells(cfg, proto)]
    return [c for c in dict.fromkeys(cells) if c not in set(ood_cells(cfg))]


def fresh_noise_meta(cfg: dict) -> list[tuple[str, bool]]:
    """(noise set, BatchNorm) of the meta-loss job of fa_fresh's twins (C16's fresh-noise control)."""
    c = cfg.get("controls", {})
    if not cfg["meta"]["enabled"] or not c.get("enabled") or "fa_fresh" not in c["conditions"]:
        return []
    return [(c["fresh_noise"], batchnorm_at(cfg, cfg["meta"]["depth"]))]


def meta_controls(cfg: dict, noise: str) -> list[str]:
    """The control starts (noisefa.nets.starts) the meta-loss job on ``noise`` also adapts from: those of
    the configured controls built from its own networks, for the primary noise set only (fa_fresh's
    twins have a meta job of their own, ``fresh_noise_meta``)."""
    c = cfg.get("controls", {})
    if not c.get("enabled") or noise != cfg["noise"]["use"]:
        return []
    return [get_condition(n).start for n in c["conditions"] if not get_condition(n).fresh_noise]


def protocol_meta(cfg: dict) -> list[tuple[str, bool]]:
    """(noise set, BatchNorm) of the protocol study's meta-loss jobs (C16) beyond Figure 6's own."""
    if not cfg["meta"]["enabled"]:
        return []
    main = (cfg["noise"]["use"], batchnorm_at(cfg, cfg["meta"]["depth"]))
    return [k for k in dict.fromkeys((p.noise, p.batchnorm) for p in protocol_grid(cfg)) if k != main]
