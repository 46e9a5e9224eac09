"""The tidy metrics contract: one row per measured number, a fixed column set.

Every job writes its metrics with exactly these columns; aggregation only
concatenates. ``layer`` is "" for network-level metrics and "1".."depth" for
per-layer ones (layer 1 is the first Linear layer). ``phase`` is "noise" for
pretraining and "data" for data training; ``noise`` names the noise set a
network was pretrained on ("" if none).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import CorruptFile, remake_hint
from ..files import atomic_write

COLUMNS = ["experiment", "dataset", "noise", "depth", "condition", "seed", "phase", "step", "epoch", "layer", "metric", "value"]
DTYPES = {
    "experiment": "string",
    "dataset": "string",
    "noise": "string",
    "depth": "int64",
    "condition": "string",
    "seed": "int64",
    "phase": "string",
    "step": "int64",
    "epoch": "float64",
    "layer": "string",
    "metric": "string",
    "value": "float64",
}

# metric name -> what it is (docs/outputs.md documents the same list)
METRICS = {
    "train_loss": "cross-entropy on a fixed subset of the training set (eval mode; first and last step only)",
    "train_acc": "accuracy on that subset (first and last step only)",
    "test_loss": "cross-entropy on the test set",
    "test_acc": "accuracy on the test set",
    "test_ece": "expected calibration error on the test set (15 bins of the max softmax probability; first and last step only)",
    "test_logit_range": "median over test images of (largest - smallest logit), in nats: the logits' scale (first/last step)",
    "test_temperature": "the temperature T minimising the test cross-entropy of logits / T (first and last step only)",
    "test_loss_calibrated": "test cross-entropy of logits / test_temperature: free of the logits' scale (first/last step)",
    "train_loss_calibrated": "training-subset cross-entropy at test_temperature (first/last step), for a scale-free loss gap",
    "batch_loss": "mean training-batch cross-entropy since the previous evaluation",
    "angle_deg": "mean over neurons of the angle between W's and B's column of each input neuron of the layer",
    "matrix_angle_deg": "angle between vec(W) and vec(B)",
    "delta_angle_deg": "angle between the rule's weight update and backprop's on a probe batch",
    "wb_distance": "Frobenius norm ||W - B||",
    "wb_distance_norm": "||W/||W|| - B/||B|| ||: distance of directions (2 sin(matrix angle / 2))",
    "gram_erank": "effective rank of the Gram matrix (cosine similarity of neuron features) of a hidden layer's output",
    "gram_erank_centred": "gram_erank with each neuron's mean removed first (correlation matrix): how features vary",
    "erank": "effective rank of W (Roy & Vetterli 2007)",
    "diverged": "1.0 at the evaluation where a network's training loss became non-finite (on_divergence: record)",
}


# Vector-valued measurements (one value per neuron, probe or singular value) live in a
# second table with the same columns plus ``index`` (which neuron / probe / singular value).
DETAIL_COLUMNS = COLUMNS + ["index"]
DETAIL_DTYPES = {**DTYPES, "index": "int64"}
DETAIL_METRICS = {
    "neuron_angle_deg": "angle between W's and B's column of input neuron `index` of the layer",
    "singular_value": "singular value number `index` (descending) of the layer's W",
    "readout_max_prob": "largest softmax probability for probe `index` (chance: 1/classes)",
    "readout_top_unit_prob": "probability of the network's most favoured readout unit for probe `index`",
    "readout_unit_mean": "mean softmax probability of readout unit `index` over the probes",
    "readout_pred_class": "the class the network predicts for probe `index` (argmax of the readout)",
    "readout_cv_top_unit_prob": "probability, for odd probe `index`, of the unit with the largest mean on the even probes",
    "reliability_count": "test samples whose confidence (max softmax) falls in bin `index` (equal-width, right-closed)",
    "reliability_confidence": "mean confidence of the test samples in bin `index` (NaN if empty)",
    "reliability_accuracy": "accuracy of the test samples in bin `index` (NaN if empty)",
}


# Figure 5: one row per (network, test set, magnitude, metric); test_set is a transform
# (translate / rotate / scale, magnitude in its unit, the identity included) or a dataset.
OOD_COLUMNS = ["experiment", "dataset", "depth", "condition", "seed", "test_set", "magnitude", "metric", "value"]
OOD_DTYPES = {**{c: DTYPES[c] for c in OOD_COLUMNS if c in DTYPES}, "test_set": "string", "magnitude": "float64"}
# Figure 6: the loss on each task after `adapt_step` steps of adaptation from the snapshot taken
# at noise step `step` (adapt_step 0: before adaptation); `task` "meta" rows hold the sum over tasks.
# `start`: "noise" for the snapshots of noise training (Figure 6, C16); a control's start
# (noisefa.nets.starts: aligned, newb, scaled) for adaptation from that control built at the last step.
META_COLUMNS = ["noise", "dataset", "depth", "seed", "start", "step", "task", "adapt_step", "metric", "value"]
META_DTYPES = {**{c: DTYPES[c] for c in META_COLUMNS if c in DTYPES}, "task": "string", "adapt_step": "int64",
               "start": "string"}  # fmt: skip


def noise_snapshots(meta: pd.DataFrame) -> pd.DataFrame:
    """The meta table's rows of noise-training snapshots (not the controls' adaptations)."""
    return meta[meta.start == "noise"] if "start" in meta else meta


# summary.csv: one row per data-trained network (``noisefa.analysis.summary.summarise`` writes it;
# ``read_summary`` is its one reader). `kind` and `train_size` say what the experiment is for and
# how many training images its networks saw (``experiments.experiment_columns``); `converged` is
# False where the epoch cap came before the plateau; `late_test_acc` is the mean test accuracy over
# the config's late window (`convergence.late_epochs`: the last epochs of each cell's cap); `diverged` and `blown_up` networks
# (``summary.diverged``, ``summary.blown_up``) keep their row (exclude them).
NETWORK_KEYS = ["experiment", "dataset", "depth", "condition", "seed"]
PRETRAIN_KEYS = ["dataset", "noise", "depth", "seed"]  # a pretraining job's network (its dataset: the shape)
SUMMARY_DTYPES = {
    "experiment": "string",
    "dataset": "string",
    "depth": "int64",
    "condition": "string",
    "seed": "int64",
    "kind": "string",
    "train_size": "Int64",
    "final_test_acc": "float64",
    "converged_test_acc": "float64",
    "convergence_epoch": "float64",
    "converged": "bool",
    "late_test_acc": "float64",
    "auc_test_acc": "float64",
    "first_eval_epoch": "float64",
    "first_eval_test_acc": "float64",
    "final_last_layer_angle_deg": "float64",
    "initial_last_layer_angle_deg": "float64",
    "diverged": "bool",
    "blown_up": "bool",
}
SUMMARY_COLUMNS = list(SUMMARY_DTYPES)
# Columns added after summaries were first written, with the value such a summary reads with (a
# reference bundle, a hand-built table): no late window measured, no blow-up found.
LATER_COLUMNS = {"late_test_acc": float("nan"), "blown_up": False}
_TRUE, _FALSE = {"true", "1", "1.0"}, {"false", "0", "0.0"}


def summary_frame(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` in the summary contract: its columns in order, typed (flags read from True/False or 1/0;
    a column of ``LATER_COLUMNS`` that is absent, or a blank flag of one, takes its stated value)."""
    df = df.assign(**{c: v for c, v in LATER_COLUMNS.items() if c not in df.columns})
    missing = [c for c in SUMMARY_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"summary rows lack columns {missing}")
    df = df[SUMMARY_COLUMNS].copy()
    df["blown_up"] = df.blown_up.astype(object).where(df.blown_up.notna(), False)
    for flag in ("converged", "diverged", "blown_up"):
        words = df[flag].astype(str).str.strip().str.lower()
        bad = ~words.isin(_TRUE | _FALSE)
        if bad.any():
            raise ValueError(f"summary column {flag} holds {sorted(set(df[flag][bad].astype(str)))}, not True/False")
        df[flag] = words.isin(_TRUE)
    return df.astype(SUMMARY_DTYPES)


def read_summary(path: str | Path) -> pd.DataFrame:
    """results/tables/summary.csv in its contract (an empty file: no networks, the same columns)."""
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            return summary_frame(pd.DataFrame(columns=SUMMARY_COLUMNS))
        return summary_frame(pd.read_csv(path))
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise CorruptFile(f"cannot read summary table {path}: {exc}; {remake_hint(path)}") from exc


def at_step(d: pd.DataFrame, which: str, keys=NETWORK_KEYS) -> pd.DataFrame:
    """Rows at each group's (``keys``) first or last logged step."""
    if d.empty:
        return d
    step = d.groupby(list(keys)).step.transform({"first": "min", "last": "max"}[which])
    return d[d.step == step]


def first_network(d: pd.DataFrame) -> pd.DataFrame:
    """Rows of the lowest seed (the single network the paper's panels show)."""
    return d[d.seed == d.seed.min()] if not d.empty else d


def frame(rows: list[dict], columns: list[str] = COLUMNS, **keys) -> pd.DataFrame:
    """Rows of {step, epoch, seed, layer, metric, value[, index]} plus constant key columns."""
    df = pd.DataFrame(rows, columns=[c for c in columns if c not in keys])
    for k, v in keys.items():
        df[k] = v
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"metrics rows lack columns {missing}")
    dtypes = DETAIL_DTYPES if columns is DETAIL_COLUMNS else DTYPES
    return df[columns].astype({c: dtypes[c] for c in columns})


def detail_frame(rows: list[dict], **keys) -> pd.DataFrame:
    return frame(rows, DETAIL_COLUMNS, **keys)


def write_table(df: pd.DataFrame, path: str | Path) -> None:
    """Write parquet (or CSV by suffix) atomically."""
    if Path(path).suffix == ".csv":
        atomic_write(path, lambda tmp: df.to_csv(tmp, index=False))
    else:
        atomic_write(path, lambda tmp: df.to_parquet(tmp, index=False))


def read_table(path: str | Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as exc:
        raise CorruptFile(f"cannot read metrics table {path}: {exc}; {remake_hint(path)}") from exc


# ---- aggregation only concatenates (stages/aggregate.py, noisefa.analysis.protocols)

ORDER = ["experiment", "dataset", "noise", "depth", "condition", "seed", "phase", "step", "layer", "metric"]
PHASES = {"noise": 0, "data": 1, "noise_after": 2}


def _sorted(df: pd.DataFrame, columns=COLUMNS, dtypes=DTYPES) -> pd.DataFrame:
    df = df[columns].astype(dtypes)
    by = [c for c in ORDER + ["index", "test_set", "magnitude", "task", "adapt_step"] if c in columns]
    return df.sort_values(by, key=lambda s: s.map(PHASES) if s.name == "phase" else s, ignore_index=True)


def _concat(parts: list[pd.DataFrame], columns) -> pd.DataFrame:
    parts = [p for p in parts if not p.empty]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def read_cells(path: str | Path, labels: dict[str, list[list[str]]] | None = None) -> list[pd.DataFrame]:
    """A cell job's table, once per [experiment, condition] it holds: a file of ``labels``
    (``Plan.labels``: a job whose networks are also other cells') is repeated under each name;
    any other file is read as it is."""
    df = read_table(path)
    names = (labels or {}).get(str(path))
    return [df.assign(experiment=e, condition=c) for e, c in names] if names else [df]


def aggregate(
    train: list[Path], pretrain: dict[str, list[list[str]]], extra: list[Path] = (), labels: dict | None = None
) -> pd.DataFrame:
    """The metrics of data-training jobs (under every name of ``labels``, ``read_cells``; and ``extra``
    ones), with the noise phase of every pretraining job repeated for each [experiment, dataset] whose
    FA w/ networks start from it."""
    parts = [df for p in [*train, *extra] for df in read_cells(p, labels)]
    for path, users in pretrain.items():
        noise = read_table(path)
        for experiment, dataset in users:
            parts.append(noise.assign(experiment=experiment, dataset=dataset))
    return _sorted(_concat(parts, COLUMNS))


def concat_tables(paths: list[Path], columns=COLUMNS, dtypes=DTYPES, labels: dict | None = None) -> pd.DataFrame:
    """Tables of one contract, concatenated and sorted (an empty list: no rows, the same columns); a
    file of ``labels`` once under each of its names (``read_cells``)."""
    return _sorted(_concat([df for p in paths for df in read_cells(p, labels)], columns), columns, dtypes)
