"""Claims computed from tidy tables whose answer is known."""

import numpy as np
import pandas as pd

from noisefa.claims import COLUMNS, claims_table

KEY = dict(experiment="e", dataset="d", depth=2)


def _rows(condition, seed, phase, step, metric, value, layer="", noise="n"):
    return {
        **KEY,
        "noise": noise if condition == "fa_w" else "",
        "condition": condition,
        "seed": seed,
        "phase": phase,
        "step": step,
        "epoch": step / 10,
        "layer": layer,
        "metric": metric,
        "value": value,
    }


def _frame(aligned_angle: float):
    rng = np.random.default_rng(0)
    rows = []
    for seed in range(10):
        for step, angle in ((0, 90 + rng.normal()), (100, aligned_angle + rng.normal())):
            rows.append(_rows("fa_w", seed, "noise", step, "angle_deg", angle, layer="2"))
            rows.append(_rows("fa_w", seed, "noise", step, "batch_loss", 2.3 - step / 100 + 0.01 * rng.normal()))
            for layer in ("1", "2"):
                rows.append(_rows("fa_w", seed, "noise", step, "erank", 50 - step / 20 + 0.1 * rng.normal(), layer=layer))
        for cond, final_angle in (("fa_w", 30.0), ("fa_wo", 70.0), ("bp", 90.0)):
            for step in (0, 10):
                a = 90.0 if step == 0 else final_angle + rng.normal()
                rows.append(_rows(cond, seed, "data", step, "angle_deg", a, layer="2"))
                rows.append(_rows(cond, seed, "data", step, "wb_distance", a / 10, layer="2"))
    df = pd.DataFrame(rows)
    summary = pd.DataFrame(
        [
            {**KEY, "condition": c, "seed": s, "auc_test_acc": auc + 0.001 * rng.normal(), "diverged": False}
            for s in range(10)
            for c, auc in (("bp", 0.90), ("fa_wo", 0.80), ("fa_w", 0.88))
        ]
    )
    return df, summary


def test_claims_hold_when_the_data_say_so():
    table = claims_table(*_frame(aligned_angle=30.0))
    assert list(table.columns) == COLUMNS
    by = {(r.claim, r.comparison): r for r in table.itertuples()}
    assert by[("C2", "pretrained angle vs 90")].holds and by[("C2", "pretrained angle vs 90")].n == 10
    assert by[("C2", "pretrained angle vs 90")].dataset == "noise:n"
    assert by[("C3", "noise CE last vs first")].holds
    assert by[("C5", "AUC fa_w vs fa_wo")].holds and by[("C5", "AUC fa_w vs fa_wo")].effect > 0.07
    assert all(table[table.claim.isin(["C6", "C7", "C11"])].holds)


def test_claims_fail_when_the_data_say_so():
    table = claims_table(*_frame(aligned_angle=90.0))  # noise training did not align
    row = table[table.claim == "C2"].iloc[0]
    assert not row.holds and row.p_value > 0.001
