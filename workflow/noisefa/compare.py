"""A run against its config's reference results (``reference/<name>/``): every compared number, the
tolerance it must stay within, and whether it does.

**What another CPU does.** The same code gives slightly different floats on another CPU (another
vector width reorders the sums of every product), and training amplifies them step by step. This
was measured by running each shipped config twice on one machine, once as it is and once with
AVX2 kernels instead of AVX-512 (``ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2``):

- tiny config (a few hundred steps): every accuracy identical, effects within 2e-6;
- quick config (thousands of steps): single networks drift apart (final test accuracy up to
  8.5 points, last-layer angle 2.4°), so single networks are not compared; cell means move by at
  most 3.9 of their standard errors (final accuracy; converged 1.9, AUC 1.6, angles 0.7);
  claim effects by at most 0.83 of their 95% half-width; and two primary rows whose p-value lay
  within a factor 3 of alpha changed sides (0.0025 → 0.00097, 0.0012 → 0.0007), which turned
  C4's verdict from mixed to holds.

**So the rules** (the ``TOLERANCES`` registry, each entry with its reason):

- a verdict must be the same, unless it is *borderline*: one of its primary rows has a p-value
  within a factor ``BORDERLINE`` (10) of the threshold it is decided at, in the reference or the
  run. A borderline change is reported (``rule`` says so) and does not fail; any other does;
- a primary claim row's ``holds`` likewise; its effect must stay within 1.5 half-widths of the
  reference's 95% interval (measured: 0.83), or, for an effect reported without an interval
  (C10's chi-square equivalence, Cohen's w), within 25% of itself (measured: 7%); its ``n`` exactly;
- cell means of the per-network summary (accuracies, AUC, angles) and Table 1's means within 5
  standard errors of the reference cell (measured: 3.9); Table 1's spread within 5 standard errors
  of a standard deviation, sd / sqrt(2 (n - 1)).

A row present on one side only is a difference too (the config and the reference do not match).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .claims import DEFAULTS as CLAIM_SETTINGS
from .claims import EQUIVALENT, UNDETECTED

COLUMNS = ["table", "key", "column", "reference", "run", "difference", "tolerance", "rule", "within"]
REFERENCE_TABLES = ("verdict.csv", "claims.csv", "table1.csv", "summary.csv")
BORDERLINE = 10.0  # a p-value within this factor of its threshold can change sides on another CPU
NO_INTERVAL = 0.25  # an effect reported without an interval may move by this fraction of itself (measured: 0.07)
CELL = ["experiment", "dataset", "depth", "condition"]
SUMMARY_MEANS = ("final_test_acc", "converged_test_acc", "auc_test_acc", "initial_last_layer_angle_deg",
                 "final_last_layer_angle_deg")  # fmt: skip
CLAIM_KEYS = ("claim", "figure", "dataset", "depth", "comparison")


def _primary(claims: pd.DataFrame) -> pd.DataFrame:
    return claims[claims.primary.astype(str).str.lower() == "true"]


def _cells(summary: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard error of each summary column per cell, networks that diverged left out."""
    s = summary[summary.diverged.astype(str).str.lower() != "true"]
    g = s.groupby(CELL)[list(SUMMARY_MEANS)]
    mean, sd, n = g.mean(), g.std(ddof=1), g.count()
    se = (sd / np.sqrt(n)).add_suffix("_se")
    return pd.concat([mean, se], axis=1).reset_index()


def _table1(t: pd.DataFrame) -> pd.DataFrame:
    n = t["n"].astype(float)
    return t.assign(mean_se=t["std"] / np.sqrt(n), std_se=t["std"] / np.sqrt(2 * (n - 1)).where(n > 1))


VIEWS: dict[str, tuple[str, Callable[[pd.DataFrame], pd.DataFrame]]] = {  # view -> (file, what is compared)
    "verdict": ("verdict.csv", lambda d: d),
    "claims": ("claims.csv", _primary),
    "table1": ("table1.csv", _table1),
    "summary cells": ("summary.csv", _cells),
}


@dataclass(frozen=True)
class Tolerance:
    view: str  # a key of VIEWS
    keys: tuple[str, ...]  # the columns that name a row
    column: str
    rule: str  # exact | borderline (exact unless borderline) | ci (x the reference's 95% half-width) | se (x its SE)
    value: float
    why: str


TOLERANCES: tuple[Tolerance, ...] = (
    Tolerance("verdict", ("claim",), "verdict", "borderline", 0,
              "a verdict is the result; only one resting on a p-value near its threshold may change"),
    Tolerance("claims", CLAIM_KEYS, "holds", "borderline", 0, "as a verdict, row by row"),
    Tolerance("claims", CLAIM_KEYS, "effect", "ci", 1.5, "1.5 half-widths of the reference's 95% interval (measured: 0.83)"),
    Tolerance("claims", CLAIM_KEYS, "n", "exact", 0, "the same networks, probes and samples enter each test"),
    Tolerance("table1", ("dataset", "condition", "depth"), "mean", "se", 5.0, "5 standard errors of the cell (measured: 1.9)"),
    Tolerance("table1", ("dataset", "condition", "depth"), "std", "se", 5.0, "5 standard errors of a standard deviation"),
    *(Tolerance("summary cells", tuple(CELL), col, "se", 5.0, "5 standard errors of the cell mean (measured: 3.9)")
      for col in SUMMARY_MEANS),
)  # fmt: skip


def _threshold(rule: str, settings: dict) -> tuple[str, float]:
    """The p-value column a claims row is decided by, and its threshold (``claims._decide``)."""
    if rule == UNDETECTED:
        return "p_value", settings["not_significant"]
    return "p_holm", settings["equivalence_alpha"] if rule == EQUIVALENT else settings["alpha"]


def borderline_rows(claims: pd.DataFrame, settings: dict) -> pd.Series:
    """Whether each row's p-value lies within a factor BORDERLINE of its threshold."""
    out = []
    for r in claims.itertuples():
        col, alpha = _threshold(r.rule, settings)
        p = float(getattr(r, col))
        out.append(math.isfinite(p) and alpha / BORDERLINE <= p <= alpha * BORDERLINE)
    return pd.Series(out, index=claims.index, dtype=bool)


def _borderline_keys(claims_ref: pd.DataFrame, claims_run: pd.DataFrame, settings: dict) -> tuple[set, set]:
    """(claims, claim rows) that are borderline in the reference or in the run."""
    claims_, rows = set(), set()
    for c in (_primary(claims_ref), _primary(claims_run)):
        near = c[borderline_rows(c, settings)]
        claims_ |= set(near.claim)
        rows |= {tuple(str(v) for v in k) for k in near[list(CLAIM_KEYS)].itertuples(index=False)}
    return claims_, rows


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return str(a).lower() == str(b).lower()


def _rows_of(tol: Tolerance, ref: pd.DataFrame, run: pd.DataFrame, near: set) -> list[dict]:
    keys = list(tol.keys)
    both = ref.merge(run, on=keys, how="outer", suffixes=("_ref", "_run"), indicator=True)
    out = []
    for r in both.to_dict("records"):
        key = tuple(str(r[k]) for k in keys)
        a, b = r.get(f"{tol.column}_ref"), r.get(f"{tol.column}_run")
        row = {"table": VIEWS[tol.view][0], "key": " | ".join(f"{k}={v}" for k, v in zip(keys, key)),
               "column": tol.column, "reference": a, "run": b, "rule": tol.rule,
               "difference": np.nan, "tolerance": np.nan}  # fmt: skip
        if r["_merge"] != "both":
            out.append({**row, "rule": f"row only in the {'reference' if r['_merge'] == 'left_only' else 'run'}",
                        "within": False})  # fmt: skip
        elif tol.rule in ("exact", "borderline"):
            same = _same(a, b)
            excused = not same and tol.rule == "borderline" and (key[0] if tol.view == "verdict" else key) in near
            out.append({**row, "rule": "borderline: changed, p near its threshold" if excused else tol.rule,
                        "tolerance": 0.0, "within": same or excused})  # fmt: skip
        else:
            a, b = float(a), float(b)
            if tol.rule == "ci":
                scale = (float(r["ci_high_ref"]) - float(r["ci_low_ref"])) / 2
            else:
                scale = float(r[f"{tol.column}_se_ref"])
            limit = tol.value * scale
            if not (math.isfinite(scale) and scale > 0):
                # no interval: an effect without one (C10's chi-square equivalence) within NO_INTERVAL of
                # itself; a cell of one network (no standard error) the same value
                limit = NO_INTERVAL * abs(a) if tol.rule == "ci" else 1e-9 * max(1.0, abs(a))
            if math.isnan(a) or math.isnan(b):
                out.append({**row, "within": math.isnan(a) and math.isnan(b)})
            else:
                out.append({**row, "difference": b - a, "tolerance": limit, "within": abs(b - a) <= limit})
    return out


def compare(reference: Path, run: Path, settings: dict | None = None) -> pd.DataFrame:
    """Every compared value of the tables in ``run`` (results/tables) against ``reference``;
    ``settings``: the config's `claims` (its thresholds; the defaults when None)."""
    settings = {**CLAIM_SETTINGS, **(settings or {})}
    raw = {f: (pd.read_csv(Path(reference) / f), pd.read_csv(Path(run) / f)) for f in REFERENCE_TABLES}
    near_claims, near_rows = _borderline_keys(*raw["claims.csv"], settings)
    rows = []
    for tol in TOLERANCES:
        file, view = VIEWS[tol.view]
        ref, new = (view(t) for t in raw[file])
        rows += _rows_of(tol, ref, new, near_claims if tol.view == "verdict" else near_rows)
    return pd.DataFrame(rows, columns=COLUMNS)


def failures(table: pd.DataFrame) -> pd.DataFrame:
    return table[~table.within.astype(bool)]
