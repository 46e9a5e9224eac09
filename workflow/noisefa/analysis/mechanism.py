"""Why each downstream effect of noise pretraining exists: the controls against FA w/ (issue 22).

Every measure of ``MEASURES`` is one downstream claim's per-network value (C5's AUC, C9's
late-window accuracy, ...). For each (measure, dataset, depth) of the main sweep, on the same
networks (one seed = the same initial W and B and the same data order in every arm):

- FA w/'s effect: the paired difference FA w/ - FA w/o (mean, paired t);
- each control's effect: control - FA w/o, the *fraction* of FA w/'s effect it reproduces,
  mean(control - FA w/o) / mean(FA w/ - FA w/o), with Fieller's interval (``stats.paired_ratio``),
  and its difference from FA w/ (paired t);
- what each control does, from the fraction's interval (``reproduces``): ``beyond`` (above 1),
  ``full`` (excludes 0, includes 1), ``partial`` (strictly between 0 and 1), ``none`` (includes 0,
  excludes 1), ``undetermined`` (includes both);
- one ``explanation`` per cell, by the written rule of ``explain``.

The level is `claims.mechanism_alpha` (0.05): the table attributes an effect that exists in the
rows to a cause; whether the paper's claim holds is the verdict's question, at the paper's 0.001.
FA w/'s effect must differ from 0 at that level for the fraction's interval to be bounded (Fieller),
so "no effect to explain" is exactly "FA w/ vs FA w/o not significant".

Controls: ``conditions.CONTROLS``. C16 has no training cell: its values are the meta-loss after
adaptation from the untrained snapshot (FA w/o), the noise-trained one (FA w/), each control built
from them by the meta job, and the fresh-noise job's trained snapshot (fa_fresh).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..pipeline.conditions import CONTROLS
from . import stats, tidy
from .summary import exclude_diverged

ALPHA = 0.05  # `claims.mechanism_alpha`'s default
COLUMNS = [
    "claim", "measure", "variant", "better", "dataset", "depth", "n", "fa_wo_mean", "fa_w_mean", "fa_w_effect", "fa_w_se",
    "fa_w_p", "control", "control_mean", "control_effect", "control_se", "control_p", "fraction", "fraction_low",
    "fraction_high", "vs_fa_w_effect", "vs_fa_w_se", "vs_fa_w_p", "reproduces", "explanation",
]  # fmt: skip
KEYS = ["dataset", "depth", "condition", "seed"]
BEYOND, FULL, PARTIAL, NONE, UNDETERMINED, NOT_RUN = "beyond", "full", "partial", "none", "undetermined", "not run"
START_CONDITION = {c.start: name for name, c in CONTROLS.items() if not c.fresh_noise}  # meta rows' `start`


@dataclass
class Tables:
    summary: pd.DataFrame
    metrics: pd.DataFrame
    ood: pd.DataFrame
    meta: pd.DataFrame
    # experiment (the main sweep), controls_experiment, dose_experiments ({experiment: angle}), noise
    # (the main sweep's set), controls (the config block), alpha: ``mechanism_context`` in common.smk
    context: dict


@dataclass(frozen=True)
class Measure:
    claim: str
    short: str  # a figure's label
    name: str
    better: str  # "higher" or "lower": which way the paper says noise pretraining moves it
    values: Callable[[Tables], pd.DataFrame]  # KEYS + [variant] + value: one row per network


def _empty() -> pd.DataFrame:
    return pd.DataFrame(columns=[*KEYS, "variant", "value"])


def _arms(d: pd.DataFrame, t: Tables) -> pd.DataFrame:
    """FA w/o and FA w/ of the main sweep and the controls of the controls experiment."""
    main = (d.experiment == t.context["experiment"]) & d.condition.isin(["fa_wo", "fa_w"])
    ctrl = (d.experiment == t.context.get("controls_experiment", "controls")) & d.condition.isin(list(CONTROLS))
    return d[main | ctrl]


def _summary_column(col: str) -> Callable[[Tables], pd.DataFrame]:
    def values(t: Tables) -> pd.DataFrame:
        s = _arms(t.summary, t)
        c = col if col in s and s[col].notna().any() else "converged_test_acc"  # late window off: C9's own fallback
        return s[KEYS].assign(variant="", value=s[c].astype(float) if c in s else np.nan)

    return values


def _final_metric(metric: str, layer: Callable[[pd.DataFrame], pd.Series] | None = None, step: str = "last"):
    def values(t: Tables) -> pd.DataFrame:
        d = _arms(t.metrics, t)
        d = d[(d.metric == metric) & (d.phase == "data")]
        if layer is not None:
            d = d[layer(d)]
        if d.empty:
            return _empty()
        d = tidy.at_step(d, step)
        return d.groupby(KEYS, as_index=False).value.mean().assign(variant="")

    return values


def _error_gap(t: Tables) -> pd.DataFrame:
    d = _arms(t.metrics, t)
    d = d[d.metric.isin(["train_acc", "test_acc"]) & (d.phase == "data")]
    if d.empty:
        return _empty()
    w = tidy.at_step(d, "last").pivot_table(index=KEYS, columns="metric", values="value").reset_index()
    if w.empty or not {"train_acc", "test_acc"} <= set(w.columns):
        return _empty()
    return w[KEYS].assign(variant="", value=w.train_acc - w.test_acc)


def _ood(external: bool) -> Callable[[Tables], pd.DataFrame]:
    def values(t: Tables) -> pd.DataFrame:
        from ..data.transforms import TRANSFORMS

        d = t.ood
        if d.empty:
            return _empty()
        d = _arms(d[d.metric == "acc"], t)
        if external:
            d = d[~d.test_set.isin(list(TRANSFORMS))]
        else:
            identity = d.test_set.map({k: tf.identity for k, tf in TRANSFORMS.items()})
            d = d[d.test_set.isin(list(TRANSFORMS)) & (d.magnitude != identity)]
        return d.groupby([*KEYS, "test_set"], as_index=False).value.mean().rename(columns={"test_set": "variant"})

    return values


def _meta(t: Tables) -> pd.DataFrame:
    """Meta-loss (sum over tasks after adaptation) from each arm's start (see the module doc)."""
    d = t.meta
    if d.empty:
        return _empty()
    d = d[(d.metric == "loss") & (d.task == "meta")]
    used, fresh = t.context.get("noise"), t.context.get("controls", {}).get("fresh_noise")
    parts = []
    for noise, g in d.groupby("noise"):
        last, first = g.step.max(), g.step.min()
        snap = tidy.noise_snapshots(g)
        if noise == used:
            parts += [snap[snap.step == first].assign(condition="fa_wo"), snap[snap.step == last].assign(condition="fa_w")]
            if "start" in g:
                ctrl = g[g.start.isin(list(START_CONDITION))]
                parts.append(ctrl.assign(condition=ctrl.start.map(START_CONDITION)))
        elif noise == fresh:
            parts.append(snap[snap.step == last].assign(condition="fa_fresh"))
    if not parts:
        return _empty()
    out = pd.concat(parts)
    return out[KEYS].assign(variant="", value=out.value.astype(float))


def _last_hidden(d: pd.DataFrame) -> pd.Series:
    return d.layer == (d.depth - 1).astype(str)


MEASURES: dict[str, Measure] = {
    m.claim: m
    for m in [
        Measure("C5", "AUC", "AUC of test accuracy", "higher", _summary_column("auc_test_acc")),
        Measure("C9", "late acc", "late-window test accuracy", "higher", _summary_column("late_test_acc")),
        Measure("C11", "W erank", "effective rank of W (mean over layers) where data training starts", "lower",
                _final_metric("erank", step="first")),
        Measure("C12", "error gap", "error gap (train - test accuracy) at the end, main sweep's training set", "lower",
                _error_gap),
        Measure("C13", "Gram erank", "Gram erank of the last hidden layer at the end", "lower",
                _final_metric("gram_erank", _last_hidden)),
        Measure("C14", "OOD acc", "accuracy on transformed test images (mean over magnitudes)", "higher",
                _ood(external=False)),
        Measure("C15", "external acc", "accuracy on another dataset of the same labels", "higher", _ood(external=True)),
        Measure("C16", "meta-loss", "meta-loss (sum over tasks after adaptation)", "lower", _meta),
        Measure("B3", "ECE", "test ECE at the end", "lower", _final_metric("test_ece")),
    ]
}  # fmt: skip


def reproduces(low: float, high: float) -> str:
    """What a control does to FA w/'s effect, from its fraction's interval [low, high]."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return UNDETERMINED
    if low > 1:
        return BEYOND
    if low > 0:
        return FULL if high >= 1 else PARTIAL
    return UNDETERMINED if high >= 1 else NONE


def explain(fa_w_p: float, alpha: float, what: dict[str, str]) -> str:
    """The cell's explanation, first match wins (``what``: control -> ``reproduces``):

    1. FA w/'s effect not significant (p >= alpha) -> "no effect to explain";
    2. fa_scaled full or beyond -> "readout scale" (no noise, no alignment needed);
    3. fa_aligned full or beyond and fa_newb none -> "alignment";
    4. fa_newb full, beyond or partial -> "noise beyond alignment" (noise changed W in a way that
       helps without the alignment to the B that trains it);
    5. fa_aligned full or beyond (fa_newb undetermined or not run) -> "alignment (fa_newb undetermined)";
    6. fa_aligned partial -> "alignment, in part";
    7. anything undetermined -> "undetermined (too few networks)"; else -> "not explained".
    A fresh-noise control that reproduces the effect adds "; fresh noise reproduces it"."""
    if not (np.isfinite(fa_w_p) and fa_w_p < alpha):
        return "no effect to explain"
    yes = (FULL, BEYOND)
    a, nb, sc = (what.get(c, NOT_RUN) for c in ("fa_aligned", "fa_newb", "fa_scaled"))
    if sc in yes:
        out = "readout scale"
    elif a in yes and nb == NONE:
        out = "alignment"
    elif nb in (*yes, PARTIAL):
        out = "noise beyond alignment"
    elif a in yes:
        out = "alignment (fa_newb undetermined)"
    elif a == PARTIAL:
        out = "alignment, in part"
    elif UNDETERMINED in what.values():
        out = "undetermined (too few networks)"
    else:
        out = "not explained"
    return out + ("; fresh noise reproduces it" if what.get("fa_fresh") in yes else "")


def _se(d: pd.Series) -> float:
    """The standard error of a paired mean difference (what `compare` scales a rerun's change by)."""
    d = d.dropna()
    return float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else np.nan


def _cell_rows(m: Measure, key: tuple, wide: pd.DataFrame, alpha: float) -> list[dict]:
    ds, depth, variant = key
    base = wide["fa_wo"]
    d_w = wide["fa_w"] - base
    r_w = stats.paired_t(wide["fa_w"], base)
    rows, what = [], {}
    for c in [c for c in CONTROLS if c in wide]:
        d_c = wide[c] - base
        r_c = stats.paired_t(wide[c], base)
        frac, lo, hi = stats.paired_ratio(d_c, d_w, level=1 - alpha)
        if not (np.isfinite(r_w.p_value) and r_w.p_value < alpha):
            lo = hi = np.nan  # Fieller's interval is unbounded: nothing to be a fraction of
        vs = stats.paired_t(wide[c], wide["fa_w"])
        what[c] = reproduces(lo, hi)
        rows.append({
            "claim": m.claim, "measure": m.name, "variant": variant, "better": m.better,
            "dataset": ds, "depth": int(depth), "n": int(d_c.notna().sum()),
            "fa_wo_mean": base.mean(), "fa_w_mean": wide["fa_w"].mean(), "fa_w_effect": d_w.mean(), "fa_w_se": _se(d_w),
            "fa_w_p": r_w.p_value, "control": c, "control_mean": wide[c].mean(), "control_effect": d_c.mean(),
            "control_se": _se(d_c), "control_p": r_c.p_value, "fraction": frac, "fraction_low": lo, "fraction_high": hi,
            "vs_fa_w_effect": vs.effect, "vs_fa_w_se": _se(wide[c] - wide["fa_w"]), "vs_fa_w_p": vs.p_value,
            "reproduces": what[c],
        })  # fmt: skip
    text = explain(r_w.p_value, alpha, what)
    return [{**r, "explanation": text} for r in rows]


def mechanism_table(t: Tables) -> pd.DataFrame:
    """Every measure's cells (see the module doc); networks that diverged or blew up are left out."""
    alpha = float(t.context.get("alpha", ALPHA))
    metrics = exclude_diverged(t.metrics)[0] if not t.metrics.empty else t.metrics
    t = Tables(exclude_diverged(t.summary)[0], metrics, t.ood, t.meta, t.context)
    rows = []
    for m in MEASURES.values():
        v = m.values(t) if not t.summary.empty else _empty()
        if v.empty:
            continue
        wide = v.pivot_table(index=["dataset", "depth", "variant", "seed"], columns="condition", values="value")
        for key, cell in wide.groupby(level=["dataset", "depth", "variant"]):
            cell = cell.droplevel(["dataset", "depth", "variant"])
            if {"fa_wo", "fa_w"} <= set(cell.columns) and any(c in cell for c in CONTROLS):
                rows += _cell_rows(m, key, cell.dropna(subset=["fa_wo", "fa_w"]), alpha)
    return pd.DataFrame(rows, columns=COLUMNS)


# ------------------------------------------------------------------ the alignment dose-response

DOSE_COLUMNS = ["depth", "condition", "target", "seed", "initial_angle_deg", "auc_test_acc", "late_test_acc"]


def dose_table(summary: pd.DataFrame, context: dict) -> pd.DataFrame:
    """Per network of the dose-response's dataset: fa_aligned at each fixed target angle
    (``context["dose_experiments"]``: {experiment: angle}), fa_aligned matched to its twin, FA w/o and FA w/, each with the
    last layer's angle where data training starts (measured: the x axis) and its AUC and
    late-window accuracy."""
    dose = context.get("controls", {}).get("dose", {})
    if not dose.get("enabled"):
        return pd.DataFrame(columns=DOSE_COLUMNS)
    s = exclude_diverged(summary)[0]
    s = s[(s.dataset == dose["dataset"]) & s.depth.isin(dose["depths"])]
    doses = {k: str(int(v)) for k, v in context.get("dose_experiments", {}).items()}
    main, ctrl = s.experiment == context["experiment"], s.experiment == context.get("controls_experiment", "controls")
    is_dose = s.experiment.isin(list(doses))
    keep = (main & s.condition.isin(["fa_wo", "fa_w"])) | (ctrl & (s.condition == "fa_aligned")) | is_dose
    s = s[keep]
    target = np.where(is_dose[keep], s.experiment.map(doses), np.where(s.condition == "fa_aligned", "matched", ""))
    late = s.late_test_acc if "late_test_acc" in s else s.converged_test_acc
    out = pd.DataFrame({
        "depth": s.depth.astype(int), "condition": s.condition, "target": target, "seed": s.seed.astype(int),
        "initial_angle_deg": s.initial_last_layer_angle_deg.astype(float), "auc_test_acc": s.auc_test_acc.astype(float),
        "late_test_acc": late.astype(float),
    })  # fmt: skip
    return out.sort_values(["depth", "condition", "target", "seed"]).reset_index(drop=True)[DOSE_COLUMNS]


def on_curve(dose: pd.DataFrame, value: str = "auc_test_acc") -> pd.DataFrame:
    """Does FA w/ sit on the curve fa_aligned draws? Per depth: the fixed-angle arms' mean value
    against their mean measured angle, linearly interpolated at each FA w/ network's own angle;
    FA w/'s residuals (value - curve) with a one-sample t (the curve's own error is not counted:
    a p below alpha says FA w/ is off the curve by more than its networks vary)."""
    rows = []
    for depth, g in dose.groupby("depth"):
        curve = g[g.target.str.fullmatch(r"\d+")].groupby("target")[["initial_angle_deg", value]].mean()
        curve = curve.sort_values("initial_angle_deg")
        w = g[g.condition == "fa_w"]
        if len(curve) < 2 or w.empty:
            continue
        fit = np.interp(w.initial_angle_deg, curve.initial_angle_deg, curve[value])
        r = stats.one_sample_t(w[value].to_numpy() - fit, 0.0)
        inside = bool(curve.initial_angle_deg.min() <= w.initial_angle_deg.mean() <= curve.initial_angle_deg.max())
        rows.append({"depth": int(depth), "measure": value, "fa_w_angle": w.initial_angle_deg.mean(), "within_curve": inside,
                     **{k: v for k, v in r.as_dict().items() if k != "test"}})  # fmt: skip
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ what a reader sees

SHORT = {"fa_aligned": "aligned", "fa_newb": "new B", "fa_scaled": "scaled", "fa_fresh": "fresh noise"}


def _frac(r) -> str:
    if not np.isfinite(r.fraction):
        return "–"
    ci = f" [{r.fraction_low:.2f}, {r.fraction_high:.2f}]" if np.isfinite(r.fraction_low) else ""
    return f"{r.fraction:.2f}{ci} {r.reproduces}"


def markdown(table: pd.DataFrame, curve: pd.DataFrame, alpha: float = ALPHA) -> str:
    """One line per claim cell: FA w/'s effect, the fraction each control reproduces with its
    interval, and the explanation; then the dose-response's on-curve test."""
    if table.empty:
        return "No mechanism rows: the controls are off (`controls.enabled`) or their cells are missing.\n"
    controls = [c for c in CONTROLS if c in set(table.control)]
    head = ["claim", "measure", "dataset", "depth", "FA w/ − FA w/o (p)", *(SHORT[c] for c in controls), "explanation"]
    lines = [
        f"Fraction of FA w/'s effect each control reproduces, with its {1 - alpha:.0%} Fieller interval and what that "
        f"interval says (full: excludes 0, includes 1; partial: inside (0, 1); none: includes 0 only; beyond: above 1). "
        f"Paired over the same networks; level {alpha:g}.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    table = table.assign(variant=table.variant.fillna(""))
    for (claim, measure, variant, ds, depth), g in table.groupby(["claim", "measure", "variant", "dataset", "depth"], sort=False):
        r0 = g.iloc[0]
        by = g.set_index("control")
        cells = [_frac(by.loc[c]) if c in by.index else "" for c in controls]
        eff = f"{r0.fa_w_effect:+.4g} (p {r0.fa_w_p:.2g})"
        what = f"{measure} [{variant}]" if variant else measure
        lines.append("| " + " | ".join([claim, what, ds, str(depth), eff, *cells, f"**{r0.explanation}**"]) + " |")
    if not curve.empty:
        lines += ["", "Alignment dose-response: FA w/ against the curve fa_aligned draws at fixed angles (AUC "
                  "interpolated at each FA w/ network's angle; one-sample t of the residuals):", ""]  # fmt: skip
        for _, r in curve.iterrows():
            where = "" if r.within_curve else " (outside the curve's angles: extrapolated from its end)"
            lines.append(f"- depth {r.depth}: FA w/ at {r.fa_w_angle:.1f}°{where}, residual {r.effect:+.4f} "
                         f"[{r.ci_low:+.4f}, {r.ci_high:+.4f}], p {r.p_value:.2g}, n {r.n}")  # fmt: skip
    return "\n".join(lines) + "\n"
