"""Test data-trained networks out of distribution (Figure 5).

The training dataset's test images are translated, rotated and scaled (raw pixels,
before standardisation, so the uncovered background stays 0), then standardised
with the training set's mean/std exactly as in training; other datasets of the same
shape (USPS, or scikit-learn's digits offline) are tested whole, standardised the
same way: the network sees them as it would see new inputs of its own task.

Writes one row per (network, test set, magnitude, metric) with ``OOD_COLUMNS``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import torch

from ..analysis.tidy import OOD_COLUMNS, OOD_DTYPES, write_table
from ..cli import parser, user_errors
from ..data.datasets import standardise
from ..data.ood import shifted_test_set
from ..files import load_torch
from ..nets.engine import evaluate_split
from ..nets.families import load_checkpoint
from ..nets.learning_rules import get_rule
from ..runtime import setup_job


def _evaluate(model, rule, x, y) -> dict[str, torch.Tensor]:
    loss, acc = evaluate_split(model, rule, x, y)
    return {"acc": acc, "loss": loss}


def run(spec: dict, data: Path, external: dict[str, Path], checkpoint: Path, out: Path) -> pd.DataFrame:
    device = setup_job(spec)
    prepared = load_torch(data, "prepared dataset", "prepare_dataset")
    shape, mean, std = tuple(prepared["shape"]), prepared["mean"], prepared["std"]
    model, meta = load_checkpoint(checkpoint, rule="train")
    model = model.to(device)
    rule = get_rule(spec["rule"])
    y_test = prepared["y_test"].to(device)
    rows = []

    def add(test_set, magnitude, results):
        for metric, values in results.items():
            for seed, v in zip(model.seeds, values.tolist()):
                rows.append({"seed": seed, "test_set": test_set, "magnitude": float(magnitude), "metric": metric, "value": v})

    for transform, magnitudes in spec["tests"].items():
        for m in magnitudes:
            x = standardise(shifted_test_set(prepared["x_test"], shape, transform, m), shape, mean, std).to(device)
            add(transform, m, _evaluate(model, rule, x, y_test))
    for name, path in external.items():
        ext = load_torch(path, "prepared dataset", "prepare_dataset")
        if tuple(ext["shape"]) != shape:
            raise ValueError(f"external OOD set {name} has images of shape {tuple(ext['shape'])}, the networks take {shape}")
        x = standardise(torch.cat([ext["x_train"], ext["x_test"]]), shape, mean, std).to(device)
        y = torch.cat([ext["y_train"], ext["y_test"]]).to(device)
        add(name, 0.0, _evaluate(model, rule, x, y))
    df = pd.DataFrame(rows)
    for key in ("experiment", "dataset", "depth", "condition"):
        df[key] = spec[key]
    df = df[OOD_COLUMNS].astype(OOD_DTYPES)
    write_table(df, out)
    acc = df[df.metric == "acc"].groupby(["test_set", "magnitude"]).value.mean()
    print(f"OOD accuracy of {spec['condition']} depth {spec['depth']} ({meta.get('dataset', '?')}), mean over networks:")
    print(acc.round(4).to_string())
    return df


def main(argv=None):
    p = parser(__doc__, files="data checkpoint out")  # the training dataset's prepared file, the trained networks
    p.add_argument("--external", type=json.loads, default={}, help="JSON {name: prepared file}")
    a = p.parse_args(argv)
    with user_errors():
        run(a.spec, a.data, {k: Path(v) for k, v in a.external.items()}, a.checkpoint, a.out)


if __name__ == "__main__":
    main()
