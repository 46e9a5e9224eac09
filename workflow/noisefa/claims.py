"""The paper's claims, each computed from the tidy tables with the test the paper used.

A claim is one function in ``CLAIMS`` that returns rows of the claims table:
``claim, figure, dataset, depth, comparison, test, n, statistic, p_value, effect, holds``.
``holds`` is computed from the statistic by the rule written next to each claim, never
typed in. Where the paper tests single neurons or probes (n = 100 neurons, 1000 probes),
the test uses the first network (lowest seed) of the cell, as a single-network panel does;
tests over networks use every network of the cell.

Pretraining rows name their input shape as the dataset (``noise:in784_c10``) and the
noise set in the comparison.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from . import stats, tidy
from .summary import exclude_diverged

COLUMNS = ["claim", "figure", "dataset", "depth", "comparison", "test", "n", "statistic", "p_value", "effect", "holds"]
ALPHA = 0.001  # the paper reports its comparisons at p < 0.001
NOT_SIGNIFICANT = 0.05  # a "no difference" claim holds when p >= this


@dataclass
class Tables:
    metrics: pd.DataFrame  # data training (+ noise history, + order control)
    summary: pd.DataFrame  # one row per data-trained network
    pretrain: pd.DataFrame = field(default_factory=pd.DataFrame)  # every pretraining job once
    details: pd.DataFrame = field(default_factory=pd.DataFrame)  # neurons, probes, spectra
    ood: pd.DataFrame = field(default_factory=pd.DataFrame)  # Figure 5
    meta: pd.DataFrame = field(default_factory=pd.DataFrame)  # Figure 6
    context: dict = field(default_factory=dict)  # which experiment/noise set/figure cells to test


def _row(claim, figure, dataset, depth, comparison, result: stats.TestResult, holds: bool) -> dict:
    return {
        "claim": claim,
        "figure": figure,
        "dataset": dataset,
        "depth": int(depth),
        "comparison": comparison,
        **result.as_dict(),
        "holds": bool(holds),
    }


def _significant(r: stats.TestResult, sign: int) -> bool:
    return r.effect * sign > 0 and r.p_value < ALPHA


def _last_layer(d: pd.DataFrame) -> pd.DataFrame:
    return d if d.empty else d[d.layer == d.depth.astype(str)]


def _at(d: pd.DataFrame, which: str, keys=("experiment", "dataset", "depth", "condition", "seed")) -> pd.DataFrame:
    """Rows at each network's first or last logged step."""
    step = d.groupby(list(keys)).step.transform("min" if which == "first" else "max")
    return d[d.step == step]


def _noise_jobs(t: Tables, metric: str, sets=None) -> pd.DataFrame:
    """Rows of pretraining jobs (one per shape, noise set, depth) of the used set or of ``sets``."""
    d = t.pretrain
    if d.empty:
        return d
    sets = sets or [t.context.get("noise", "")]
    return d[(d.metric == metric) & (d.phase == "noise") & d.noise.isin(sets)]


def _first_network(d: pd.DataFrame) -> pd.DataFrame:
    return d[d.seed == d.seed.min()]


# ------------------------------------------------------------------ Figure 1


def _neuron_angles(t: Tables, sets=None) -> pd.DataFrame:
    d = t.details
    if d.empty:
        return d
    sets = sets or [t.context.get("noise", "")]
    d = d[(d.metric == "neuron_angle_deg") & (d.phase == "noise") & d.noise.isin(sets)]
    return _last_layer(d)


def c1_untrained_at_90(t: Tables):
    """Untrained last-layer angles scatter around 90 deg: one-sample t over the neurons, n.s."""
    rows = []
    for (ds, noise, depth), g in _neuron_angles(t).groupby(["dataset", "noise", "depth"]):
        first = _first_network(g[g.step == 0])
        r = stats.one_sample_t(first.value, 90.0)
        rows.append(_row("C1", "1e", ds, depth, f"untrained neuron angles vs 90 ({noise})", r, r.p_value >= NOT_SIGNIFICANT))
    return rows


def _trained_vs_untrained(g: pd.DataFrame) -> stats.TestResult:
    g = _first_network(g)
    return stats.two_sample_t(g[g.step == g.step.max()].value, g[g.step == 0].value)


def c2_noise_aligns(t: Tables):
    """After noise training the last-layer angle is below the untrained one (two-sample t, n = neurons)
    and below 90 deg in every network (one-sample t over networks)."""
    rows = []
    for (ds, noise, depth), g in _neuron_angles(t).groupby(["dataset", "noise", "depth"]):
        r = _trained_vs_untrained(g)
        rows.append(_row("C2", "1e", ds, depth, f"neuron angles trained vs untrained ({noise})", r, _significant(r, -1)))
    d = _last_layer(_noise_jobs(t, "angle_deg"))
    for (ds, noise, depth), g in d.groupby(["dataset", "noise", "depth"]):
        r = stats.one_sample_t(_at(g, "last").value, 90.0)
        rows.append(_row("C2", "1e", ds, depth, f"pretrained angle vs 90, networks ({noise})", r, _significant(r, -1)))
    return rows


def c3_noise_loss_falls(t: Tables):
    """Cross-entropy falls during noise training: paired t of last vs first logged batch loss."""
    rows = []
    for (ds, noise, depth), g in _noise_jobs(t, "batch_loss").groupby(["dataset", "noise", "depth"]):
        first, last = _at(g, "first").sort_values("seed"), _at(g, "last").sort_values("seed")
        r = stats.paired_t(last.value.to_numpy(), first.value.to_numpy())
        rows.append(_row("C3", "1d", ds, depth, f"noise CE last vs first ({noise})", r, r.effect < 0 and r.p_value < 0.05))
    return rows


def c4_conditions_align(t: Tables):
    """Alignment appears under every random-input condition of Figure 1 (neurons, trained vs untrained)."""
    sets = t.context.get("figure1_sets", [])
    rows = []
    if not sets:
        return rows
    d = _neuron_angles(t, sets)
    if not d.empty and "figure1_depth" in t.context:
        d = d[(d.depth == t.context["figure1_depth"]) & (d.dataset == t.context.get("figure1_shape", d.dataset))]
    for (ds, noise, depth), g in d.groupby(["dataset", "noise", "depth"]):
        r = _trained_vs_untrained(g)
        rows.append(_row("C4", "1f", ds, depth, f"neuron angles trained vs untrained ({noise})", r, _significant(r, -1)))
    return rows


# ------------------------------------------------------------------ Figure 2


def _learning_experiments(t: Tables) -> list[str]:
    return list(dict.fromkeys(e for e in (t.context.get("experiment"), t.context.get("figure2_experiment")) if e))


def _is_figure2(t: Tables, experiment: str, dataset: str, depth: int) -> bool:
    cell = t.context.get("figure2_cell")
    return experiment == t.context.get("figure2_experiment") and (not cell or [dataset, int(depth)] == list(cell))


def c5_faster_learning(t: Tables):
    """FA w/ learns faster than FA w/o (AUC of test accuracy, two-sample t), narrowing the gap to BP."""
    rows = []
    s = t.summary[t.summary.experiment.isin(_learning_experiments(t))] if t.context else t.summary
    for (exp, ds, depth), g in s.groupby(["experiment", "dataset", "depth"]):
        auc = {c: g[g.condition == c].auc_test_acc for c in ("bp", "fa_wo", "fa_w")}
        if any(len(v) == 0 for v in auc.values()):
            continue
        fig = "2b" if _is_figure2(t, exp, ds, depth) else "3"
        r = stats.two_sample_t(auc["fa_w"], auc["fa_wo"])
        rows.append(_row("C5", fig, ds, depth, f"AUC fa_w vs fa_wo [{exp}]", r, _significant(r, +1)))
        r_bp = stats.two_sample_t(auc["fa_w"], auc["bp"])
        gap_wo = auc["bp"].mean() - auc["fa_wo"].mean()
        label = f"AUC fa_w vs bp (holds: gap to BP smaller than fa_wo's) [{exp}]"
        rows.append(_row("C5", fig, ds, depth, label, r_bp, abs(r_bp.effect) < abs(gap_wo)))
    return rows


def _final_data(t: Tables, metric: str) -> pd.DataFrame:
    d = t.metrics[(t.metrics.metric == metric) & (t.metrics.phase == "data")]
    if t.context:
        d = d[d.experiment.isin(_learning_experiments(t))]
    return _at(_last_layer(d), "last")


def _final_vs(t: Tables, metric, claim, figure, label):
    rows = []
    for (exp, ds, depth), g in _final_data(t, metric).groupby(["experiment", "dataset", "depth"]):
        w, wo = g[g.condition == "fa_w"].value, g[g.condition == "fa_wo"].value
        if len(w) and len(wo):
            r = stats.two_sample_t(w, wo)
            rows.append(_row(claim, figure, ds, depth, f"{label} [{exp}]", r, _significant(r, -1)))
    return rows


def c6_final_angle(t: Tables):
    """The last-layer angle after data training is lower w/ than w/o (two-sample t)."""
    return _final_vs(t, "angle_deg", "C6", "2c", "final last-layer angle fa_w vs fa_wo")


def c7_closer_to_B(t: Tables):
    """W ends closer to B w/ than w/o (last layer; raw and norm-free distance; two-sample t)."""
    return _final_vs(t, "wb_distance", "C7", "2e", "final last-layer ||W-B|| fa_w vs fa_wo") + _final_vs(
        t, "wb_distance_norm", "C7", "2e", "final last-layer ||W/|W| - B/|B||| fa_w vs fa_wo"
    )


def c8_order(t: Tables):
    """Data->noise leaves the last layer where data put it (n.s.); noise->data does not (p < 0.001).

    Compared: the final last-layer angle of FA w/o after data (data only), of the same networks
    after noise training that follows (data->noise), and of FA w/ after data (noise->data).
    """
    exp = t.context.get("figure2_experiment")
    d = t.metrics[(t.metrics.metric == "angle_deg") & (t.metrics.experiment == exp)] if exp else t.metrics.iloc[:0]
    d = _last_layer(d)
    rows = []
    for (ds, depth), g in d.groupby(["dataset", "depth"]):
        if not _is_figure2(t, exp, ds, depth):
            continue
        data_only = _at(g[(g.phase == "data") & (g.condition == "fa_wo")], "last").value
        data_noise = _at(g[g.phase == "noise_after"], "last").value
        noise_data = _at(g[(g.phase == "data") & (g.condition == "fa_w")], "last").value
        if len(data_only) and len(data_noise):
            r = stats.two_sample_t(data_noise, data_only)
            rows.append(_row("C8", "2g", ds, depth, "angle data->noise vs data only", r, r.p_value >= NOT_SIGNIFICANT))
        if len(data_only) and len(noise_data):
            r = stats.two_sample_t(noise_data, data_only)
            rows.append(_row("C8", "2f", ds, depth, "angle noise->data vs data only", r, r.p_value < ALPHA))
    return rows


# ------------------------------------------------------------------ Figure 4


def c10_readout_chance(t: Tables):
    """Untrained readout differs from chance, noise-trained readout is at chance (Wilcoxon, n = probes).

    Two readings (PAPER.md): each probe's largest probability, and the probability of the
    network's most favoured unit. Plus: trained is closer to chance than untrained (paired).
    For the used noise set and every set of Figure 1's sweep: the protocol decides it.
    """
    d = t.details
    if d.empty:
        return []
    sets = list(dict.fromkeys([t.context.get("noise", "")] + t.context.get("figure1_sets", [])))
    d = d[(d.phase == "noise") & d.noise.isin(sets) & (d.experiment == "pretrain")]
    rows = []
    for (ds, noise, depth), g in d.groupby(["dataset", "noise", "depth"]):
        g = _first_network(g)
        classes = g[g.metric == "readout_unit_mean"]["index"].nunique()  # one row per readout unit
        if classes < 2:
            continue
        chance = 1.0 / classes
        last = g.step.max()
        for metric, reading in (("readout_max_prob", "max prob"), ("readout_top_unit_prob", "top-unit prob")):
            before = g[(g.metric == metric) & (g.step == 0)].sort_values("index").value.to_numpy()
            after = g[(g.metric == metric) & (g.step == last)].sort_values("index").value.to_numpy()
            r = stats.wilcoxon_vs(before, chance)
            rows.append(_row("C10", "4b", ds, depth, f"untrained {reading} vs chance ({noise})", r, r.p_value < ALPHA))
            r = stats.wilcoxon_vs(after, chance)
            label = f"noise-trained {reading} vs chance ({noise})"
            rows.append(_row("C10", "4b", ds, depth, label, r, r.p_value >= NOT_SIGNIFICANT))
            r = stats.wilcoxon_paired(abs(after - chance), abs(before - chance))
            label = f"|{reading} - chance| trained vs untrained ({noise})"
            rows.append(_row("C10", "4b", ds, depth, label, r, _significant(r, -1)))
    return rows


def c11_erank_falls(t: Tables):
    """The effective rank of W (every layer) falls during noise training: paired t, last vs first."""
    rows = []
    for (ds, noise, depth, layer), g in _noise_jobs(t, "erank").groupby(["dataset", "noise", "depth", "layer"]):
        first, last = _at(g, "first").sort_values("seed"), _at(g, "last").sort_values("seed")
        r = stats.paired_t(last.value.to_numpy(), first.value.to_numpy())
        label = f"erank W{layer} last vs first noise step ({noise})"
        rows.append(_row("C11", "4d", ds, depth, label, r, _significant(r, -1)))
    return rows


def c12_generalisation_gap(t: Tables):
    """Smaller generalisation gap w/ than w/o: test - train loss (and train - test accuracy), two-sample t."""
    size, sizes = t.context.get("generalisation_size"), t.context.get("generalisation_sizes", [])
    rows = []
    for n in sizes:
        d = t.metrics[(t.metrics.experiment == f"size{n}") & (t.metrics.phase == "data")]
        final = _at(d[d.metric.isin(["train_loss", "test_loss", "train_acc", "test_acc"])], "last")
        wide = final.pivot_table(index=["dataset", "depth", "condition", "seed"], columns="metric", values="value").reset_index()
        if wide.empty:
            continue
        wide["loss_gap"] = wide.test_loss - wide.train_loss
        wide["error_gap"] = wide.train_acc - wide.test_acc
        for (ds, depth), g in wide.groupby(["dataset", "depth"]):
            for gap in ("loss_gap", "error_gap"):
                w, wo = g[g.condition == "fa_w"][gap], g[g.condition == "fa_wo"][gap]
                if len(w) and len(wo):
                    r = stats.two_sample_t(w, wo)
                    fig = "4e" if n == size else "4f"
                    rows.append(_row("C12", fig, ds, depth, f"{gap} fa_w vs fa_wo, {n} training images", r, _significant(r, -1)))
    return rows


def c13_gram_dimensionality(t: Tables):
    """Lower effective dimensionality of the last hidden layer's Gram matrix w/ than w/o (two-sample t)."""
    d = t.metrics[(t.metrics.metric == "gram_erank") & (t.metrics.phase == "data")]
    if t.context:
        d = d[d.experiment == t.context.get("experiment")]
    d = _at(d[d.layer == (d.depth - 1).astype(str)], "last")
    rows = []
    for (ds, depth), g in d.groupby(["dataset", "depth"]):
        w, wo = g[g.condition == "fa_w"].value, g[g.condition == "fa_wo"].value
        if len(w) and len(wo):
            r = stats.two_sample_t(w, wo)
            fig = "4g" if depth == 3 else "4h"
            rows.append(_row("C13", fig, ds, depth, "Gram erank of last hidden layer fa_w vs fa_wo", r, _significant(r, -1)))
    return rows


# ------------------------------------------------------------------ Figures 3, 5, 6


def c9_gap_to_bp(t: Tables):
    """FA w/ narrows the gap to BP: converged accuracy w/ vs w/o (two-sample t); the effect is the
    gap closed (acc w/ - acc w/o). Every dataset and depth of the main sweep (Fig. 3, all networks),
    and Table 1's depth with its first `trials` networks."""
    s = t.summary
    if "converged_test_acc" not in s or s.empty:
        return []
    s = s[s.experiment == t.context.get("experiment", s.experiment.iloc[0])]
    rows = []
    table1 = t.context.get("table1", {})
    for (ds, depth), g in s.groupby(["dataset", "depth"]):
        acc = {c: g[g.condition == c].converged_test_acc for c in ("bp", "fa_wo", "fa_w")}
        if not len(acc["fa_w"]) or not len(acc["fa_wo"]):
            continue
        gap = f"(BP gap w/o {acc['bp'].mean() - acc['fa_wo'].mean():+.4f})" if len(acc["bp"]) else ""
        r = stats.two_sample_t(acc["fa_w"], acc["fa_wo"])
        rows.append(_row("C9", "3", ds, depth, f"converged acc fa_w vs fa_wo {gap}", r, _significant(r, +1)))
        if table1 and depth == table1.get("depth"):
            first = sorted(g.seed.unique())[: table1.get("trials", 3)]
            h = g[g.seed.isin(first)]
            r = stats.two_sample_t(h[h.condition == "fa_w"].converged_test_acc, h[h.condition == "fa_wo"].converged_test_acc)
            label = f"converged acc fa_w vs fa_wo, {len(first)} trials"
            rows.append(_row("C9", "Tab.1", ds, depth, label, r, _significant(r, +1)))
    return rows


def _ood_accuracy(t: Tables) -> pd.DataFrame:
    d = t.ood
    return d[d.metric == "acc"] if not d.empty else d


def c14_transformed(t: Tables):
    """Higher accuracy w/ than w/o on translated / rotated / scaled test images (mean over the
    non-identity magnitudes per network; two-sample t)."""
    from .ood import TRANSFORMS

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
                rows.append(_row("C14", "5b", ds, depth, f"{name} acc fa_w vs fa_wo (magnitudes {mags})", r, _significant(r, +1)))
    return rows


def c15_other_dataset(t: Tables):
    """Higher accuracy w/ than w/o on another dataset of the same shape (USPS; digits offline)."""
    from .ood import TRANSFORMS

    d = _ood_accuracy(t)
    d = d[~d.test_set.isin(list(TRANSFORMS))] if not d.empty else d
    rows = []
    for (ds, depth, test_set), g in d.groupby(["dataset", "depth", "test_set"]):
        w, wo = g[g.condition == "fa_w"].value, g[g.condition == "fa_wo"].value
        if len(w) and len(wo):
            r = stats.two_sample_t(w, wo)
            rows.append(_row("C15", "5c", ds, depth, f"{test_set} acc fa_w vs fa_wo (trained on {ds})", r, _significant(r, +1)))
    return rows


def c16_meta_loss(t: Tables):
    """The meta-loss falls during noise training, and every task's post-adaptation loss is lower from
    the noise-trained snapshot than from the untrained one (the same networks: paired t)."""
    d = t.meta
    if d.empty:
        return []
    d = d[d.metric == "loss"]
    rows = []
    for (ds, noise, depth), g in d.groupby(["dataset", "noise", "depth"]):
        first, last = g.step.min(), g.step.max()
        k = g[g.task == "meta"].adapt_step.max()
        for task in ["meta"] + sorted(set(g.task) - {"meta"}):
            at = g[(g.task == task) & (g.adapt_step == k)]
            a = at[at.step == last].sort_values("seed").value.to_numpy()
            b = at[at.step == first].sort_values("seed").value.to_numpy()
            if len(a) and len(a) == len(b):
                r = stats.paired_t(a, b)
                what = "meta-loss (sum over tasks)" if task == "meta" else f"{task} loss"
                label = f"{what} after {k} steps, noise step {last} vs {first} ({noise})"
                rows.append(_row("C16", "6", ds, depth, label, r, _significant(r, -1)))
    return rows


# ------------------------------------------------------------------ beyond the paper


def b_rules(t: Tables):
    """Noise-pretrained FA against every other rule of the `rules` experiment (two-sample t over
    networks): B1 learning speed (AUC, higher is better), B2 converged accuracy (higher), B3 test
    ECE at the end (lower). `holds` means FA w/ is better with p < 0.001."""
    exp = t.context.get("rules_experiment")
    if not exp:
        return []
    s = t.summary[t.summary.experiment == exp]
    ece = t.metrics[(t.metrics.experiment == exp) & (t.metrics.metric == "test_ece")]
    ece = _at(ece, "last").rename(columns={"value": "test_ece"})[["dataset", "depth", "condition", "seed", "test_ece"]]
    s = s.merge(ece, on=["dataset", "depth", "condition", "seed"], how="left") if not s.empty else s
    rows = []
    for (ds, depth), g in s.groupby(["dataset", "depth"]):
        w = g[g.condition == "fa_w"]
        if w.empty:
            continue
        for other in [c for c in g.condition.unique() if c not in ("fa_w", "bp", "fa_wo")]:
            o = g[g.condition == other]
            for claim, col, sign, what in (
                ("B1", "auc_test_acc", +1, "AUC"),
                ("B2", "converged_test_acc", +1, "converged acc"),
                ("B3", "test_ece", -1, "test ECE"),
            ):
                if col in g and w[col].notna().any() and o[col].notna().any():
                    r = stats.two_sample_t(w[col], o[col])
                    rows.append(_row(claim, "rules", ds, depth, f"{what} fa_w vs {other}", r, _significant(r, sign)))
    return rows


CLAIMS: dict[str, Callable] = {
    "C1": c1_untrained_at_90,
    "C2": c2_noise_aligns,
    "C3": c3_noise_loss_falls,
    "C4": c4_conditions_align,
    "C5": c5_faster_learning,
    "C6": c6_final_angle,
    "C7": c7_closer_to_B,
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


def claims_table(tables: Tables) -> pd.DataFrame:
    """Every claim's rows; networks that diverged are excluded first (and counted in the report)."""
    metrics, _ = exclude_diverged(tables.metrics)
    summary = tables.summary
    bad = summary[summary.diverged.astype(bool)] if "diverged" in summary else summary.iloc[:0]
    summary = summary[~summary.diverged.astype(bool)] if "diverged" in summary else summary
    pretrain = tables.pretrain if not tables.pretrain.empty else pd.DataFrame(columns=tidy.COLUMNS)
    details = tables.details if not tables.details.empty else pd.DataFrame(columns=tidy.DETAIL_COLUMNS)
    ood = tables.ood if not tables.ood.empty else pd.DataFrame(columns=tidy.OOD_COLUMNS)
    if not bad.empty and not ood.empty:  # a network that diverged in training has no OOD accuracy either
        keys = ["experiment", "dataset", "depth", "condition", "seed"]
        hit = ood[keys].merge(bad[keys].assign(_bad=True), on=keys, how="left")["_bad"].notna().to_numpy()
        ood = ood[~hit]
    meta = tables.meta if not tables.meta.empty else pd.DataFrame(columns=tidy.META_COLUMNS)
    t = Tables(metrics, summary, _drop_diverged_pretraining(pretrain), details, ood, meta, tables.context)
    rows = [r for fn in CLAIMS.values() for r in fn(t)]
    return pd.DataFrame(rows, columns=COLUMNS)


def _drop_diverged_pretraining(d: pd.DataFrame) -> pd.DataFrame:
    keys = ["dataset", "noise", "depth", "seed"]
    bad = d.loc[d.metric == "diverged", keys].drop_duplicates()
    if bad.empty:
        return d
    mask = d[keys].merge(bad.assign(_bad=True), on=keys, how="left")["_bad"].notna().to_numpy()
    return d[~mask]
