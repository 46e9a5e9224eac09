"""The paper's claims, each computed from the tidy tables with a test that can come out either way.

A claim is one function in ``CLAIMS`` that returns rows of the claims table (``COLUMNS``). Each row
carries its test result and a *kind* that says how ``holds`` follows from it, never typed in:

- ``less`` / ``greater``: a directed difference: the effect has the claimed sign and the Holm-adjusted
  p-value is below ``alpha`` (0.001, the paper's level);
- ``one_sided``: the test is already one-sided (the gap-closed contrast): ``p_holm < alpha``;
- ``differs``: any difference: ``p_holm < alpha``;
- ``equivalent``: an equivalence test (TOST) within a stated margin: ``p_holm < equivalence_alpha``
  (0.05, the convention: the 90 % interval lies inside the margin). "Stays the same" and "at 90°"
  are claims of equivalence: a non-significant difference is absence of evidence, not evidence;
- ``undetected``: no detectable difference, raw ``p >= not_significant``; used only for the paper's
  own single-network tests (shown, not primary) and where no margin has a meaning (class counts).

Multiplicity: Holm's adjustment within each claim, separately for its difference and its
equivalence tests (``p_holm``). Units of replication: the paper tests one network's neurons or
probes (C1, C2, C4, C10); those rows are kept (``primary`` False) and every such claim is also
tested over the networks of the cell (one value per network), which is the row the verdict reads.

``primary`` marks the rows the verdict (``verdict.py``) reads: the configured noise set and
protocol, the networks as the unit, and the claim as the paper states it. Every row names its
``noise_set``, its ``protocol`` and whether the networks had ``batchnorm``.

Pretraining rows name their input shape as the dataset (``noise:in784_c10``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..pipeline.conditions import CONDITIONS
from . import stats, tidy
from .summary import exclude_diverged, summarise

COLUMNS = [
    "claim", "figure", "dataset", "depth", "comparison", "test", "n", "statistic", "p_value", "effect",
    "ci_low", "ci_high", "p_holm", "holds", "direction", "rule", "primary", "noise_set", "protocol", "batchnorm",
]  # fmt: skip
SUPPORTS, NOT_SIGNIFICANT, CONTRADICTS = "supports", "n.s.", "contradicts"  # a row's ``direction``
PRIVATE = ["_kind", "_null", "_margin", "_evidence_ok"]  # decision inputs of a row, not written
LESS, GREATER, ONE_SIDED, DIFFERS, EQUIVALENT, UNDETECTED = "less", "greater", "one_sided", "differs", "equivalent", "undetected"
KINDS = {LESS, GREATER, ONE_SIDED, DIFFERS, EQUIVALENT, UNDETECTED}
# The decision rules' settings (config key `claims`; these are its defaults, and the schema's).
DEFAULTS = {
    "alpha": 0.001,  # the paper reports its comparisons at p < 0.001
    "equivalence_alpha": 0.05,
    "not_significant": 0.05,
    "angle_margin_deg": 5.0,  # "stays where it was" / "at 90 deg": within +-5 deg
    "readout_margin": 0.02,  # "at chance": a readout unit's mean probability within 1/C +- 0.02
    "class_bias_margin": 0.1,  # "at chance": the predicted classes' bias below Cohen's w 0.1 ("small")
    "gap_fraction": 0.5,  # "close to BP": pretraining closes more than half of BP's lead over FA w/o
    "mechanism_alpha": 0.05,  # the mechanism table's level (noisefa.analysis.mechanism), not a claim's
}


@dataclass
class Tables:
    metrics: pd.DataFrame  # data training (+ noise history, + order control)
    summary: pd.DataFrame  # one row per data-trained network
    pretrain: pd.DataFrame = field(default_factory=pd.DataFrame)  # every pretraining job once
    details: pd.DataFrame = field(default_factory=pd.DataFrame)  # neurons, probes, spectra
    ood: pd.DataFrame = field(default_factory=pd.DataFrame)  # Figure 5
    meta: pd.DataFrame = field(default_factory=pd.DataFrame)  # Figure 6
    context: dict = field(default_factory=dict)  # which experiment/noise set/figure cells to test

    def setting(self, key: str) -> float:
        return float({**DEFAULTS, **self.context.get("claims", {})}[key])


def study_tables(entry: dict, convergence: dict, context: dict, label: str | None = None) -> Tables:
    """A study's tables from its own jobs' files only (``entry``: ``Plan.protocol_entries`` or
    ``Plan.cnn_entry``: train metrics and details, {pretrain metrics file: [datasets]}, pretrain
    details, optionally OOD and meta files, and ``labels``, the names of files that hold other cells
    too). ``label`` renames the experiment of its data-trained rows (the protocol study puts every
    protocol's cells under one name); None keeps the files' own."""
    users = label or entry["experiment"]
    pretrain_map = {path: [[users, d] for d in datasets] for path, datasets in entry["pretrain"].items()}
    labels = entry.get("labels", {})
    metrics = tidy.aggregate(entry["train"], pretrain_map, labels=labels)
    details = tidy.concat_tables([*entry["train_details"], *entry["pretrain_details"]], tidy.DETAIL_COLUMNS,
                                 tidy.DETAIL_DTYPES, labels)  # fmt: skip
    ood = tidy.concat_tables(entry.get("ood", []), tidy.OOD_COLUMNS, tidy.OOD_DTYPES, labels)
    meta = tidy.concat_tables(entry.get("meta", []), tidy.META_COLUMNS, tidy.META_DTYPES)
    if label:
        metrics, ood = metrics.assign(experiment=label), ood.assign(experiment=label)
        details["experiment"] = details.experiment.where(details.experiment == "pretrain", label)
    pretrain = tidy.concat_tables(list(entry["pretrain"]))
    return Tables(metrics, summarise(metrics, **convergence), pretrain, details, ood, meta, context=context)


def _row(
    claim,
    figure,
    dataset,
    depth,
    comparison,
    result: stats.TestResult,
    kind: str,
    primary=True,
    noise=None,
    null: float = 0.0,
    margin: float = np.nan,
    evidence_ok: bool = True,
) -> dict:
    """One claims row. ``null``: the value a directed effect is compared with (0, or the gap fraction);
    ``margin``: an equivalence row's margin around its target (its effect is centred on the target);
    ``evidence_ok`` False: the row cannot support the claim whatever its p (an angle comparison whose
    arm claimed aligned is not below 90°)."""
    return {
        "claim": claim,
        "figure": figure,
        "dataset": dataset,
        "depth": int(depth),
        "comparison": comparison,
        **result.as_dict(),
        "_kind": kind,
        "primary": bool(primary),
        "noise_set": noise,
        "_null": float(null),
        "_margin": float(margin),
        "_evidence_ok": bool(evidence_ok),
    }


def _last_layer(d: pd.DataFrame) -> pd.DataFrame:
    return d if d.empty else d[d.layer == d.depth.astype(str)]


def _noise_jobs(t: Tables, metric: str, sets=None) -> pd.DataFrame:
    """Rows of pretraining jobs (one per shape, noise set, depth) of the used set or of ``sets``."""
    d = t.pretrain
    if d.empty:
        return d
    sets = sets or [t.context.get("noise", "")]
    return d[(d.metric == metric) & (d.phase == "noise") & d.noise.isin(sets)]


def _per_network(d: pd.DataFrame, step) -> pd.Series:
    """One value per network: the mean over its neurons / probes at ``step`` (indexed by seed)."""
    return d[d.step == step].groupby("seed").value.mean()


def _paired(after: pd.Series, before: pd.Series) -> stats.TestResult:
    both = pd.concat([after.rename("a"), before.rename("b")], axis=1).dropna()
    return stats.paired_t(both.a.to_numpy(), both.b.to_numpy())


# ------------------------------------------------------------------ Figure 1


def _neuron_angles(t: Tables, sets=None) -> pd.DataFrame:
    d = t.details
    if d.empty:
        return d
    sets = sets or [t.context.get("noise", "")]
    d = d[(d.metric == "neuron_angle_deg") & (d.phase == "noise") & d.noise.isin(sets)]
    return _last_layer(d)


def c1_untrained_at_90(t: Tables):
    """Untrained last-layer angles are at 90 deg: per network the mean over its neurons, TOST
    against 90 +- angle_margin_deg over the networks (primary); the paper's one-sample t over one
    network's neurons, not significant, beside it."""
    rows, margin = [], t.setting("angle_margin_deg")
    for (ds, noise, depth), g in _neuron_angles(t).groupby(["dataset", "noise", "depth"]):
        r = stats.one_sample_t(tidy.first_network(g[g.step == 0]).value, 90.0)
        rows.append(_row("C1", "1e", ds, depth, f"untrained neuron angles vs 90, first network ({noise})", r, UNDETECTED,
                         primary=False, noise=noise))  # fmt: skip
        r = stats.tost_one_sample(_per_network(g, 0), 90.0, margin)
        rows.append(_row("C1", "1e", ds, depth, f"untrained angle within 90 ± {margin:g}°, networks ({noise})", r, EQUIVALENT,
                         noise=noise, margin=margin))  # fmt: skip
    return rows


def _trained_vs_untrained(claim, figure, ds, depth, noise, g, primary=True) -> list[dict]:
    """Neuron angles after vs before noise training: one network's neurons (the paper's test)
    and the networks' mean angles, paired (the same networks before and after)."""
    first = tidy.first_network(g)
    r = stats.two_sample_t(first[first.step == first.step.max()].value, first[first.step == 0].value)
    out = [_row(claim, figure, ds, depth, f"neuron angles trained vs untrained, first network ({noise})", r, LESS,
                primary=False, noise=noise)]  # fmt: skip
    trained = _per_network(g, g.step.max())
    r = _paired(trained, _per_network(g, 0))
    out.append(_row(claim, figure, ds, depth, f"angle trained vs untrained, networks ({noise})", r, LESS, primary, noise,
                    evidence_ok=_below_90(trained)))  # fmt: skip
    return out


def _below_90(angles) -> bool:
    """An angle comparison is evidence of alignment only if the arm claimed aligned is below 90° on
    average: two arms at 93° and 105° differ, but neither is aligned (depth 5 without BatchNorm)."""
    a = np.asarray(angles, float)
    a = a[np.isfinite(a)]
    return bool(len(a)) and float(a.mean()) < 90.0


def _fresh_sets(t: Tables) -> list[str]:
    """Noise sets of Figure 1's sweep drawn fresh every batch: the paper's own protocol."""
    specs = t.context.get("noise_specs", {})
    return [n for n in t.context.get("figure1_sets", []) if specs.get(n, {}).get("protocol") == "fresh"]


def c2_noise_aligns(t: Tables):
    """After noise training the last-layer angle is below the untrained one and below 90 deg
    (over the networks; the paper's two-sample t over one network's neurons beside it).

    A premise, not an independent test: the protocol rule chose the noise set and the deep
    settings for it to hold (on seeds disjoint from the cells'). So the same test under the paper's
    own protocol, fresh noise (Figure 1's fresh sets), is shown beside it (not primary)."""
    rows, used = [], t.context.get("noise", "")
    for (ds, noise, depth), g in _neuron_angles(t, [used, *_fresh_sets(t)]).groupby(["dataset", "noise", "depth"]):
        rows += _trained_vs_untrained("C2", "1e", ds, depth, noise, g, primary=noise == used or not used)
    d = _last_layer(_noise_jobs(t, "angle_deg"))
    for (ds, noise, depth), g in d.groupby(["dataset", "noise", "depth"]):
        r = stats.one_sample_t(tidy.at_step(g, "last").value, 90.0)
        rows.append(_row("C2", "1e", ds, depth, f"pretrained angle vs 90, networks ({noise})", r, LESS, noise=noise))
    return rows


def _classes(dataset: str) -> int | None:
    """C of a pretraining row's shape name (``noise:in784_c10``)."""
    m = re.search(r"_c(\d+)$", str(dataset))
    return int(m.group(1)) if m else None


def c3_noise_loss_falls(t: Tables):
    """The noise set is memorised: the final noise cross-entropy is below chance, ln C (one-sample t
    over networks; primary). That is what the mechanism needs: labels independent of the inputs give
    a gradient only while the set is fitted beyond chance. "Falls" (last vs first batch loss, paired)
    is shown beside it: any training that flattens an untrained network's readout (CE 3.0 > ln 10)
    passes it, fresh noise included."""
    rows = []
    for (ds, noise, depth), g in _noise_jobs(t, "batch_loss").groupby(["dataset", "noise", "depth"]):
        last = tidy.at_step(g, "last").set_index("seed").value
        r = _paired(last, tidy.at_step(g, "first").set_index("seed").value)
        rows.append(_row("C3", "1d", ds, depth, f"noise CE last vs first ({noise})", r, LESS, primary=False, noise=noise))
        c = _classes(ds)
        if c:
            r = stats.one_sample_t(last, math.log(c))
            rows.append(_row("C3", "1d", ds, depth, f"final noise CE vs ln {c} (memorised; {noise})", r, LESS, noise=noise))
    return rows


def _same_protocol(a: dict | None, b: dict | None) -> bool:
    return bool(a and b) and a.get("protocol") == b.get("protocol") and a.get("n_samples") == b.get("n_samples")


def c4_conditions_align(t: Tables):
    """Alignment appears under every random-input condition of Figure 1 (networks, paired). The
    paper's conditions are input distributions: sets with the used set's protocol and size are
    primary; sets of other protocols or sizes (fresh, 1k, 60k) are shown, not primary."""
    sets = t.context.get("figure1_sets", [])
    rows = []
    if not sets:
        return rows
    d = _neuron_angles(t, sets)
    if not d.empty and "figure1_depth" in t.context:
        d = d[(d.depth == t.context["figure1_depth"]) & (d.dataset == t.context.get("figure1_shape", d.dataset))]
    specs = t.context.get("noise_specs", {})
    used = specs.get(t.context.get("noise", ""))
    for (ds, noise, depth), g in d.groupby(["dataset", "noise", "depth"]):
        primary = _same_protocol(specs.get(noise), used) if used else True
        rows += _trained_vs_untrained("C4", "1f", ds, depth, noise, g, primary)
    return rows


# ------------------------------------------------------------------ Figure 2


def _learning_experiments(t: Tables) -> list[str]:
    return list(dict.fromkeys(e for e in (t.context.get("experiment"), t.context.get("figure2_experiment")) if e))


def _is_figure2(t: Tables, experiment: str, dataset: str, depth: int) -> bool:
    cell = t.context.get("figure2_cell")
    return experiment == t.context.get("figure2_experiment") and (not cell or [dataset, int(depth)] == list(cell))


def c5_faster_learning(t: Tables):
    """FA w/ learns faster than FA w/o (AUC of test accuracy, two-sample t), and is close to BP:
    it closes more than ``gap_fraction`` of BP's AUC lead over FA w/o (a Welch contrast, two-sided
    like every directed row, decided by its sign; the effect is the fraction closed, with its 95 %
    interval). C5 is the paper's Figure 2b cell; the same rows at every other dataset and depth of
    the main sweep are C5s, a claim of their own (the paper states the depth sweep with Figure 3)."""
    rows, frac = [], t.setting("gap_fraction")
    s = t.summary[t.summary.experiment.isin(_learning_experiments(t))] if t.context else t.summary
    for (exp, ds, depth), g in s.groupby(["experiment", "dataset", "depth"]):
        auc = {c: g[g.condition == c].auc_test_acc for c in ("bp", "fa_wo", "fa_w")}
        if len(auc["fa_w"]) == 0 or len(auc["fa_wo"]) == 0:
            continue
        fig2 = _is_figure2(t, exp, ds, depth)
        if not fig2 and exp == t.context.get("figure2_experiment") and exp != t.context.get("experiment"):
            continue  # figure2's experiment holds only its cell
        claim, fig = ("C5", "2b") if fig2 else ("C5s", "3")
        r = stats.two_sample_t(auc["fa_w"], auc["fa_wo"])
        rows.append(_row(claim, fig, ds, depth, f"AUC fa_w vs fa_wo [{exp}]", r, GREATER))
        if len(auc["bp"]):
            r = _two_sided(stats.gap_closed(auc["fa_w"], auc["fa_wo"], auc["bp"], frac))
            label = f"AUC gap to BP closed by fa_w (fraction > {frac:g}) [{exp}]"
            rows.append(_row(claim, fig, ds, depth, label, r, GREATER, null=frac))
    return rows


def _two_sided(r: stats.TestResult) -> stats.TestResult:
    """A one-sided result made two-sided (p = 2 min(p, 1 - p)), so that every directed row of a
    Holm family is decided the same way: two-sided p and the effect's sign."""
    p = r.p_value
    if not np.isfinite(r.effect):  # no positive gap to close (BP not ahead of FA w/o): no fraction, no test
        return stats.TestResult(r.test, r.n, np.nan, np.nan, np.nan)
    if not np.isfinite(p):
        return r
    name = r.test.replace("(", "(two-sided ", 1)
    return stats.TestResult(name, r.n, r.statistic, float(min(1.0, 2 * min(p, 1 - p))), r.effect, r.ci_low, r.ci_high)


def _final_data(t: Tables, metric: str) -> pd.DataFrame:
    d = t.metrics[(t.metrics.metric == metric) & (t.metrics.phase == "data")]
    if t.context:
        d = d[d.experiment.isin(_learning_experiments(t))]
    return tidy.at_step(_last_layer(d), "last")


def _final_vs(t: Tables, metric, claim, figure, label):
    rows = []
    for (exp, ds, depth), g in _final_data(t, metric).groupby(["experiment", "dataset", "depth"]):
        w, wo = g[g.condition == "fa_w"].value, g[g.condition == "fa_wo"].value
        if len(w) and len(wo):
            r = stats.two_sample_t(w, wo)
            ok = _below_90(w) if metric == "angle_deg" else True
            rows.append(_row(claim, figure, ds, depth, f"{label} [{exp}]", r, LESS, evidence_ok=ok))
    return rows


def c6_final_angle(t: Tables):
    """The last-layer angle after data training is lower w/ than w/o (two-sample t)."""
    return _final_vs(t, "angle_deg", "C6", "2c", "final last-layer angle fa_w vs fa_wo")


def c7_closer_to_B(t: Tables):
    """C7a: W ends closer to B w/ than w/o (last layer; raw and norm-free distance; two-sample t)."""
    return _final_vs(t, "wb_distance", "C7a", "2e", "final last-layer ||W-B|| fa_w vs fa_wo") + _final_vs(
        t, "wb_distance_norm", "C7a", "2e", "final last-layer ||W/|W| - B/|B||| fa_w vs fa_wo"
    )


def c7_both_move(t: Tables):
    """C7b: both arms move from the untrained state (Figure 2d): each arm's final last-layer
    ||W/|W| - B/|B||| against the untrained value of the same network (paired by seed: all
    conditions share the initial W, so FA w/o's value at step 0 is every arm's untrained value)."""
    d = t.metrics[(t.metrics.metric == "wb_distance_norm") & (t.metrics.phase == "data")]
    if t.context:
        d = d[d.experiment.isin(_learning_experiments(t))]
    d = _last_layer(d)
    rows = []
    for (exp, ds, depth), g in d.groupby(["experiment", "dataset", "depth"]):
        wo = g[g.condition == "fa_wo"]
        untrained = wo[wo.step == 0].set_index("seed").value
        if untrained.empty:
            continue
        for arm in ("fa_w", "fa_wo"):
            final = tidy.at_step(g[g.condition == arm], "last").set_index("seed").value
            if len(final):
                label = f"final last-layer ||W/|W| - B/|B||| {arm} vs untrained [{exp}]"
                rows.append(_row("C7b", "2d", ds, depth, label, _paired(final, untrained), DIFFERS))
    return rows


def c8_order(t: Tables):
    """C8a: data->noise leaves the last layer where data put it; C8b: noise->data does not.

    Compared: the final last-layer angle of FA w/o after data (data only), of the same networks
    after the noise training that follows (data->noise: paired by network, TOST within
    ``angle_margin_deg``, with the paper's two-sample t beside it), and of FA w/ after data
    (noise->data: lower than data only, two-sample t).
    """
    exp = t.context.get("figure2_experiment")
    d = t.metrics[(t.metrics.metric == "angle_deg") & (t.metrics.experiment == exp)] if exp else t.metrics.iloc[:0]
    d = _last_layer(d)
    rows, margin = [], t.setting("angle_margin_deg")
    for (ds, depth), g in d.groupby(["dataset", "depth"]):
        if not _is_figure2(t, exp, ds, depth):
            continue
        data_only = tidy.at_step(g[(g.phase == "data") & (g.condition == "fa_wo")], "last").set_index("seed").value
        data_noise = tidy.at_step(g[g.phase == "noise_after"], "last").set_index("seed").value
        noise_data = tidy.at_step(g[(g.phase == "data") & (g.condition == "fa_w")], "last").value
        if len(data_only) and len(data_noise):
            both = pd.concat([data_noise.rename("a"), data_only.rename("b")], axis=1).dropna()
            r = stats.tost_paired(both.a.to_numpy(), both.b.to_numpy(), margin)
            label = f"angle data->noise within ± {margin:g}° of data only"
            rows.append(_row("C8a", "2g", ds, depth, label, r, EQUIVALENT, margin=margin))
            r = stats.two_sample_t(data_noise, data_only)
            rows.append(_row("C8a", "2g", ds, depth, "angle data->noise vs data only (paper's t)", r, UNDETECTED, primary=False))
        if len(data_only) and len(noise_data):
            r = stats.two_sample_t(noise_data, data_only)
            rows.append(_row("C8b", "2f", ds, depth, "angle noise->data vs data only (C6's test at this cell)", r, LESS,
                             evidence_ok=_below_90(noise_data)))  # fmt: skip
    return rows


# ------------------------------------------------------------------ Figure 4


def _readout(g: pd.DataFrame, metric: str, step) -> pd.DataFrame:
    return g[(g.metric == metric) & (g.step == step)]


def _class_counts(g: pd.DataFrame, step, classes: int) -> np.ndarray:
    pred = _readout(g, "readout_pred_class", step)
    counts = pred.groupby("seed").value.apply(lambda v: np.bincount(v.astype(int), minlength=classes)[:classes])
    return np.stack(counts.to_list()) if len(counts) else np.zeros((0, classes))


def c10_readout_chance(t: Tables):
    """C10a: the untrained readout differs from chance; C10b: the noise-trained readout is at chance.

    Over the networks of the pretraining cell (fresh probes of the noise distribution):
    - the predicted-class counts against uniform (χ² summed over networks): untrained ``differs``;
      noise-trained ``equivalent``: the bias is below Cohen's w ``class_bias_margin`` (a noncentral
      χ² test; the effect column gives w);
    - the mean probability of the readout unit chosen as most favoured on the *other* probes
      (cross-validated: choosing and testing on the same probes is above 1/C by construction):
      untrained above 1/C (one-sample t over networks); noise-trained within 1/C ± readout_margin (TOST);
    - that unit's |probability - 1/C| is smaller after than before (paired over networks).
    The largest probability per probe is >= 1/C for every probe, so it is not tested against 1/C;
    its paired before/after change is shown (not primary). Rows for every set of Figure 1's sweep;
    primary for the used set.
    """
    d = t.details
    if d.empty:
        return []
    used = t.context.get("noise", "")
    sets = list(dict.fromkeys([used] + t.context.get("figure1_sets", [])))
    d = d[(d.phase == "noise") & d.noise.isin(sets) & (d.experiment == "pretrain")]
    rows, margin = [], t.setting("readout_margin")
    for (ds, noise, depth), g in d.groupby(["dataset", "noise", "depth"]):
        classes = g[g.metric == "readout_unit_mean"]["index"].nunique()  # one row per readout unit
        if classes < 2:
            continue
        chance, last, primary = 1.0 / classes, g.step.max(), noise == used or not used

        def add(claim, label, r, kind, prim=primary, noise=noise, ds=ds, depth=depth, margin=np.nan):
            rows.append(_row(claim, "4b", ds, depth, f"{label} ({noise})", r, kind, prim, noise, margin=margin))

        if (g.metric == "readout_pred_class").any():
            add("C10a", "untrained class counts vs uniform", stats.chi2_uniform(_class_counts(g, 0, classes)), DIFFERS)
            w = t.setting("class_bias_margin")
            r = stats.chi2_uniform_equivalence(_class_counts(g, last, classes), w)
            add("C10b", f"noise-trained class counts uniform within w < {w:g}", r, EQUIVALENT, margin=w)
        if (g.metric == "readout_cv_top_unit_prob").any():
            before = _per_network(g[g.metric == "readout_cv_top_unit_prob"], 0)
            after = _per_network(g[g.metric == "readout_cv_top_unit_prob"], last)
            add("C10a", "untrained top-unit prob (chosen on other probes) vs 1/C", stats.one_sample_t(before, chance), GREATER)
            r = stats.tost_one_sample(after, chance, margin)
            add("C10b", f"noise-trained top-unit prob within 1/C ± {margin:g}", r, EQUIVALENT, margin=margin)
            r = _paired((after - chance).abs(), (before - chance).abs())
            add("C10b", "|top-unit prob - 1/C| trained vs untrained", r, LESS)
        mx = g[g.metric == "readout_max_prob"]
        if len(mx):
            add("C10b", "mean max prob trained vs untrained", _paired(_per_network(mx, last), _per_network(mx, 0)), LESS, False)
    return rows


def c11_erank_falls(t: Tables):
    """The effective rank of W (every layer) falls during noise training: paired t, last vs first."""
    rows = []
    for (ds, noise, depth, layer), g in _noise_jobs(t, "erank").groupby(["dataset", "noise", "depth", "layer"]):
        r = _paired(tidy.at_step(g, "last").set_index("seed").value, tidy.at_step(g, "first").set_index("seed").value)
        rows.append(_row("C11", "4d", ds, depth, f"erank W{layer} last vs first noise step ({noise})", r, LESS, noise=noise))
    return rows


def c12_generalisation_gap(t: Tables):
    """Smaller generalisation gap w/ than w/o at every training-set size; two-sample t.

    Primary: the error gap (train - test accuracy), which no logit scale can move. The paper's loss
    gap (test - train cross-entropy) is shown beside it, not primary: FA w/o trained for hundreds of
    epochs on a small set drives its training loss to 0 and its logits to hundreds of nats, and its
    test loss then measures that scale, not generalisation. Each arm's test logit range (median
    over images of max - min logit) is shown too, so a reader sees when that happened."""
    size, sizes = t.context.get("generalisation_size"), t.context.get("generalisation_experiments", {})
    rows = []
    for experiment, n in sizes.items():
        d = t.metrics[(t.metrics.experiment == experiment) & (t.metrics.phase == "data")]
        final = tidy.at_step(d[d.metric.isin(["train_loss", "test_loss", "train_acc", "test_acc", "test_logit_range"])], "last")
        wide = final.pivot_table(index=["dataset", "depth", "condition", "seed"], columns="metric", values="value").reset_index()
        if wide.empty:
            continue
        wide["loss_gap"] = wide.test_loss - wide.train_loss
        wide["error_gap"] = wide.train_acc - wide.test_acc
        for (ds, depth), g in wide.groupby(["dataset", "depth"]):
            for gap, kind in (("error_gap", LESS), ("loss_gap", LESS), ("test_logit_range", DIFFERS)):
                if gap not in g:
                    continue
                w, wo = g[g.condition == "fa_w"][gap], g[g.condition == "fa_wo"][gap]
                if len(w) and len(wo):
                    r = stats.two_sample_t(w, wo)
                    fig = "4e" if n == size else "4f"
                    label = f"{gap} fa_w vs fa_wo, {n} training images"
                    rows.append(_row("C12", fig, ds, depth, label, r, kind, primary=gap == "error_gap"))
    return rows


def c13_gram_dimensionality(t: Tables):
    """Lower effective dimensionality of the last hidden layer's Gram matrix w/ than w/o (two-sample t).

    Primary: the paper's measure (cosine similarity, uncentred), since the verdict judges the claim
    as the paper states it. Beside it the centred measure (``gram_erank_centred``): for ReLU
    features the uncentred one mostly reflects their mean activation, so a claim that holds only
    uncentred is about the mean, not about how the features vary.
    """
    rows = []
    for metric, what, primary in (("gram_erank", "Gram erank", True), ("gram_erank_centred", "centred Gram erank", False)):
        d = t.metrics[(t.metrics.metric == metric) & (t.metrics.phase == "data")]
        if t.context:
            d = d[d.experiment == t.context.get("experiment")]
        d = tidy.at_step(d[d.layer == (d.depth - 1).astype(str)], "last")
        for (ds, depth), g in d.groupby(["dataset", "depth"]):
            w, wo = g[g.condition == "fa_w"].value, g[g.condition == "fa_wo"].value
            if len(w) and len(wo):
                r = stats.two_sample_t(w, wo)
                fig = "4g" if depth == 3 else "4h"
                rows.append(_row("C13", fig, ds, depth, f"{what} of last hidden layer fa_w vs fa_wo", r, LESS, primary))
    return rows


# ------------------------------------------------------------------ Figures 3, 5, 6


def c9_gap_to_bp(t: Tables):
    """FA w/ narrows the gap to BP: accuracy w/ vs w/o (two-sample t); the effect is the gap closed
    (acc w/ - acc w/o). Every dataset and depth of the main sweep (Fig. 3, all networks: primary),
    and Table 1's depth with its first `trials` networks (shown).

    The accuracy is the late-window one (``late_test_acc``: the mean over a fixed window of epochs
    that every arm trains through) where the summary has it: the plateau rule's converged accuracy
    stops early on slow, noisy curves and so favours the fast learner, re-measuring C5. The
    plateau value is shown beside it."""
    s = t.summary
    if "converged_test_acc" not in s or s.empty:
        return []
    late = "late_test_acc" in s and s.late_test_acc.notna().any()
    col, what = ("late_test_acc", "late-window acc") if late else ("converged_test_acc", "converged acc")
    s = s[s.experiment == t.context.get("experiment", s.experiment.iloc[0])]
    rows = []
    table1 = t.context.get("table1", {})
    for (ds, depth), g in s.groupby(["dataset", "depth"]):
        acc = {c: g[g.condition == c][col] for c in ("bp", "fa_wo", "fa_w")}
        if not len(acc["fa_w"]) or not len(acc["fa_wo"]):
            continue
        r = stats.two_sample_t(acc["fa_w"], acc["fa_wo"])
        rows.append(_row("C9", "3", ds, depth, f"{what} fa_w vs fa_wo", r, GREATER))
        if late:
            w, wo = (g[g.condition == c].converged_test_acc for c in ("fa_w", "fa_wo"))
            rows.append(_row("C9", "3", ds, depth, "converged acc (plateau rule) fa_w vs fa_wo", stats.two_sample_t(w, wo),
                             GREATER, primary=False))  # fmt: skip
        if table1 and depth == table1.get("depth"):
            first = sorted(g.seed.unique())[: table1.get("trials", 3)]
            h = g[g.seed.isin(first)]
            r = stats.two_sample_t(h[h.condition == "fa_w"][col], h[h.condition == "fa_wo"][col])
            label = f"{what} fa_w vs fa_wo, {len(first)} trials"
            rows.append(_row("C9", "Tab.1", ds, depth, label, r, GREATER, primary=False))
    return rows


def _ood_accuracy(t: Tables) -> pd.DataFrame:
    d = t.ood
    return d[d.metric == "acc"] if not d.empty else d


def c14_transformed(t: Tables):
    """Higher accuracy w/ than w/o on translated / rotated / scaled test images (mean over the
    non-identity magnitudes per network; two-sample t)."""
    from ..data.transforms import TRANSFORMS

    d = _ood_accuracy(t)
    rows = []
    for name, tf in TRANSFORMS.items():
        part = d[(d.test_set == name) & (d.magnitude != tf.identity)] if not d.empty else d
        per_net = part.groupby(["dataset", "depth", "condition", "seed"]).value.mean().reset_index()
        for (ds, depth), g in per_net.groupby(["dataset", "depth"]):
            w, wo = g[g.condition == "fa_w"].value, g[g.condition == "fa_wo"].value
            if len(w) and len(wo):
                r = stats.two_sample_t(w, wo)
                mags = [float(m) for m in sorted(part.magnitude.unique())]
                rows.append(_row("C14", "5b", ds, depth, f"{name} acc fa_w vs fa_wo (magnitudes {mags})", r, GREATER))
    return rows


def c15_other_dataset(t: Tables):
    """Higher accuracy w/ than w/o on another dataset of the same shape (USPS; digits offline)."""
    from ..data.transforms import TRANSFORMS

    d = _ood_accuracy(t)
    d = d[~d.test_set.isin(list(TRANSFORMS))] if not d.empty else d
    rows = []
    for (ds, depth, test_set), g in d.groupby(["dataset", "depth", "test_set"]):
        w, wo = g[g.condition == "fa_w"].value, g[g.condition == "fa_wo"].value
        if len(w) and len(wo):
            r = stats.two_sample_t(w, wo)
            rows.append(_row("C15", "5c", ds, depth, f"{test_set} acc fa_w vs fa_wo (trained on {ds})", r, GREATER))
    return rows


def c16_meta_loss(t: Tables):
    """The meta-loss falls during noise training, and every task's post-adaptation loss is lower from
    the noise-trained snapshot than from the untrained one (the same networks: paired t). The claim
    as the paper states it compares the end of noise training with its start (primary); where the
    curve has its minimum, the minimum against the start and the end against the minimum are shown
    (a meta-loss that falls and rises again holds the claim only if its end is still below its start)."""
    d = tidy.noise_snapshots(t.meta)
    if d.empty:
        return []
    d = d[d.metric == "loss"]
    rows, used = [], t.context.get("noise")
    for (ds, noise, depth), g in d.groupby(["dataset", "noise", "depth"]):
        primary = not used or noise == used  # another set's rows (fa_fresh's twins: the mechanism's) are shown
        first, last = g.step.min(), g.step.max()
        k = g[g.task == "meta"].adapt_step.max()

        def at(task, step, g=g, k=k):
            return g[(g.task == task) & (g.adapt_step == k) & (g.step == step)].set_index("seed").value

        for task in ["meta"] + sorted(set(g.task) - {"meta"}):
            a, b = at(task, last), at(task, first)
            if len(a) and len(a) == len(b):
                what = "meta-loss (sum over tasks)" if task == "meta" else f"{task} loss"
                label = f"{what} after {k} steps, noise step {last} vs {first} ({noise})"
                rows.append(_row("C16", "6", ds, depth, label, _paired(a, b), LESS, primary, noise=noise))
        curve = g[(g.task == "meta") & (g.adapt_step == k)].groupby("step").value.mean()
        if len(curve) > 2:
            low = int(curve.idxmin())
            if low not in (first, last):
                label = f"meta-loss at its minimum (noise step {low}, mean {curve[low]:.3f}) vs start ({noise})"
                rows.append(_row("C16", "6", ds, depth, label, _paired(at("meta", low), at("meta", first)), LESS, False, noise))
                label = f"meta-loss at the end (mean {curve[last]:.3f}) vs its minimum at step {low} ({noise})"
                rows.append(_row("C16", "6", ds, depth, label, _paired(at("meta", last), at("meta", low)), GREATER, False, noise))
    return rows


# ------------------------------------------------------------------ beyond the paper


def b_rules(t: Tables):
    """Noise-pretrained FA against every other rule of the `rules` experiment (two-sample t over
    networks): B1 learning speed (AUC, higher is better), B2 converged accuracy (higher), B3 test
    ECE at the end (lower). `holds` means FA w/ is better with p_holm < alpha. DFA at depth 2 is FA
    w/o by construction (its only D is the last layer's B), so it is left out there: that
    comparison is C5's."""
    exp = t.context.get("rules_experiment")
    if not exp:
        return []
    s = t.summary[t.summary.experiment == exp]
    ece = t.metrics[(t.metrics.experiment == exp) & (t.metrics.metric == "test_ece")]
    ece = tidy.at_step(ece, "last").rename(columns={"value": "test_ece"})[["dataset", "depth", "condition", "seed", "test_ece"]]
    s = s.merge(ece, on=["dataset", "depth", "condition", "seed"], how="left") if not s.empty else s
    rows = []
    for (ds, depth), g in s.groupby(["dataset", "depth"]):
        w = g[g.condition == "fa_w"]
        if w.empty:
            continue
        others = [c for c in g.condition.unique()
                  if c in CONDITIONS and not CONDITIONS[c].paper and not CONDITIONS[c].same_as_fa(depth)]  # fmt: skip
        for other in others:
            o = g[g.condition == other]
            for claim, col, kind, what in (
                ("B1", "auc_test_acc", GREATER, "AUC"),
                ("B2", "converged_test_acc", GREATER, "converged acc"),
                ("B3", "test_ece", LESS, "test ECE"),
            ):
                if col in g and w[col].notna().any() and o[col].notna().any():
                    r = stats.two_sample_t(w[col], o[col])
                    rows.append(_row(claim, "rules", ds, depth, f"{what} fa_w vs {other}", r, kind))
    return rows


CLAIMS: dict[str, Callable] = {
    "C1": c1_untrained_at_90,
    "C2": c2_noise_aligns,
    "C3": c3_noise_loss_falls,
    "C4": c4_conditions_align,
    "C5": c5_faster_learning,
    "C6": c6_final_angle,
    "C7a": c7_closer_to_B,
    "C7b": c7_both_move,
    "C8": c8_order,
    "C9": c9_gap_to_bp,
    "C10": c10_readout_chance,
    "C11": c11_erank_falls,
    "C12": c12_generalisation_gap,
    "C13": c13_gram_dimensionality,
    "C14": c14_transformed,
    "C15": c15_other_dataset,
    "C16": c16_meta_loss,
    "B": b_rules,
}


def _decide(rows: pd.DataFrame, t: Tables) -> pd.DataFrame:
    """Holm within each claim (difference and equivalence tests apart), then ``holds`` by kind."""
    if rows.empty:
        return rows.assign(p_holm=pd.Series(dtype=float), holds=pd.Series(dtype=bool), direction=pd.Series(dtype=str),
                           rule=pd.Series(dtype=str))  # fmt: skip
    alpha, eq_alpha, ns = t.setting("alpha"), t.setting("equivalence_alpha"), t.setting("not_significant")
    rows = rows.copy()
    rows["p_holm"] = rows.p_value.astype(float)
    unknown = set(rows._kind) - KINDS
    if unknown:
        raise ValueError(f"claims rows with unknown rule {sorted(unknown)}; known: {sorted(KINDS)}")
    # Families: within a claim, its primary rows apart from the rows only shown beside them (what is
    # displayed must not change a verdict), and difference tests apart from equivalence tests.
    family = np.where(rows._kind == EQUIVALENT, "equivalence", np.where(rows._kind == UNDETECTED, "none", "difference"))
    for (_claim, _primary, fam), idx in rows.groupby([rows.claim, rows.primary, family]).groups.items():
        if fam != "none":
            rows.loc[idx, "p_holm"] = stats.holm(rows.loc[idx, "p_value"].to_numpy())
    rows["direction"] = direction(rows, alpha, eq_alpha, ns)
    rows["holds"] = (rows.direction == SUPPORTS).astype(bool)
    rows["rule"] = rows._kind
    return rows


def direction(rows: pd.DataFrame, alpha: float, eq_alpha: float, ns: float) -> np.ndarray:
    """Each row's ``direction``: ``supports`` (the claim's test succeeds: ``holds``), ``contradicts``
    (significant the other way) or ``n.s.`` (neither). By kind:

    - less / greater: the effect's sign against the row's null value (0, or the gap fraction) and
      ``p_holm < alpha``: the claimed sign supports, the opposite one contradicts. An angle row whose
      arm claimed aligned is not below 90° never supports (it may still contradict);
    - one_sided / differs: ``p_holm < alpha`` supports; nothing contradicts an "any difference";
    - equivalent: ``p_holm < equivalence_alpha`` supports; the interval of the test (90 %) lying
      entirely outside the margin contradicts (significantly different by more than the margin,
      at the level the equivalence is tested);
    - undetected: raw ``p >= not_significant`` supports; ``p < alpha`` contradicts.
    """
    kind = rows._kind.to_numpy()
    p, raw = rows.p_holm.to_numpy(float), rows.p_value.to_numpy(float)
    e = rows.effect.to_numpy(float) - rows._null.to_numpy(float)
    lo, hi, margin = (rows[c].to_numpy(float) for c in ("ci_low", "ci_high", "_margin"))
    ok = rows._evidence_ok.to_numpy(bool)
    with np.errstate(invalid="ignore"):
        sig = p < alpha
        signed = np.where(kind == LESS, -e, e)  # > 0: the claimed direction
        supports = np.select(
            [np.isin(kind, [LESS, GREATER]), np.isin(kind, [ONE_SIDED, DIFFERS]), kind == EQUIVALENT],
            [sig & (signed > 0) & ok, sig, p < eq_alpha],
            default=raw >= ns,
        )
        contradicts = np.select(
            [np.isin(kind, [LESS, GREATER]), kind == EQUIVALENT, kind == UNDETECTED],
            [sig & (signed < 0), (lo > margin) | (hi < -margin), raw < alpha],
            default=False,
        )
    return np.where(supports, SUPPORTS, np.where(contradicts, CONTRADICTS, NOT_SIGNIFICANT))


def protocol_label(spec: dict | None) -> str:
    """A noise set's protocol in words: 'fresh' or 'fixed 10k'."""
    if not spec:
        return ""
    if spec.get("protocol") != "fixed":
        return str(spec.get("protocol", ""))
    n = int(spec.get("n_samples", 0))
    return f"fixed {n // 1000}k" if n >= 1000 and n % 1000 == 0 else f"fixed {n}"


def claims_table(tables: Tables) -> pd.DataFrame:
    """Every claim's rows; networks that diverged are excluded first (and counted in the report)."""
    metrics = tables.metrics if not tables.metrics.empty else pd.DataFrame(columns=tidy.COLUMNS)
    metrics, _ = exclude_diverged(metrics)
    summary = tables.summary if not tables.summary.empty else tidy.summary_frame(pd.DataFrame(columns=tidy.SUMMARY_COLUMNS))
    bad = summary[summary.diverged | summary.blown_up.astype(bool)] if "blown_up" in summary else summary[summary.diverged]
    summary, _ = exclude_diverged(summary)
    pretrain = tables.pretrain if not tables.pretrain.empty else pd.DataFrame(columns=tidy.COLUMNS)
    details = tables.details if not tables.details.empty else pd.DataFrame(columns=tidy.DETAIL_COLUMNS)
    # a network that diverged or blew up in pretraining (or training) reaches no readout or meta row:
    # a NaN network predicts class 0 on every probe, and one such network decides C10b alone
    details = exclude_diverged(details, flags=tables.metrics, keys=tidy.NETWORK_KEYS)[0] if not tables.metrics.empty else details
    details = exclude_diverged(details, flags=pretrain, keys=tidy.PRETRAIN_KEYS)[0]
    ood = tables.ood if not tables.ood.empty else pd.DataFrame(columns=tidy.OOD_COLUMNS)
    if not bad.empty and not ood.empty:  # a network that diverged in training has no OOD accuracy either
        hit = ood[tidy.NETWORK_KEYS].merge(bad[tidy.NETWORK_KEYS].assign(_bad=True), on=tidy.NETWORK_KEYS, how="left")
        ood = ood[~hit["_bad"].notna().to_numpy()]
    meta = tables.meta if not tables.meta.empty else pd.DataFrame(columns=tidy.META_COLUMNS)
    meta = exclude_diverged(meta, flags=pretrain, keys=tidy.PRETRAIN_KEYS)[0]
    t = Tables(metrics, summary, _drop_diverged_pretraining(pretrain), details, ood, meta, tables.context)
    rows = pd.DataFrame([r for fn in CLAIMS.values() for r in fn(t)], columns=[*COLUMNS[:12], *PRIVATE, "primary", "noise_set"])
    if _networks_per_cell(t) < 2:  # n_seeds: 1: no spread, no test; pooled probes of one network test nothing general
        rows[["statistic", "p_value", "ci_low", "ci_high"]] = np.nan
    rows = _decide(rows, t)
    used = t.context.get("noise", "")
    rows["noise_set"] = rows.noise_set.where(rows.noise_set.notna(), used).astype(object)
    specs = t.context.get("noise_specs", {})
    rows["protocol"] = [protocol_label(specs.get(n)) for n in rows.noise_set]
    bn, by_depth = t.context.get("batchnorm"), t.context.get("batchnorm_by_depth", {})
    rows["batchnorm"] = [by_depth.get(str(d), bn) for d in rows.depth] if len(rows) else []
    rows["batchnorm"] = rows.batchnorm.astype(object).where(rows.batchnorm.notna(), pd.NA)
    return rows[COLUMNS].reset_index(drop=True)


def _networks_per_cell(t: Tables) -> int:
    """The most networks any cell holds (data training, else noise pretraining); a large number when
    neither table has any (the claims then have no rows anyway)."""
    for table, keys in (
        (t.summary, ["experiment", "dataset", "depth", "condition"]),
        (t.pretrain, ["noise", "dataset", "depth"]),
    ):
        if not table.empty and set(keys + ["seed"]) <= set(table.columns):
            return int(table.groupby(keys).seed.nunique().max())
    return 1 << 30


def left_out(tables: Tables) -> str:
    """One sentence for the verdict: how many networks every test left out, and why."""
    parts = []
    for what, table, keys in (
        ("data training", tables.summary, None),
        ("noise pretraining", tables.pretrain, tidy.PRETRAIN_KEYS),
    ):
        if table.empty:
            continue
        n = exclude_diverged(table)[1] if keys is None else exclude_diverged(table, keys=keys)[1]
        if n:
            parts.append(f"{n.diverged} that diverged and {n.blown_up} that blew up in {what}")
    return f"Networks left out of every test: {'; '.join(parts)}." if parts else ""


def _drop_diverged_pretraining(d: pd.DataFrame) -> pd.DataFrame:
    return exclude_diverged(d, keys=tidy.PRETRAIN_KEYS)[0]
