"""A run against its config's reference results (``reference/<name>/``): every compared number, the
tolerance it must stay within, and whether it does.

**What another CPU does.** The same code gives slightly different floats on another CPU (another
vector width reorders the sums of every product), and training amplifies them step by step. On the
tiny config (a few hundred steps) every accuracy stays identical. On the quick config (AVX2 against
AVX-512 kernels) single networks drift apart by up to 8.5 points. At paper scale (paper_offline
rerun on an AMD EPYC) only 5.6% of the networks are bit-equal to the reference, and per-network
accuracy differs by a median 0.3 points (up to 60 for a network that blew up differently). So on
another CPU a cell's networks are **effectively a new sample** of the same distribution. A
tolerance taken from one measured drift doesn't carry over to a larger config: the old bounds,
measured on quick, failed that honest paper_offline rerun on 3 of 638 values (C6's depth-3 effect
moved by 3.4 standard errors). A tolerance must instead come from the statistics of both runs.

**The rules.** Numbers are compared against the sampling error of both runs, at a level that
accounts for how many numbers are compared:

- *Effects* (primary rows of claims.csv and protocols.csv): ``|effect_run - effect_ref| <=
  z * sqrt(se_ref² + se_run²)``. Here se = the CI half-width / t quantile(df = n - 1): 0.95 for
  ``equivalent`` rows (90% intervals), 0.975 otherwise (95%, and the gap-fraction rows' delta-method
  interval). df = n - 1 is exact for one-sample, paired and TOST rows. For others it is at most the
  true df, so the se is never overstated. An effect without an interval (NaN CI: a chi-square's
  Cohen's w) may move by ``NO_INTERVAL`` (25%) of the larger magnitude. That bound was measured on
  quick (7%), and the paper_offline rerun stayed within it. An effect that is NaN must be NaN in
  both runs. Each row's ``n`` must be exactly the same: the same networks enter each test.
- *Cell means* (summary.csv per experiment/dataset/depth/condition, networks that diverged or blew up left out;
  Table 1's mean): the difference against ``z * sqrt(sd_ref²/n_ref + sd_run²/n_run)``. A cell of one
  network has no standard error and must keep its value.
- *Spreads* (the same cells' standard deviations; Table 1's std): ``(sd_run / sd_ref)²`` must lie
  inside the two-sided ``F(n_run - 1, n_ref - 1)`` bounds at the same family-wise level. This uses
  an F bound and not a measured ratio: two samples of one distribution give a variance ratio that
  follows F, and a ratio measured on one rerun would repeat the mistake described above. The output
  shows the ratio as ``difference`` and the bound on its side as ``tolerance``.
- *z and the F level*: Bonferroni over the ``m`` values of each kind (effects, means, spreads),
  family-wise ``ALPHA_FAMILY`` = 0.01, so ``z = Φ⁻¹(1 - 0.01 / (2m))``. For about 100-500 values
  that is z = 3.9-4.3, and F's sd-ratio bound is about 5 for 10 networks per cell and 2.2 for 30.
  An honest rerun then fails a kind with probability of about 1% at most, while a shift of 5 or more
  standard errors fails. The limit, stated plainly: a change within a cell's sampling noise passes.
  Lowering one 10-network cell by 0.4 points with its spread ×1.8 is z ≈ 1.2 and F = 3.24 (p ≈ 0.1
  for that one cell). Such a change is caught only where it moves a claim row across its threshold
  from far away, by the next two rules.
- *holds* (and ``direction`` where both tables have it) of a primary row must be the same, unless
  the change is **borderline**: the row's p-value is within a factor ``BORDERLINE`` (10) of the
  threshold it is decided at **in both runs**, its effect has **the same sign** in both, and its
  effect is **within its tolerance** (above). Requiring both runs keeps out a row that moved from
  far to near its threshold. A real change does that; resampling does it less often (see below). An
  effect near its threshold lies about 3 standard errors from 0, so an honest rerun keeps its sign.
  The output's ``rule`` gives both p-values and the threshold.
- *verdicts* (verdict.csv per claim; protocols.csv per noise_set/batchnorm/claim) must be the
  same, unless the claim's primary rows include at least one changed row (holds or direction
  changed, or present in one run only) and **every** changed row is borderline. A verdict that
  changes while none of its rows does is a difference.

**What the holds and verdict rules cost.** Whether a row holds cannot be reproduced at paper
scale. Suppose a rerun moves each row's z-statistic by N(0, s), with s ≈ 1.4 for a wholly new
sample. The quick AVX2 rerun moved effects by at most 0.83 half-widths, so s is below 1 there. A
Monte Carlo on paper_offline's 123 primary difference rows (normal approximation, Holm within each
claim, equivalence rows held fixed), for s = 0.5 / 0.9 / 1.4, gives:

- some row's holds changes and is not borderline: 0.42 / 0.96 / 1.0;
- some verdict changes with such a row: 0.10 / 0.40 / 0.80.

So these two rules will fail some honest paper-scale reruns. They are kept because they are what
catches a change smaller than a cell's sampling noise (the example above). Such a failure names
its row and both p-values, so a person can judge it. The quick rerun's two changed rows (p 0.0025 →
0.00097, 0.0012 → 0.0007) are borderline under the rule and pass.

*mechanism.csv* (the controls' table, ``noisefa.analysis.mechanism``), compared when both runs have it: each
control row's ``n`` exactly; its effect against FA w/o and against FA w/ as *effects* (their paired
standard errors, columns ``*_se``; for an older table without them, the paired t's from the effect
and its p); what the control ``reproduces`` must stay, unless its control-vs-FA w/o or
control-vs-FA w/ p-value is near the table's level (``claims.mechanism_alpha``, within
``BORDERLINE``) in both runs and its effects are within tolerance; and each cell's
``explanation`` must stay unless every changed ``reproduces`` of the cell is borderline, or FA
w/'s own effect crossed the level from near it in both runs.

Borderline changes are reported (``rule`` starts with "borderline:") and do not fail. A row or cell
present on one side only is a difference: the config and the reference don't match. protocols.csv
is compared when both runs have it; when only one has it, a note says so and nothing fails (older
references, such as reference/tiny, have none). Claim ids are read from the tables, never named
here, and extra columns are ignored.

*The CNN's tables* (``noisefa.analysis.family_study``: cnn_claims.csv, cnn_verdict.csv, cnn_mechanism.csv,
cnn_summary.csv), compared when both runs have them, by the same rules as their MLP twins: the
claims' effects, holds and directions per (family, claim, ...) row, one verdict per (family, claim),
the mechanism rows, and the summary's cell means and spreads.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps

from .claims import DEFAULTS as CLAIM_SETTINGS
from .claims import EQUIVALENT, UNDETECTED
from .summary import exclude_diverged

COLUMNS = ["table", "key", "column", "reference", "run", "difference", "tolerance", "rule", "within"]
REFERENCE_TABLES = ("verdict.csv", "claims.csv", "table1.csv", "summary.csv")
PROTOCOLS = "protocols.csv"  # optional: compared when both runs have it
MECHANISM = "mechanism.csv"  # optional, likewise (noisefa.analysis.mechanism: the controls' table)
# the CNN experiment's tables (noisefa.analysis.family_study), each optional likewise
CNN_CLAIMS, CNN_VERDICT, CNN_MECHANISM, CNN_SUMMARY = "cnn_claims.csv", "cnn_verdict.csv", "cnn_mechanism.csv", "cnn_summary.csv"
OPTIONAL = (PROTOCOLS, MECHANISM, CNN_CLAIMS, CNN_VERDICT, CNN_MECHANISM, CNN_SUMMARY)
FAMILY_GROUP = ("family", "claim")  # one verdict per group in cnn_verdict.csv
MECHANISM_KEYS = ("claim", "measure", "variant", "dataset", "depth", "control")
MECHANISM_CELL = ("claim", "measure", "variant", "dataset", "depth")
ALPHA_FAMILY = 0.01  # chance that an honest rerun fails one kind (effects, means, spreads)
BORDERLINE = 10.0  # a p-value within this factor of its threshold can change sides when networks are resampled
NO_INTERVAL = 0.25  # an effect without an interval may move by this fraction of its magnitude (measured: 0.07)
CELL = ["experiment", "dataset", "depth", "condition"]
SUMMARY_MEANS = ("final_test_acc", "converged_test_acc", "late_test_acc", "auc_test_acc",
                 "initial_last_layer_angle_deg", "final_last_layer_angle_deg")  # fmt: skip
CLAIM_KEYS = ("claim", "figure", "dataset", "depth", "comparison")
TABLE1_KEYS = ("dataset", "condition", "depth")
PROTOCOL_GROUP = ("noise_set", "batchnorm", "claim")  # one verdict per group in protocols.csv
BORDERLINE_RULE = "borderline: changed, p near its threshold in both runs, same sign, effect within tolerance"


def z_bound(m: int) -> float:
    """The two-sided normal quantile at which m values together exceed it with probability ALPHA_FAMILY."""
    return float(sps.norm.isf(ALPHA_FAMILY / (2 * max(m, 1))))


def f_bounds(m: int, df_run: float, df_ref: float) -> tuple[float, float]:
    """Bounds on var_run / var_ref for m such ratios at the family-wise level ALPHA_FAMILY."""
    a = ALPHA_FAMILY / (2 * max(m, 1))
    return float(sps.f.ppf(a, df_run, df_ref)), float(sps.f.isf(a, df_run, df_ref))


def effect_se(rows: pd.DataFrame) -> pd.Series:
    """Each claims row's standard error from its interval: half-width / t quantile (df = n - 1)."""
    q = np.where(rows.rule.astype(str) == EQUIVALENT, 0.95, 0.975)  # equivalence rows: 90% intervals
    df = np.maximum(pd.to_numeric(rows.n, errors="coerce").to_numpy(float) - 1, 1)
    half = (rows.ci_high.astype(float) - rows.ci_low.astype(float)) / 2
    return half / sps.t.ppf(q, df)


def _threshold(rule: str, settings: dict) -> tuple[str, float]:
    """The p-value column a claims row is decided by, and its threshold (``claims._decide``)."""
    if rule == UNDETECTED:
        return "p_value", settings["not_significant"]
    return "p_holm", settings["equivalence_alpha"] if rule == EQUIVALENT else settings["alpha"]


def _near(r: dict, side: str, settings: dict) -> bool:
    col, alpha = _threshold(str(r[f"rule{side}"]), settings)
    p = float(r[f"{col}{side}"])
    return math.isfinite(p) and alpha / BORDERLINE <= p <= alpha * BORDERLINE


def _primary(t: pd.DataFrame) -> pd.DataFrame:
    return t[t.primary.astype(str).str.lower() == "true"]


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return str(a).lower() == str(b).lower()


def _label(r: dict, keys) -> str:
    return " | ".join(f"{k}={r[k]}" for k in keys)


def _row(table, key, column, reference, run, rule, within, difference=np.nan, tolerance=np.nan) -> dict:
    return {"table": table, "key": key, "column": column, "reference": reference, "run": run,
            "difference": difference, "tolerance": tolerance, "rule": rule, "within": bool(within)}  # fmt: skip


def _merge(ref: pd.DataFrame, run: pd.DataFrame, keys) -> list[dict]:
    """Rows of both tables matched on ``keys`` (compared as text: a NaN or a bool key matches its like)."""
    keys = list(keys)
    ref, run = (t.assign(**{k: t[k].astype(str) for k in keys}) for t in (ref, run))
    return ref.merge(run, on=keys, how="outer", suffixes=("_ref", "_run"), indicator=True).to_dict("records")


def _one_side(table: str, r: dict, keys, column: str) -> dict | None:
    if r["_merge"] == "both":
        return None
    side = "reference" if r["_merge"] == "left_only" else "run"
    return _row(table, _label(r, keys), column, np.nan, np.nan, f"row only in the {side}", False)


def _by_z(items: list[tuple[dict, float, float]], what: str) -> None:
    """Judge (row, difference, combined SE) items as one family: |difference| <= z(m) x SE."""
    z = z_bound(len(items))
    for row, diff, se in items:
        tol = z * se
        row.update(difference=diff, tolerance=tol, within=abs(diff) <= tol,
                   rule=f"|run - reference| <= z {z:.2f} x combined SE of the {what} ({len(items)} compared)")  # fmt: skip


def _by_f(items: list[tuple[dict, float, float, float]]) -> None:
    """Judge (row, sd ratio run/ref, df run, df ref) items as one family against F bounds."""
    for row, ratio, df_run, df_ref in items:
        lo, hi = (math.sqrt(b) for b in f_bounds(len(items), df_run, df_ref))
        row.update(difference=ratio, tolerance=hi if ratio >= 1 else lo, within=lo <= ratio <= hi,
                   rule=f"sd ratio run/reference within [{lo:.3g}, {hi:.3g}]: F({df_run:g}, {df_ref:g}) "
                        f"({len(items)} spreads compared)")  # fmt: skip


def _effect(r: dict, table: str, key: str, z_items: list) -> dict:
    a, b = float(r["effect_ref"]), float(r["effect_run"])
    row = _row(table, key, "effect", a, b, "", False)
    if math.isnan(a) or math.isnan(b):
        row.update(rule="no effect: must be NaN in both", within=math.isnan(a) and math.isnan(b))
    elif math.isfinite(r["_se_ref"]) and math.isfinite(r["_se_run"]) and math.hypot(r["_se_ref"], r["_se_run"]) > 0:
        # (a zero-width interval, e.g. C10's w at [0, 0] when χ² lies below its lower quantile, has
        # no standard error to scale by: the no-interval rule below)
        z_items.append((row, b - a, math.hypot(r["_se_ref"], r["_se_run"])))
    else:
        tol = NO_INTERVAL * max(abs(a), abs(b))
        row.update(difference=b - a, tolerance=tol, within=abs(b - a) <= tol,
                   rule=f"no interval: within {NO_INTERVAL:g} of the larger magnitude")  # fmt: skip
    return row


def _claims_like(file: str, ref: pd.DataFrame, run: pd.DataFrame, keys, z_items: list) -> tuple[list, list]:
    """The primary rows of a claims-like table, matched, with their effect rows (judged later)."""
    ref, run = (_primary(t).assign(_se=effect_se(_primary(t))) for t in (ref, run))
    merged, effects = _merge(ref, run, keys), []
    for r in merged:
        if r["_merge"] == "both":
            effects.append(_effect(r, file, _label(r, keys), z_items))
    return merged, effects


def _decisions(file: str, merged: list, keys, group, columns, settings: dict, effect_ok: dict) -> tuple[list, dict]:
    """holds (and direction) and n of each matched row; returns the rows and, per verdict group,
    whether each changed row is excused."""
    out, changed = [], {}
    for r in merged:
        key, g = _label(r, keys), tuple(r[k] for k in group)
        if (one := _one_side(file, r, keys, "row")) is not None:
            out.append(one)
            changed.setdefault(g, []).append(False)
            continue
        n_same = _same(r["n_ref"], r["n_run"])
        out.append(_row(file, key, "n", r["n_ref"], r["n_run"], "exact", n_same, tolerance=0.0))
        diff = [c for c in columns if not _same(r[f"{c}_ref"], r[f"{c}_run"])]
        why = []
        if diff:
            why = [f"p not near its threshold in the {s}" for s, x in (("reference", "_ref"), ("run", "_run"))
                   if not _near(r, x, settings)]  # fmt: skip
            if not np.sign(float(r["effect_ref"])) == np.sign(float(r["effect_run"])):
                why.append("effect sign changed")
            if not effect_ok[key]:
                why.append("effect outside its tolerance")
            changed.setdefault(g, []).append(not why)
        col, alpha = _threshold(str(r["rule_ref"]), settings)
        ps = f" (p {float(r[f'{col}_ref']):.2g} -> {float(r[f'{col}_run']):.2g}, threshold {alpha:g})"
        for c in columns:
            if c not in diff:
                out.append(_row(file, key, c, r[f"{c}_ref"], r[f"{c}_run"], "exact", True, tolerance=0.0))
            else:
                rule = (BORDERLINE_RULE if not why else "changed: " + "; ".join(why)) + ps
                out.append(_row(file, key, c, r[f"{c}_ref"], r[f"{c}_run"], rule, not why, tolerance=0.0))
    return out, changed


def _verdicts(file: str, ref: pd.DataFrame, run: pd.DataFrame, group, changed: dict) -> list[dict]:
    out = []
    for r in _merge(ref, run, group):
        key = _label(r, group)
        if (one := _one_side(file, r, group, "verdict")) is not None:
            out.append(one)
            continue
        a, b = r["verdict_ref"], r["verdict_run"]
        rows = changed.get(tuple(r[k] for k in group), [])
        if _same(a, b):
            rule, ok = "exact", True
        elif not rows:
            rule, ok = "changed while none of its primary rows did", False
        elif all(rows):
            rule, ok = f"borderline: changed, each of its {len(rows)} changed rows borderline", True
        else:
            rule, ok = f"changed: {rows.count(False)} of its {len(rows)} changed rows not borderline", False
        out.append(_row(file, key, "verdict", a, b, rule, ok, tolerance=0.0))
    return out


def _cells(summary: pd.DataFrame, columns) -> pd.DataFrame:
    """Mean, standard deviation and count of each summary column per cell, networks that diverged
    or blew up left out (as the claims leave them out)."""
    g = exclude_diverged(summary)[0].groupby(CELL)[list(columns)]
    return pd.concat([g.mean(), g.std(ddof=1).add_suffix("_sd"), g.count().add_suffix("_n")], axis=1).reset_index()


def _spread(table, key, column, r, sd, n, f_items) -> dict:
    a, b, na, nb = (float(r[f"{c}{s}"]) for c in (sd, n) for s in ("_ref", "_run"))
    row = _row(table, key, column, a, b, "", False)
    if not (math.isfinite(a) and math.isfinite(b)) or na < 2 or nb < 2:
        row.update(rule="no spread (fewer than two networks)", within=not math.isfinite(a) and not math.isfinite(b))
    elif a == 0 or b == 0:
        row.update(rule="a spread of 0: the same", within=a == b)
    else:
        f_items.append((row, b / a, nb - 1, na - 1))
    return row


def _se(sd: float, n: float) -> float:
    return sd / math.sqrt(n) if n > 0 else math.nan


def _mean(table, key, column, r, mean, sd, n, z_items) -> dict:
    a, b = float(r[f"{mean}_ref"]), float(r[f"{mean}_run"])
    se = math.hypot(*(_se(float(r[f"{sd}{s}"]), float(r[f"{n}{s}"])) for s in ("_ref", "_run")))
    row = _row(table, key, column, a, b, "", False)
    if math.isnan(a) or math.isnan(b):
        row.update(rule="no value: must be NaN in both", within=math.isnan(a) and math.isnan(b))
    elif math.isfinite(se):
        z_items.append((row, b - a, se))
    else:  # a cell of one network: no standard error
        tol = 1e-9 * max(1.0, abs(a))
        row.update(difference=b - a, tolerance=tol, within=abs(b - a) <= tol, rule="one network: the same value")
    return row


def _mechanism_se(t: pd.DataFrame, effect: str) -> pd.Series:
    """A mechanism effect's standard error: its column, or (a table written before it had one) the
    paired t's, from the effect and its two-sided p (df = n - 1)."""
    if f"{effect}_se" in t:
        return t[f"{effect}_se"].astype(float)
    p, n = t[f"{effect}_p"].astype(float), t.n.astype(float)
    return t[f"{effect}_effect"].astype(float).abs() / sps.t.isf(p / 2, np.maximum(n - 1, 1))


def _mechanism(ref: pd.DataFrame, run: pd.DataFrame, alpha: float, z_items: list, file: str = MECHANISM) -> tuple[list, dict]:
    """mechanism.csv: each control row's n (exact), its effect against FA w/o and against FA w/ (as
    effects), what it reproduces and each cell's explanation (the same, unless borderline: every
    p-value that decides it near the table's level in both runs, and the effects within tolerance)."""
    ref, run = (t.assign(_se_c=_mechanism_se(t, "control"), _se_v=_mechanism_se(t, "vs_fa_w")) for t in (ref, run))
    out, changed = [], {}

    def near(p) -> bool:
        return math.isfinite(p) and alpha / BORDERLINE <= p <= alpha * BORDERLINE

    for r in _merge(ref, run, MECHANISM_KEYS):
        key, cell = _label(r, MECHANISM_KEYS), tuple(r[k] for k in MECHANISM_CELL)
        if (one := _one_side(file, r, MECHANISM_KEYS, "row")) is not None:
            out.append(one)
            changed.setdefault(cell, []).append(False)
            continue
        out.append(_row(file, key, "n", r["n_ref"], r["n_run"], "exact", _same(r["n_ref"], r["n_run"]), tolerance=0.0))
        rows = []
        for col, se in (("control_effect", "_se_c"), ("vs_fa_w_effect", "_se_v")):
            rows.append(_effect({"effect_ref": r[f"{col}_ref"], "effect_run": r[f"{col}_run"], "_se_ref": r[f"{se}_ref"],
                                 "_se_run": r[f"{se}_run"]}, file, key, z_items))  # fmt: skip
            rows[-1]["column"] = col
        out += rows
        a, b = r["reproduces_ref"], r["reproduces_run"]
        if _same(a, b):
            out.append(_row(file, key, "reproduces", a, b, "exact", True, tolerance=0.0))
            continue
        ps = [float(r[f"{p}{side}"]) for p in ("control_p", "vs_fa_w_p") for side in ("_ref", "_run")]
        borderline = any(near(ps[i]) and near(ps[i + 1]) for i in (0, 2))
        out.append(_row(file, key, "reproduces", a, b, "", borderline, tolerance=0.0))
        changed.setdefault(cell, []).append((out[-1], rows, r))
    return out, changed


def _explanations(ref: pd.DataFrame, run: pd.DataFrame, changed: dict, alpha: float, file: str = MECHANISM) -> list[dict]:
    out = []
    for r in _merge(*(t.drop_duplicates(list(MECHANISM_CELL)) for t in (ref, run)), MECHANISM_CELL):
        key, cell = _label(r, MECHANISM_CELL), tuple(r[k] for k in MECHANISM_CELL)
        if r["_merge"] != "both":
            continue  # its rows are already differences
        a, b = r["explanation_ref"], r["explanation_run"]
        rows = changed.get(cell, [])
        fa_w = [float(r[f"fa_w_p{s}"]) for s in ("_ref", "_run")]
        effect_moved = np.isfinite(fa_w).all() and (min(fa_w) < alpha <= max(fa_w))
        if _same(a, b):
            rule, ok = "exact", True
        elif effect_moved and all(alpha / BORDERLINE <= p <= alpha * BORDERLINE for p in fa_w):
            rule, ok = f"borderline: FA w/'s effect p {fa_w[0]:.2g} -> {fa_w[1]:.2g} near {alpha:g} in both runs", True
        elif not rows and not effect_moved:
            rule, ok = "changed while none of its controls' rows did", False
        elif rows and all(x is not False and x[0]["within"] for x in rows):
            rule, ok = f"borderline: each of its {len(rows)} changed rows borderline", True
        else:
            rule, ok = "changed: a control's row changed beyond borderline, or FA w/'s effect crossed the level", False
        out.append(_row(file, key, "explanation", a, b, rule, ok, tolerance=0.0))
    return out


def _read(folder: Path) -> dict[str, pd.DataFrame]:
    names = [*REFERENCE_TABLES, *OPTIONAL]
    return {f: pd.read_csv(folder / f) for f in names if f in REFERENCE_TABLES or (folder / f).exists()}


def _both(ref: dict, new: dict, files, notes: list) -> bool:
    """Whether both runs have every one of ``files``; a note when only one side has them."""
    if all(f in ref and f in new for f in files):
        return True
    for f in files:
        if (f in ref) != (f in new):
            side = "reference" if f in ref else "run"
            notes.append(_row(f, "", "file", np.nan, np.nan, f"only in the {side}: not compared", True))
    return False


def compare(reference: Path, run: Path, settings: dict | None = None) -> pd.DataFrame:
    """Every compared value of the tables in ``run`` (results/tables) against ``reference``;
    ``settings``: the config's `claims` (its thresholds; the defaults when None)."""
    settings = {**CLAIM_SETTINGS, **(settings or {})}
    ref, new = _read(Path(reference)), _read(Path(run))
    sources = [("claims.csv", CLAIM_KEYS, ("claim",), "verdict.csv", ref["verdict.csv"], new["verdict.csv"])]
    notes = []
    if _both(ref, new, [PROTOCOLS], notes):
        sources.append((PROTOCOLS, (*PROTOCOL_GROUP[:2], *CLAIM_KEYS), PROTOCOL_GROUP, PROTOCOLS,
                        *(t.drop_duplicates(list(PROTOCOL_GROUP)) for t in (ref[PROTOCOLS], new[PROTOCOLS]))))  # fmt: skip
    if _both(ref, new, [CNN_CLAIMS, CNN_VERDICT], notes):
        sources.append((CNN_CLAIMS, ("family", *CLAIM_KEYS), FAMILY_GROUP, CNN_VERDICT, ref[CNN_VERDICT], new[CNN_VERDICT]))

    z_effects, matched, values = [], [], []
    for file, keys, *_ in sources:
        merged, effects = _claims_like(file, ref[file], new[file], keys, z_effects)
        matched.append(merged)
        values += effects
    mech_alpha = float(settings.get("mechanism_alpha", 0.05))
    mechanisms = {}  # file -> (its rows, its changed cells)
    for file in (MECHANISM, CNN_MECHANISM):
        if _both(ref, new, [file], notes):
            mechanisms[file] = _mechanism(ref[file], new[file], mech_alpha, z_effects, file)
    _by_z(z_effects, "effects")  # effects first: a changed row is excused only if its effect is within
    # a changed `reproduces` is excused only if its effects are within
    for cell_rows in (c for _, changed in mechanisms.values() for c in changed.values()):
        for item in cell_rows:
            if item is False:
                continue
            row, effects, r = item
            why = [] if row["within"] else ["neither p near the level in both runs"]
            why += ["an effect outside its tolerance"] if not all(e["within"] for e in effects) else []
            ps = f" (control p {float(r['control_p_ref']):.2g} -> {float(r['control_p_run']):.2g}, vs FA w/ p " \
                 f"{float(r['vs_fa_w_p_ref']):.2g} -> {float(r['vs_fa_w_p_run']):.2g}, level {mech_alpha:g})"  # fmt: skip
            row.update(within=not why, rule=("borderline: changed, a deciding p near the level in both runs, effects within"
                                             if not why else "changed: " + "; ".join(why)) + ps)  # fmt: skip
    for file, (mech, mech_changed) in mechanisms.items():
        values += mech + _explanations(ref[file], new[file], mech_changed, mech_alpha, file)
    for (file, keys, group, vfile, vref, vrun), merged in zip(sources, matched):
        effect_ok = {r["key"]: r["within"] for r in values if r["table"] == file}
        columns = [c for c in ("holds", "direction") if c in ref[file] and c in new[file]]
        decided, changed = _decisions(file, merged, keys, group, columns, settings, effect_ok)
        values += decided + _verdicts(vfile, vref, vrun, group, changed)

    z_means, f_spreads = [], []
    cols = [c for c in SUMMARY_MEANS if c in ref["summary.csv"] and c in new["summary.csv"]
            and (ref["summary.csv"][c].notna().any() or new["summary.csv"][c].notna().any())]  # fmt: skip
    summaries = ["summary.csv"] + ([CNN_SUMMARY] if _both(ref, new, [CNN_SUMMARY], notes) else [])
    for file in summaries:
        for r in _merge(*(_cells(t, cols) for t in (ref[file], new[file])), CELL):
            key = _label(r, CELL)
            if (one := _one_side(file, r, CELL, "cell")) is not None:
                values.append(one)
                continue
            for c in cols:
                values.append(_mean(file, key, c, r, c, f"{c}_sd", f"{c}_n", z_means))
                values.append(_spread(file, key, f"{c} sd", r, f"{c}_sd", f"{c}_n", f_spreads))
    for r in _merge(ref["table1.csv"], new["table1.csv"], TABLE1_KEYS):
        key = _label(r, TABLE1_KEYS)
        if (one := _one_side("table1.csv", r, TABLE1_KEYS, "row")) is not None:
            values.append(one)
            continue
        values.append(_mean("table1.csv", key, "mean", r, "mean", "std", "n", z_means))
        values.append(_spread("table1.csv", key, "std", r, "std", "n", f_spreads))
    _by_z(z_means, "cell means")
    _by_f(f_spreads)
    order = {f: i for i, f in enumerate(["verdict.csv", "claims.csv", PROTOCOLS, MECHANISM, "summary.csv", "table1.csv",
                                         CNN_VERDICT, CNN_CLAIMS, CNN_MECHANISM, CNN_SUMMARY])}  # fmt: skip
    return pd.DataFrame(notes + values, columns=COLUMNS).sort_values("table", key=lambda s: s.map(order), kind="stable",
                                                                     ignore_index=True)  # fmt: skip


def failures(table: pd.DataFrame) -> pd.DataFrame:
    return table[~table.within.astype(bool)]
