"""Claims computed from tidy tables whose answer is known."""

import numpy as np
import pandas as pd
import pytest

from noisefa.claims import COLUMNS, Tables, claims_table

SHAPE = "noise:in64_c10"
CONTEXT = {
    "experiment": "main",
    "noise": "n",
    "figure1_sets": ["n", "other"],
    "figure2_experiment": "figure2",
    "generalisation_size": 100,
    "generalisation_sizes": [100],
}


def _row(experiment, dataset, condition, seed, phase, step, metric, value, layer="", noise="", depth=2, index=None):
    r = {
        "experiment": experiment,
        "dataset": dataset,
        "noise": noise,
        "depth": depth,
        "condition": condition,
        "seed": seed,
        "phase": phase,
        "step": step,
        "epoch": step / 10,
        "layer": layer,
        "metric": metric,
        "value": value,
    }
    if index is not None:
        r["index"] = index
    return r


def _tables(aligned_angle: float = 30.0, chance_after: bool = True, order_moves: bool = False) -> Tables:
    """Noise pretraining that aligns to ``aligned_angle``; data training where FA w/ wins everywhere."""
    rng = np.random.default_rng(0)
    pre, det, met = [], [], []
    for noise, target in (("n", aligned_angle), ("other", 90.0)):
        for seed in range(10):
            for step, angle in ((0, 90 + rng.normal()), (100, target + rng.normal())):
                pre.append(_row("pretrain", SHAPE, "fa_w", seed, "noise", step, "angle_deg", angle, "2", noise))
                loss = 2.3 - step / 100 + 0.01 * rng.normal()
                pre.append(_row("pretrain", SHAPE, "fa_w", seed, "noise", step, "batch_loss", loss, "", noise))
                for layer in ("1", "2"):
                    erank = 50 - step / 20 + 0.1 * rng.normal()
                    pre.append(_row("pretrain", SHAPE, "fa_w", seed, "noise", step, "erank", erank, layer, noise))
            for step, centre in ((0, 90.0), (100, target)):
                for i, a in enumerate(centre + 5 * rng.normal(size=100)):
                    det.append(_row("pretrain", SHAPE, "fa_w", seed, "noise", step, "neuron_angle_deg", a, "2", noise, index=i))
    for seed in range(2):  # readout of the used set: untrained far from chance, trained at chance
        for step in (0, 100):
            far = step == 0 or not chance_after
            probs = 0.6 + 0.1 * rng.random(1000) if far else 0.1 + 0.01 * rng.normal(size=1000)
            for metric in ("readout_max_prob", "readout_top_unit_prob"):
                for i, p in enumerate(probs):
                    det.append(_row("pretrain", SHAPE, "fa_w", seed, "noise", step, metric, p, "2", "n", index=i))
            for u in range(10):
                det.append(_row("pretrain", SHAPE, "fa_w", seed, "noise", step, "readout_unit_mean", 0.1, "2", "n", index=u))
    for exp in ("main", "figure2", "size100"):
        for seed in range(10):
            for cond, final_angle, gram, gap in (("fa_w", 30.0, 20.0, 0.1), ("fa_wo", 70.0, 40.0, 0.5), ("bp", 90.0, 50.0, 0.3)):
                for step in (0, 10):
                    a = 90.0 if step == 0 else final_angle + rng.normal()
                    met.append(_row(exp, "d", cond, seed, "data", step, "angle_deg", a, "2"))
                    met.append(_row(exp, "d", cond, seed, "data", step, "wb_distance", a / 10, "2"))
                    met.append(_row(exp, "d", cond, seed, "data", step, "wb_distance_norm", a / 100, "2"))
                    met.append(_row(exp, "d", cond, seed, "data", step, "gram_erank", gram + rng.normal(), "1"))
                    met.append(_row(exp, "d", cond, seed, "data", step, "train_loss", 0.2, ""))
                    met.append(_row(exp, "d", cond, seed, "data", step, "test_loss", 0.2 + gap + 0.01 * rng.normal(), ""))
                    met.append(_row(exp, "d", cond, seed, "data", step, "train_acc", 0.99, ""))
                    met.append(_row(exp, "d", cond, seed, "data", step, "test_acc", 0.99 - gap / 5 + 0.001 * rng.normal(), ""))
            # data -> noise: FA w/o networks trained on noise afterwards; the angle stays (or moves)
            after = (40.0 if order_moves else 70.0) + rng.normal()
            met.append(_row(exp, "d", "fa_wo", seed, "noise_after", 100, "angle_deg", after, "2", "n"))
    summary = pd.DataFrame(
        [
            {
                "experiment": e,
                "dataset": "d",
                "depth": 2,
                "condition": c,
                "seed": s,
                "auc_test_acc": a + 0.001 * rng.normal(),
                "converged_test_acc": a + 0.001 * rng.normal(),
                "converged": True,
            }
            for e in ("main", "figure2")
            for s in range(10)
            for c, a in (("bp", 0.90), ("fa_wo", 0.80), ("fa_w", 0.88))
        ]
    ).assign(diverged=False)
    ood, meta = [], []
    for seed in range(10):
        for cond, robust in (("fa_w", 0.7), ("fa_wo", 0.5), ("bp", 0.6)):
            base = {"experiment": "main", "dataset": "d", "depth": 2, "condition": cond, "seed": seed, "metric": "acc"}
            tests = (("translate", (0.0, 2.0, 4.0), 0.0), ("scale", (1.0, 1.5), 1.0), ("usps", (0.0,), None))
            for test_set, mags, identity in tests:
                for m in mags:
                    acc = 0.95 if m == identity else robust + 0.01 * rng.normal()
                    ood.append({**base, "test_set": test_set, "magnitude": m, "value": acc})
        for step, level in ((0, 3.0), (50, 2.5), (100, 2.0)):  # adaptation from later snapshots ends lower
            for task in ("a", "b"):
                for k in (0, 5):
                    meta.append({"noise": "n", "dataset": SHAPE, "depth": 2, "seed": seed, "step": step, "task": task,
                                 "adapt_step": k, "metric": "loss", "value": level - 0.1 * k + 0.01 * rng.normal()})  # fmt: skip
            total = sum(r["value"] for r in meta[-4:] if r["adapt_step"] == 5)
            meta.append({**meta[-1], "task": "meta", "adapt_step": 5, "value": total})
    return Tables(
        pd.DataFrame(met),
        summary,
        pd.DataFrame(pre),
        pd.DataFrame(det),
        pd.DataFrame(ood),
        pd.DataFrame(meta),
        context={**CONTEXT, "table1": {"depth": 2, "trials": 3}},
    )


def _by(table):
    return {(r.claim, r.comparison): r for r in table.itertuples()}


def test_claims_hold_when_the_data_say_so():
    table = claims_table(_tables())
    assert list(table.columns) == COLUMNS
    by = _by(table)
    c1 = by[("C1", "untrained neuron angles vs 90 (n)")]
    assert c1.holds and c1.n == 100 and c1.dataset == SHAPE  # the first network's 100 neurons
    assert by[("C2", "neuron angles trained vs untrained (n)")].holds
    assert by[("C2", "pretrained angle vs 90, networks (n)")].n == 10
    assert by[("C3", "noise CE last vs first (n)")].holds
    assert by[("C4", "neuron angles trained vs untrained (n)")].holds
    assert not by[("C4", "neuron angles trained vs untrained (other)")].holds  # that set did not align
    c5 = by[("C5", "AUC fa_w vs fa_wo [main]")]
    assert c5.holds and c5.effect > 0.07 and c5.figure == "3"
    assert by[("C5", "AUC fa_w vs fa_wo [figure2]")].figure == "2b"
    assert all(table[table.claim.isin(["C6", "C7", "C11", "C13"])].holds)
    assert by[("C8", "angle data->noise vs data only")].holds
    assert by[("C8", "angle noise->data vs data only")].holds
    assert by[("C10", "untrained max prob vs chance (n)")].holds and by[("C10", "untrained max prob vs chance (n)")].n == 1000
    assert by[("C10", "noise-trained max prob vs chance (n)")].holds
    assert by[("C12", "loss_gap fa_w vs fa_wo, 100 training images")].holds
    assert by[("C12", "loss_gap fa_w vs fa_wo, 100 training images")].figure == "4e"
    assert by[("C13", "Gram erank of last hidden layer fa_w vs fa_wo")].holds
    c9 = table[table.claim == "C9"]
    assert set(c9.figure) == {"3", "Tab.1"} and c9.holds.all() and set(c9.n) == {10, 3}
    c14 = table[table.claim == "C14"]
    assert len(c14) == 2 and c14.holds.all() and (c14.effect > 0.15).all()  # identity magnitudes left out
    assert by[("C15", "usps acc fa_w vs fa_wo (trained on d)")].holds
    c16 = table[table.claim == "C16"]
    assert len(c16) == 3 and c16.holds.all() and set(c16.test) == {"paired t"}
    assert abs(by[("C16", "meta-loss (sum over tasks) after 5 steps, noise step 100 vs 0 (n)")].effect + 2.0) < 0.05


def test_claims_fail_when_the_data_say_so():
    by = _by(claims_table(_tables(aligned_angle=90.0, chance_after=False, order_moves=True)))
    c2 = by[("C2", "neuron angles trained vs untrained (n)")]
    assert not c2.holds and c2.p_value > 0.001
    assert not by[("C10", "noise-trained max prob vs chance (n)")].holds
    assert not by[("C8", "angle data->noise vs data only")].holds  # noise moved the data-trained weights


def test_diverged_pretraining_is_left_out():
    t = _tables()
    bad = t.pretrain[t.pretrain.seed == 3].iloc[:1].assign(metric="diverged", value=1.0)
    t.pretrain = pd.concat([t.pretrain, bad], ignore_index=True)
    row = _by(claims_table(t))[("C2", "pretrained angle vs 90, networks (n)")]
    assert row.n == 9


@pytest.mark.parametrize("missing", ["pretrain", "details"])
def test_claims_without_a_table_skip_its_rows(missing):
    t = _tables()
    setattr(t, missing, pd.DataFrame())
    table = claims_table(t)
    gone = {"pretrain": {"C3", "C11"}, "details": {"C1", "C4", "C10"}}[missing]
    assert not gone & set(table.claim)
    assert {"C5", "C6"} <= set(table.claim)


def test_networks_that_diverged_in_training_leave_the_ood_claims():
    t = _tables()
    t.summary.loc[(t.summary.experiment == "main") & (t.summary.seed == 0), "diverged"] = True
    row = _by(claims_table(t))[("C15", "usps acc fa_w vs fa_wo (trained on d)")]
    assert row.n == 9


def test_rules_comparison_rows_beyond_the_paper():
    rng = np.random.default_rng(1)
    summary, met = [], []
    for seed in range(10):
        for cond, auc, ece in (("fa_w", 0.9, 0.02), ("kp", 0.8, 0.05), ("wm", 0.9, 0.02)):
            summary.append({"experiment": "rules", "dataset": "d", "depth": 2, "condition": cond, "seed": seed,
                            "auc_test_acc": auc + 0.001 * rng.normal(), "converged_test_acc": 0.95 + 0.001 * rng.normal(),
                            "diverged": False})  # fmt: skip
            met.append(_row("rules", "d", cond, seed, "data", 10, "test_ece", ece + 0.001 * rng.normal()))
    t = Tables(pd.DataFrame(met), pd.DataFrame(summary), context={"rules_experiment": "rules"})
    by = _by(claims_table(t))
    assert by[("B1", "AUC fa_w vs kp")].holds and not by[("B1", "AUC fa_w vs wm")].holds
    assert by[("B3", "test ECE fa_w vs kp")].holds and by[("B3", "test ECE fa_w vs kp")].effect < 0
    assert not by[("B2", "converged acc fa_w vs kp")].holds  # equal accuracy: no claim
