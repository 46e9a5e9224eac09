"""Load and check a pipeline config: JSON-schema validation with defaults, then
semantic checks against the registries. Every error names the key, the bad value
and what is allowed, and is raised before any job starts.
"""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path

import jsonschema
import yaml

from ..data.datasets import DATASETS, datasets_of_label_space, get_spec, label_space_text, same_labels
from ..data.noise import DISTRIBUTIONS
from ..errors import SizeError, refuse_larger
from ..nets.families import architecture, fixed_depth
from ..nets.optimizers import OPTIMIZERS
from .conditions import CONDITIONS
from .experiments import (
    CNN,
    CONTROLS,
    DOSE_PREFIX,
    FIGURE2,
    PROTOCOLS,
    RULES,
    SIZE_PREFIX,
    base_train,
    experiments,
    model_block,
    noise_sweep,
    pretrain_block,
    pretrain_config,
    train_config,
)

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    pass


def schema() -> dict:
    return yaml.safe_load(SCHEMA_PATH.read_text())


def _with_defaults(cls):
    validate_props = cls.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if "default" in sub:
                    instance.setdefault(key, copy.deepcopy(sub["default"]))
        yield from validate_props(validator, properties, instance, schema)

    return jsonschema.validators.extend(cls, {"properties": set_defaults})


_Validator = _with_defaults(jsonschema.Draft202012Validator)


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def _schema_errors(instance: dict, sch: dict, prefix: str = "") -> None:
    errors = sorted(_Validator(sch).iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        key = prefix + _key(e.absolute_path)
        hint = ""
        if e.validator == "additionalProperties":
            allowed = sorted(e.schema.get("properties", {}))
            hint = f"; allowed keys here: {allowed}" if allowed else ""
        if e.validator == "type" and isinstance(e.instance, str) and _NUMBER_TEXT.fullmatch(e.instance.strip()):
            hint = (f"; YAML reads {e.instance} as text (an exponent needs a dot before it): write "
                    f"{float(e.instance):.1e}".replace("e-0", "e-").replace("e+0", "e+"))  # fmt: skip
        raise ConfigError(f"config key {key}: {e.message}{hint}")


# What YAML 1.1 leaves as a string but a reader means as a number: 1e-3, 5E4, +2e1
_NUMBER_TEXT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _unknown(key: str, value, known) -> ConfigError:
    return ConfigError(f"config key {key}: unknown value {value!r}; allowed: {sorted(known)}")


def _check_names(key: str, values, registry) -> None:
    """Every entry of the list at ``key`` must name an entry of ``registry``."""
    for i, v in enumerate(values):
        if v not in registry:
            raise _unknown(f"{key}[{i}]", v, registry)


def validate(cfg: dict) -> dict:
    """Fill defaults into ``cfg`` (in place, as Snakemake's validate does), check it, return it."""
    sch = schema()
    _check_finite(cfg)
    _integral_floats(cfg, sch)
    for block, key in (("train_overrides", "train"), ("pretrain_overrides", "pretrain")):
        for override in (cfg.get(block) or {}).values():
            _integral_floats(override, sch["properties"][key])
    _schema_errors(cfg, sch)
    _check_duplicates(cfg)
    _check_names("datasets", cfg["datasets"], DATASETS)
    _check_names("conditions", cfg["conditions"], CONDITIONS)
    sets = cfg["noise"]["sets"]
    if cfg["noise"]["use"] not in sets:
        raise _unknown("noise.use", cfg["noise"]["use"], sets)
    for name, spec in sets.items():
        if spec["distribution"] not in DISTRIBUTIONS:
            raise _unknown(f"noise.sets.{name}.distribution", spec["distribution"], DISTRIBUTIONS)
    if cfg["pretrain"]["optimizer"] not in OPTIMIZERS:
        raise _unknown("pretrain.optimizer", cfg["pretrain"]["optimizer"], OPTIMIZERS)
    for key in cfg["pretrain_overrides"]:
        merged = pretrain_config(cfg, int(key.removeprefix("depth")))
        _schema_errors(merged, sch["properties"]["pretrain"], prefix=f"pretrain_overrides.{key} -> pretrain.")
        if merged["optimizer"] not in OPTIMIZERS:
            raise _unknown(f"pretrain_overrides.{key}.optimizer", merged["optimizer"], OPTIMIZERS)
    for d in cfg["train_overrides"]:
        if d not in DATASETS:
            raise _unknown(f"train_overrides.{d}", d, DATASETS)
        _schema_errors(base_train(cfg, d), sch["properties"]["train"], prefix=f"train_overrides.{d} -> train.")
    _check_figures(cfg, sch)
    for d in cfg["datasets"]:
        opt = base_train(cfg, d)["optimizer"]
        if opt not in OPTIMIZERS:
            raise _unknown(
                "train.optimizer" if d not in cfg["train_overrides"] else f"train_overrides.{d}.optimizer", opt, OPTIMIZERS
            )
    _check_windows(cfg)
    try:
        _check_sizes(cfg)
    except SizeError as exc:
        raise ConfigError(str(exc).replace(" (nothing was written)", "")) from None
    return cfg


FLOAT32_MAX = 3.4028234663852886e38


def _check_windows(cfg: dict) -> None:
    """The convergence rule's windows fit in the training they read (a longer one read nothing)."""
    for key in ("patience_epochs", "auc_epochs", "late_epochs"):
        window = cfg["convergence"][key]
        if window is None:
            continue
        for d in cfg["datasets"]:
            epochs = base_train(cfg, d)["epochs"]
            if window > epochs:
                where = f"train_overrides.{d}.epochs" if "epochs" in cfg["train_overrides"].get(d, {}) else "train.epochs"
                raise ConfigError(
                    f"config key convergence.{key}: {window:g} epochs is longer than the training of {d} ({where}: "
                    f"{epochs:g}); set it to at most {epochs:g}, or train longer"
                )


def _check_finite(node, path=()) -> None:
    """Every number-valued key is finite: YAML's .nan and .inf pass JSON-schema bounds
    (NaN compares false with every bound), then fail mid-training; and within float32's range,
    in which the networks compute (1e39 would become inf in the optimiser)."""
    if isinstance(node, dict):
        for k, v in node.items():
            _check_finite(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _check_finite(v, (*path, i))
    elif isinstance(node, float) and not math.isfinite(node):
        raise ConfigError(f"config key {_key(path)}: {node} is not a finite number; give a finite value")
    elif isinstance(node, (int, float)) and not isinstance(node, bool) and abs(node) > FLOAT32_MAX:
        raise ConfigError(
            f"config key {_key(path)}: {node:g} is beyond float32's range (largest {FLOAT32_MAX:.3g}), in which the "
            "networks compute; give a smaller value"
        )


def _integral_floats(node, sch: dict):
    """Where the schema asks for an integer, an integral float (``n_seeds: 2.0``) becomes that int, in
    place (JSON Schema counts 2.0 as an integer, Python's range() does not); 2.5 stays, for the
    schema to refuse by key."""
    types = sch.get("type")
    types = types if isinstance(types, list) else [types]
    if isinstance(node, float) and "integer" in types and "number" not in types and node.is_integer():
        return int(node)
    if isinstance(node, dict):
        extra = sch.get("additionalProperties")
        for k, v in node.items():
            sub = sch.get("properties", {}).get(k, extra if isinstance(extra, dict) else None)
            if sub is not None:
                node[k] = _integral_floats(v, sub)
    elif isinstance(node, list) and isinstance(sch.get("items"), dict):
        node[:] = [_integral_floats(v, sch["items"]) for v in node]
    return node


def _check_duplicates(node, path=()) -> None:
    """A list of names or numbers holds each once (a repeated OOD set or task was run and counted twice)."""
    if isinstance(node, dict):
        for k, v in node.items():
            _check_duplicates(v, (*path, k))
    elif isinstance(node, list):
        if all(isinstance(v, (str, int, float)) for v in node):
            seen = set()
            for v in node:
                if v in seen:
                    raise ConfigError(f"config key {_key(path)}: {v!r} is listed twice in {node}; list each entry once")
                seen.add(v)
        for i, v in enumerate(node):
            _check_duplicates(v, (*path, i))


def _train_key(cfg: dict, experiment: str, dataset: str, key: str) -> str:
    """Which config key set ``key`` of an experiment's training config (for error messages)."""
    if key in experiments(cfg)[experiment].train_overrides:
        if experiments(cfg)[experiment].kind == SIZE_PREFIX:
            return "generalisation.sizes" if key == "train_subset" else f"generalisation (its {key})"
        return {FIGURE2: f"figure2.train.{key}", RULES: f"rules.train.{key}"}.get(experiment, f"train.{key}")
    if key in cfg["train_overrides"].get(dataset, {}):
        return f"train_overrides.{dataset}.{key}"
    return f"train.{key}"


def _check_sizes(cfg: dict) -> None:
    """Sizes the dataset registry can check before any job: a subset or a batch larger than
    the training set, a batch larger than a fixed noise set (else batches silently shrink).
    Keys that are caps (eval_train_samples, gram_samples, meta.train_samples/eval_samples) are
    documented as "at most" and not refused."""
    for name, exp in experiments(cfg).items():
        for d in exp.datasets:
            tc, n_train = train_config(cfg, name, d), DATASETS[d].sizes[0]
            if tc.get("train_subset"):
                refuse_larger(_train_key(cfg, name, d, "train_subset"), tc["train_subset"], n_train, f"training images of {d}")
            n = tc.get("train_subset") or n_train
            refuse_larger(_train_key(cfg, name, d, "batch_size"), tc["batch_size"], n, f"training images of {d} ({name})")
    # every noise set some job pretrains on: the main one, Figure 1's, the protocol study's, fa_fresh's
    sets = {cfg["noise"]["use"]} | {s for s, *_ in noise_sweep(cfg)}
    depths = {*cfg["depths"], *cfg["rules"]["depths"], *cfg["generalisation"]["depths"]}
    depths |= {cfg["figure1"]["depth"], cfg["figure2"]["depth"], cfg["meta"]["depth"]}
    if cfg["protocols"]["enabled"]:
        sets |= set(cfg["protocols"]["sets"])
        depths |= set(cfg["protocols"]["depths"])
    if cfg["controls"]["enabled"] and "fa_fresh" in cfg["controls"]["conditions"]:
        sets.add(cfg["controls"]["fresh_noise"])
    batch, d = max((pretrain_config(cfg, d)["batch_size"], d) for d in depths)
    key = f"pretrain_overrides.depth{d}" if "batch_size" in cfg["pretrain_overrides"].get(f"depth{d}", {}) else "pretrain"
    for s in sorted(sets):
        spec = cfg["noise"]["sets"][s]
        if spec["protocol"] == "fixed":
            refuse_larger(f"{key}.batch_size", batch, spec["n_samples"], f"samples of noise set {s}")
    meta = cfg["meta"]
    if meta["enabled"]:
        for t in meta["tasks"]:
            n = min(meta["train_samples"], DATASETS[t].sizes[0])
            refuse_larger("meta.batch_size", meta["batch_size"], n, f"adaptation images of task {t}")


def _check_figures(cfg: dict, sch: dict) -> None:
    sets = cfg["noise"]["sets"]
    _check_names("figure1.sets", cfg["figure1"]["sets"], sets)
    for key in ("figure1", "figure2", "generalisation"):
        if cfg[key]["dataset"] not in DATASETS:
            raise _unknown(f"{key}.dataset", cfg[key]["dataset"], DATASETS)
    f2 = cfg["figure2"]
    merged = {**base_train(cfg, f2["dataset"]), **f2["train"]}
    _schema_errors(merged, sch["properties"]["train"], prefix="figure2.train -> train.")
    g = cfg["generalisation"]
    if g["enabled"]:
        if g["size"] not in g["sizes"]:
            raise ConfigError(f"config key generalisation.size: {g['size']} is not one of generalisation.sizes {g['sizes']}")
        n_train = DATASETS[g["dataset"]].sizes[0]
        too_big = [n for n in g["sizes"] if n_train and n > n_train]
        if too_big:
            raise ConfigError(
                f"config key generalisation.sizes: {too_big} exceed the {n_train} training images of {g['dataset']}"
            )
    _check_ood_meta(cfg)
    _check_protocols(cfg)
    _check_controls(cfg)
    _check_cnn(cfg, sch)
    r = cfg["rules"]
    _check_names("rules.conditions", r["conditions"], CONDITIONS)
    _check_names("rules.datasets", r["datasets"], DATASETS)
    merged = {**base_train(cfg, r["datasets"][0]), **r["train"]}
    _schema_errors(merged, sch["properties"]["train"], prefix="rules.train -> train.")
    # the names the pipeline makes for its own experiments (experiments.py), whether or not this
    # config runs them: a main sweep named like one would merge into its cells and settings
    reserved = rf"{FIGURE2}|{RULES}|{CONTROLS}|{SIZE_PREFIX}\d+|{DOSE_PREFIX}\d+|{PROTOCOLS}(-.*)?"
    if re.fullmatch(reserved, cfg["experiment"]):
        raise ConfigError(
            f"config key experiment: {cfg['experiment']!r} is the name of one of the pipeline's own experiments "
            f"({FIGURE2}, {RULES}, {CONTROLS}, {SIZE_PREFIX}<N>, {DOSE_PREFIX}<N>, {PROTOCOLS}-...); choose another, e.g. 'main'"
        )
    if cfg["table1"]["depth"] not in cfg["depths"]:
        raise ConfigError(
            f"config key table1.depth: {cfg['table1']['depth']} is not one of depths {cfg['depths']}: Table 1 would be "
            "empty; choose one of them"
        )


def _check_controls(cfg: dict) -> None:
    """The controls are read against the main sweep's FA w/o and FA w/ networks of the same seeds."""
    c = cfg["controls"]
    if not c["enabled"]:
        return
    missing = [n for n in ("fa_wo", "fa_w") if n not in cfg["conditions"]]
    if missing:
        raise ConfigError(
            f"config key controls.enabled: the controls are compared with fa_wo and fa_w; add {missing} to conditions"
        )
    if "fa_fresh" in c["conditions"] and c["fresh_noise"] not in cfg["noise"]["sets"]:
        raise _unknown("controls.fresh_noise", c["fresh_noise"], cfg["noise"]["sets"])
    d = c["dose"]
    if d["enabled"]:
        if d["dataset"] not in cfg["datasets"]:
            raise ConfigError(f"config key controls.dose.dataset: {d['dataset']!r} is not in datasets {cfg['datasets']} "
                              "(its FA w/o and FA w/ networks come from the main sweep)")  # fmt: skip
        extra = [x for x in d["depths"] if x not in cfg["depths"]]
        if extra:
            raise ConfigError(f"config key controls.dose.depths: {extra} not in depths {cfg['depths']}")


def _check_cnn(cfg: dict, sch: dict) -> None:
    """The CNN experiment: image datasets its layers fit, conditions whose rule has a convolution,
    its noise set, and its merged pretraining and training blocks."""
    c = cfg["cnn"]
    if not c["enabled"]:
        return
    _check_names("cnn.datasets", c["datasets"], DATASETS)
    _check_names("cnn.conditions", c["conditions"], CONDITIONS)
    missing = [n for n in ("bp", "fa_wo", "fa_w") if n not in c["conditions"]]
    if missing:
        raise ConfigError(f"config key cnn.conditions: the claims compare BP, FA w/o and FA w/; add {missing}")
    no_conv = [n for n in c["conditions"] if not CONDITIONS[n].learning_rule.has_conv]
    if no_conv:
        raise ConfigError(f"config key cnn.conditions: {no_conv} have no convolutional form (noisefa.nets.conv); remove them")
    if c["noise"] not in cfg["noise"]["sets"]:
        raise _unknown("cnn.noise", c["noise"], cfg["noise"]["sets"])
    if "fa_fresh" in c["conditions"] and cfg["controls"]["fresh_noise"] not in cfg["noise"]["sets"]:
        raise _unknown("controls.fresh_noise", cfg["controls"]["fresh_noise"], cfg["noise"]["sets"])
    for d in c["datasets"]:
        spec = get_spec(d)
        try:
            architecture(model_block(cfg, CNN), spec.in_dim, spec.n_classes, fixed_depth(model_block(cfg, CNN)))
        except ValueError as exc:
            raise ConfigError(f"config key cnn.model: does not fit {d} ({spec.shape[0]}x{spec.shape[1]}x{spec.shape[2]} "
                              f"images): {exc}") from None  # fmt: skip
        train = {**base_train(cfg, d), **c["train"]}
        _schema_errors(train, sch["properties"]["train"], prefix=f"cnn.train ({d}) -> train.")
        if train["optimizer"] not in OPTIMIZERS:
            raise _unknown("cnn.train.optimizer", train["optimizer"], OPTIMIZERS)
    pre = pretrain_block(cfg, CNN, fixed_depth(model_block(cfg, CNN)))
    _schema_errors(pre, sch["properties"]["pretrain"], prefix="cnn.pretrain -> pretrain.")
    if pre["optimizer"] not in OPTIMIZERS:
        raise _unknown("cnn.pretrain.optimizer", pre["optimizer"], OPTIMIZERS)


def _check_protocols(cfg: dict) -> None:
    p = cfg["protocols"]
    if not p["enabled"]:
        return
    _check_names("protocols.datasets", p["datasets"], DATASETS)
    _check_names("protocols.sets", p["sets"], cfg["noise"]["sets"])
    for i, s in enumerate(p["sets"]):
        if not re.fullmatch(r"[A-Za-z0-9_-]+", s):
            raise ConfigError(f"config key protocols.sets[{i}]: {s!r} names an experiment; use letters, digits, _ and - only")
    for key in ("sets", "batchnorm", "datasets", "depths"):
        if len(set(p[key])) != len(p[key]):
            raise ConfigError(f"config key protocols.{key}: duplicate entries in {p[key]}")


def _same_shape(key: str, names: list[str], reference: str) -> None:
    _check_names(key, names, DATASETS)
    ref = DATASETS[reference]
    for i, name in enumerate(names):
        spec = DATASETS[name]
        if (spec.in_dim, spec.n_classes) != (ref.in_dim, ref.n_classes):
            raise ConfigError(
                f"config key {key}[{i}]: {name} has {spec.in_dim} inputs and {spec.n_classes} classes, "
                f"{reference} has {ref.in_dim} and {ref.n_classes}; they must match"
            )


def _same_labels(key: str, names: list[str], reference: str, reference_key: str) -> None:
    """Every dataset at ``key`` scores networks trained on ``reference`` (set by ``reference_key``)
    against its own labels: it must be of ``reference``'s label space (``datasets.same_labels``)."""
    for i, name in enumerate(names):
        if same_labels(name, reference):
            continue
        ref_space, space = DATASETS[reference].label_space, DATASETS[name].label_space
        shape = DATASETS[reference].in_dim
        keep = [n for n in names if same_labels(n, reference)]
        more = [d for d in datasets_of_label_space(ref_space) if d not in keep + [reference] and DATASETS[d].in_dim == shape]
        others = f"or add any of {more}" if more else f"no other registered dataset of this shape has label space {ref_space!r}"
        trainable = [d for d in datasets_of_label_space(space) if DATASETS[d].in_dim == shape]
        raise ConfigError(
            f"config key {key}[{i}]: {name}'s labels are {label_space_text(name)}, but the networks it would test "
            f"are trained on {reference} ({reference_key}), whose labels are {label_space_text(reference)}: class k of "
            f"one is not class k of the other, so the accuracy would score {reference}'s networks against {name}'s "
            f"labels. Write instead `{key}: [{', '.join(keep)}]` ({others}); or, to test on {name}, set "
            f"`{reference_key}` to a dataset of label space {space!r} (one of {trainable}, also listed in `datasets`)."
        )


def _check_ood_meta(cfg: dict) -> None:
    """OOD and meta-loss sets. The OOD external sets score the networks of `ood.dataset` on their own
    labels: one label space. The meta-loss tasks need only one shape: each adapts a noise-trained
    network to its own labels (SGD on the task's training images) before its loss is measured on
    the same task's test images, so no network is scored on labels it was not trained for."""
    ood = cfg["ood"]
    if ood["enabled"]:
        if ood["dataset"] not in cfg["datasets"]:
            raise ConfigError(
                f"config key ood.dataset: {ood['dataset']!r} is not in datasets {cfg['datasets']}; "
                "the OOD test uses the main sweep's networks (or set ood.enabled: false)"
            )
        extra = sorted(set(ood["depths"]) - set(cfg["depths"]))
        if extra:
            raise ConfigError(f"config key ood.depths: {extra} not in depths {cfg['depths']}")
        _same_shape("ood.external", ood["external"], ood["dataset"])
        _same_labels("ood.external", ood["external"], ood["dataset"], "ood.dataset")
    meta = cfg["meta"]
    if meta["enabled"]:
        _same_shape("meta.tasks", meta["tasks"], meta["tasks"][0])


class _StrictLoader(yaml.SafeLoader):
    """YAML that refuses a key given twice in one mapping (plain YAML keeps the last silently)."""


def _mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise ConfigError(
                f"config key {key!r} is given twice in one block (lines {seen[key] + 1} and "
                f"{key_node.start_mark.line + 1} of {node.start_mark.name}); the first would be ignored: keep one"
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def read_yaml(path: str | Path) -> dict:
    """A config file, refusing a key given twice (the silent overwrite hid a dead block once); a
    syntax error names its line and column (Snakemake's own reading of --configfile does not)."""
    path = Path(path)
    with path.open() as f:
        try:
            return yaml.load(f, Loader=_StrictLoader) or {}
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
            raise ConfigError(f"config file {path} is not valid YAML at {where}: {exc.problem or exc.context}") from None


def describe(files: list[str], given: set[str], cfg: dict) -> str:
    """The run's first line: which config files it reads, and which top-level keys take the schema's
    defaults (a file holding only `train: {lr: 0.02}` is otherwise silently the whole paper run)."""
    defaulted = sorted(set(cfg) - set(given))
    line = f"noisefa: config {', '.join(map(str, files)) or '(none)'}"
    if defaulted:
        line += f"; the schema's defaults (workflow/schemas/config.schema.yaml) for: {', '.join(defaulted)}"
    return line


def _merge(into: dict, new: dict) -> dict:
    """Snakemake's merging of several --configfile: nested blocks key by key, later files win."""
    for k, v in new.items():
        into[k] = _merge(dict(into[k]), v) if isinstance(v, dict) and isinstance(into.get(k), dict) else v
    return into


def main(argv=None) -> int:
    """python -m noisefa.pipeline.config FILE [FILE ...]: check config files as a run would (merged in order, like
    repeated --configfile), with the line of a YAML error, before any Snakemake run."""
    import argparse
    import sys

    a = argparse.ArgumentParser(description=main.__doc__)
    a.add_argument("files", nargs="+")
    files = a.parse_args(argv).files
    try:
        cfg: dict = {}
        for f in files:
            _merge(cfg, read_yaml(f))
        given = set(cfg)
        validate(cfg)
    except (ConfigError, OSError) as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    print(describe(files, given, cfg))
    print("valid")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def load(path: str | Path, overrides: dict | None = None) -> dict:
    cfg = read_yaml(path)
    cfg.update(overrides or {})
    return validate(cfg)
