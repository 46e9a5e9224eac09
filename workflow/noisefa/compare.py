"""A run against its config's reference results (``reference/<name>/``): every compared number, the
tolerance it must stay within, and whether it does.

What is compared, and why each tolerance is what it is, is the ``TOLERANCES`` registry. The same
code gives slightly different floats on another CPU (another vector width reorders the sums of
every product), and training amplifies those differences step by step; a tolerance must be wide
enough for that and narrow enough to catch a real change. The numbers were measured by running the
tiny config twice on one machine, once as it is and once with AVX2 kernels instead of AVX-512
(``ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2``), which is what another CPU does, and the
same for the quick config; the largest difference of each kind is in the entry's ``why``.

- a verdict must be the same (exact);
- a claim row's effect may move by a fraction of its own confidence interval's half-width, so the
  tolerance has the unit and the scale of its statistic;
- Table 1's means and standard deviations, and each network's accuracies (absolute), and its
  angles (degrees).

A row present on one side only is a difference too (the config and the reference do not match).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .tidy import NETWORK_KEYS

COLUMNS = ["table", "key", "column", "reference", "run", "difference", "tolerance", "rule", "within"]
REFERENCE_TABLES = ("verdict.csv", "claims.csv", "table1.csv", "summary.csv")


@dataclass(frozen=True)
class Tolerance:
    table: str  # a file of results/tables/
    keys: tuple[str, ...]  # the columns that name a row
    column: str
    rule: str  # "exact", "abs" (|run - reference| <= value) or "ci" (<= value x the row's CI half-width)
    value: float
    why: str
    where: str = ""  # a pandas query selecting the rows compared ("" every row)


CLAIM_KEYS = ("claim", "figure", "dataset", "depth", "comparison")
TOLERANCES: tuple[Tolerance, ...] = (
    Tolerance("verdict.csv", ("claim",), "verdict", "exact", 0, "a verdict is the result: it must not change"),
    Tolerance("claims.csv", CLAIM_KEYS, "effect", "ci", 0.25,
              "a quarter of the row's 95% half-width: far below what would change a verdict, above rounding "
              "(largest measured: 0.04 of a half-width)", "primary"),
    Tolerance("claims.csv", CLAIM_KEYS, "n", "exact", 0, "the same networks, probes and samples enter each test"),
    Tolerance("table1.csv", ("dataset", "condition", "depth"), "mean", "abs", 0.005,
              "half a point of accuracy (largest measured: 0.0007)"),
    Tolerance("table1.csv", ("dataset", "condition", "depth"), "std", "abs", 0.005,
              "half a point of accuracy (largest measured: 0.0005)"),
    *(Tolerance("summary.csv", tuple(NETWORK_KEYS), col, "abs", 0.01,
                "one point of a network's accuracy (largest measured: 0.003)")
      for col in ("final_test_acc", "converged_test_acc", "auc_test_acc")),
    *(Tolerance("summary.csv", tuple(NETWORK_KEYS), col, "abs", 1.0,
                "one degree of a network's last-layer angle (largest measured: 0.2)")
      for col in ("initial_last_layer_angle_deg", "final_last_layer_angle_deg")),
)  # fmt: skip


def _key(row, keys) -> str:
    return " | ".join(f"{k}={row[k]}" for k in keys)


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return str(a) == str(b)


def _rows_of(tol: Tolerance, ref: pd.DataFrame, run: pd.DataFrame) -> list[dict]:
    if tol.where:
        ref, run = ref.query(tol.where), run.query(tol.where)
    keys = list(tol.keys)
    both = ref.merge(run, on=keys, how="outer", suffixes=("_ref", "_run"), indicator=True)
    out = []
    for r in both.to_dict("records"):
        a, b = r.get(f"{tol.column}_ref"), r.get(f"{tol.column}_run")
        row = {"table": tol.table, "key": _key(r, keys), "column": tol.column, "reference": a, "run": b, "rule": tol.rule}
        if r["_merge"] != "both":
            out.append({**row, "difference": np.nan, "tolerance": np.nan, "rule": f"row only in the {r['_merge'][:-5]}",
                        "within": False})  # fmt: skip
            continue
        if tol.rule == "exact":
            out.append({**row, "difference": np.nan, "tolerance": 0.0, "within": _same(a, b)})
            continue
        a, b = float(a), float(b)
        if math.isnan(a) or math.isnan(b):
            out.append({**row, "difference": np.nan, "tolerance": np.nan, "within": math.isnan(a) and math.isnan(b)})
            continue
        limit = tol.value
        if tol.rule == "ci":
            half = (float(r["ci_high_ref"]) - float(r["ci_low_ref"])) / 2
            limit = tol.value * half if math.isfinite(half) and half > 0 else 1e-9 * max(1.0, abs(a))
        out.append({**row, "difference": b - a, "tolerance": limit, "within": abs(b - a) <= limit})
    return out


def compare(reference: Path, run: Path) -> pd.DataFrame:
    """Every compared value of the tables in ``run`` (results/tables) against ``reference``."""
    rows = []
    for table in dict.fromkeys(t.table for t in TOLERANCES):
        ref, new = (pd.read_csv(Path(d) / table) for d in (reference, run))
        for tol in (t for t in TOLERANCES if t.table == table):
            rows += _rows_of(tol, ref, new)
    return pd.DataFrame(rows, columns=COLUMNS)


def failures(table: pd.DataFrame) -> pd.DataFrame:
    return table[~table.within.astype(bool)]
