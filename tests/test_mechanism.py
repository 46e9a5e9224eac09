"""The mechanism table (noisefa.analysis.mechanism) on constructed networks: each explanation where it must
come out, and not where it must not."""

import numpy as np
import pandas as pd
import pytest

from noisefa.analysis import mechanism as mech
from noisefa.analysis import tidy

N = 12
CONTEXT = {"experiment": "main", "noise": "n60k", "alpha": 0.05}


def _summary(effects: dict[str, float], spread=0.004, seed=0) -> pd.DataFrame:
    """AUCs of N networks per arm: FA w/o's value plus each arm's effect plus independent noise
    centred per arm (so that each arm's mean effect is exactly the one given)."""
    rng = np.random.default_rng(seed)
    base = 0.80 + 0.02 * rng.standard_normal(N)  # shared by every arm of a seed (same init and data)
    rows = []
    for cond, eff in {"fa_wo": 0.0, **effects}.items():
        exp = "main" if cond in ("fa_wo", "fa_w") else "controls"
        noise = rng.standard_normal(N)
        noise -= noise.mean()
        for s in range(N):
            rows.append({"experiment": exp, "dataset": "d", "depth": 2, "condition": cond, "seed": s,
                         "auc_test_acc": base[s] + eff + spread * noise[s],
                         "late_test_acc": np.nan, "converged_test_acc": 0.9, "diverged": False, "blown_up": False})  # fmt: skip
    return pd.DataFrame(rows)


def _table(summary):
    empty = pd.DataFrame()
    t = mech.Tables(summary, pd.DataFrame(columns=tidy.COLUMNS), empty, empty, CONTEXT)
    out = mech.mechanism_table(t)
    return out[out.claim == "C5"].set_index("control")


@pytest.mark.parametrize(
    "effects, explanation, reproduced",
    [
        (
            {"fa_w": 0.05, "fa_aligned": 0.05, "fa_newb": 0.0, "fa_scaled": 0.0},
            "alignment",
            {"fa_aligned": "full", "fa_newb": "none"},
        ),
        ({"fa_w": 0.05, "fa_aligned": 0.0, "fa_newb": 0.0, "fa_scaled": 0.05}, "readout scale", {"fa_scaled": "full"}),
        ({"fa_w": 0.05, "fa_aligned": 0.02, "fa_newb": 0.0, "fa_scaled": 0.0}, "alignment, in part", {"fa_aligned": "partial"}),
        (
            {"fa_w": 0.05, "fa_aligned": 0.05, "fa_newb": 0.025, "fa_scaled": 0.0},
            "noise beyond alignment",
            {"fa_newb": "partial"},
        ),
        ({"fa_w": 0.05, "fa_aligned": 0.0, "fa_newb": 0.0, "fa_scaled": 0.0}, "not explained", {"fa_aligned": "none"}),
        (
            {"fa_w": 0.0, "fa_aligned": 0.05, "fa_newb": 0.0, "fa_scaled": 0.0},
            "no effect to explain",
            {"fa_aligned": "undetermined"},
        ),
        (
            {"fa_w": 0.05, "fa_aligned": 0.09, "fa_newb": 0.0, "fa_fresh": 0.05},
            "alignment; fresh noise reproduces it",
            {"fa_aligned": "beyond", "fa_fresh": "full"},
        ),
    ],
)
def test_each_explanation_where_it_must_come_out(effects, explanation, reproduced):
    t = _table(_summary(effects))
    assert set(t.explanation) == {explanation}
    for control, what in reproduced.items():
        assert t.loc[control, "reproduces"] == what, (control, t.loc[control].to_dict())
    assert (t.fa_w_effect - effects["fa_w"]).abs().max() < 0.01


def test_the_fraction_is_the_ratio_of_paired_effects_with_fieller_bounds():
    s = _summary({"fa_w": 0.05, "fa_aligned": 0.025, "fa_newb": 0.0})
    t = _table(s)
    wide = s.pivot_table(index="seed", columns="condition", values="auc_test_acc")
    ratio = (wide.fa_aligned - wide.fa_wo).mean() / (wide.fa_w - wide.fa_wo).mean()
    row = t.loc["fa_aligned"]
    assert row.fraction == pytest.approx(ratio) and row.fraction_low < ratio < row.fraction_high
    assert row.n == N and row.vs_fa_w_effect == pytest.approx((wide.fa_aligned - wide.fa_w).mean())
    # the standard errors `compare` scales a rerun's change by: the paired t's (its p follows from them)
    from scipy import stats as sps

    d = wide.fa_aligned - wide.fa_wo
    assert row.control_se == pytest.approx(d.std(ddof=1) / np.sqrt(N))
    assert 2 * sps.t.sf(abs(row.control_effect / row.control_se), N - 1) == pytest.approx(row.control_p)
    assert row.vs_fa_w_se == pytest.approx((wide.fa_aligned - wide.fa_w).std(ddof=1) / np.sqrt(N))


def test_too_few_networks_leave_it_undetermined_not_explained():
    s = _summary({"fa_w": 0.05, "fa_aligned": 0.05, "fa_newb": 0.0}, spread=0.03)
    s = s[s.seed < 3]
    t = _table(s)
    assert set(t.reproduces) <= {"undetermined", "full", "none"} and "alignment" != t.explanation.iloc[0]


def test_diverged_networks_leave_every_arm():
    s = _summary({"fa_w": 0.05, "fa_aligned": 0.05})
    s.loc[(s.condition == "fa_aligned") & (s.seed == 0), "diverged"] = True
    assert _table(s).loc["fa_aligned", "n"] == N - 1


@pytest.mark.parametrize(
    "low, high, what",
    [
        (1.2, 2.0, "beyond"),
        (0.4, 1.3, "full"),
        (0.2, 0.7, "partial"),
        (-0.3, 0.5, "none"),
        (-0.5, 1.5, "undetermined"),
        (np.nan, np.nan, "undetermined"),
    ],
)
def test_reproduces_reads_the_fractions_interval(low, high, what):
    assert mech.reproduces(low, high) == what


def test_the_dose_response_places_fa_w_on_the_curve_alignment_draws():
    rows = []
    rng = np.random.default_rng(3)
    for angle in (0, 30, 60, 90):
        for s in range(6):  # AUC falls linearly with the angle
            a = angle + rng.normal(0, 1)
            rows.append({"depth": 2, "condition": "fa_aligned", "target": str(angle), "seed": s, "initial_angle_deg": a,
                         "auc_test_acc": 0.9 - 0.001 * a + rng.normal(0, 0.002), "late_test_acc": 0.9})  # fmt: skip
    for s in range(6):
        on = 40 + rng.normal(0, 2)
        rows.append({"depth": 2, "condition": "fa_w", "target": "", "seed": s, "initial_angle_deg": on,
                     "auc_test_acc": 0.9 - 0.001 * on + rng.normal(0, 0.002), "late_test_acc": 0.9})  # fmt: skip
    dose = pd.DataFrame(rows)
    r = mech.on_curve(dose).iloc[0]
    assert r.p_value > 0.05 and r.within_curve
    dose.loc[dose.condition == "fa_w", "auc_test_acc"] += 0.03  # FA w/ above the curve: off it
    r = mech.on_curve(dose).iloc[0]
    assert r.p_value < 0.001 and r.effect == pytest.approx(0.03, abs=0.005)
