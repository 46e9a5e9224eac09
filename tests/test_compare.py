"""noisefa.analysis.compare: equal tables pass; each kind of change fails where it must (a verdict, a row's
holds or direction, a sign, an effect, a cell mean or spread beyond what resampling gives, a
protocols.csv verdict, a row on one side only) and is excused only where the rule says (a row near
its threshold in both runs, same sign, effect within tolerance). On the shipped references: the
tamper of issue 21 fails and the honest paper_offline rerun passes. The stage writes every
difference before it fails."""

import math
import shutil

import frames
import numpy as np
import pandas as pd
import pytest
from pipeline_utils import REPO, stage
from scipy import stats as sps

from noisefa.analysis import stats
from noisefa.analysis.compare import (
    BORDERLINE_RULE,
    CNN_CLAIMS,
    CNN_MECHANISM,
    CNN_SUMMARY,
    CNN_VERDICT,
    MECHANISM,
    PROTOCOLS,
    REFERENCE_TABLES,
    compare,
    effect_se,
    f_bounds,
    failures,
    z_bound,
)

NETS = 20  # networks per constructed cell: enough for an F bound to see a spread x3
REFS = REPO / "reference"


def _tables(d, direction=False):
    d.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"claim": ["C1", "C2"], "verdict": ["holds", "mixed"]}).to_csv(d / "verdict.csv", index=False)
    claims = pd.DataFrame({
        "claim": ["C1", "C1", "C2", "C2"], "figure": ["1e"] * 4, "dataset": ["d"] * 4, "depth": [2] * 4,
        "comparison": ["a", "b", "c", "e"], "n": [10] * 4, "effect": [-5.0, 1.0, 0.3, 0.2],
        "ci_low": [-7.0, 0.0, 0.1, 0.1], "ci_high": [-3.0, 2.0, 0.5, 0.3], "primary": [True, False, True, True],
        "p_value": [1e-6, 0.5, 1e-6, 0.004], "p_holm": [1e-6, 0.5, 2e-6, 0.004],  # row e: 4x alpha, borderline
        "rule": ["less", "undetected", "greater", "differs"], "holds": [True, True, True, False],
        "extra": ["ignored"] * 4,  # other columns may be added: ignored
    })  # fmt: skip
    if direction:
        claims["direction"] = ["supports", "n.s.", "supports", "n.s."]
    claims.to_csv(d / "claims.csv", index=False)
    pd.DataFrame({"dataset": ["d"] * 2, "condition": ["bp", "fa_w"], "depth": [2, 2], "mean": [0.9, 0.85],
                  "std": [0.01, 0.02], "n": [NETS] * 2}).to_csv(d / "table1.csv", index=False)  # fmt: skip
    x = np.random.default_rng(0).standard_normal((2, 5, NETS))
    rows = [{"experiment": "main", "dataset": "d", "depth": 2, "condition": c, "seed": s,
             "final_test_acc": 0.8 + 0.01 * x[i, 0, s], "converged_test_acc": 0.8 + 0.01 * x[i, 1, s],
             "auc_test_acc": 0.7 + 0.01 * x[i, 2, s], "initial_last_layer_angle_deg": 90.0 + x[i, 3, s],
             "final_last_layer_angle_deg": 50.0 + x[i, 4, s]}
            for i, c in enumerate(("bp", "fa_w")) for s in range(NETS)]  # fmt: skip
    frames.summary(rows).to_csv(d / "summary.csv", index=False)
    return d


def _pair(tmp_path, **kw):
    return _tables(tmp_path / "ref", **kw), _tables(tmp_path / "run", **kw)


def _edit(d, table, where, **values):
    """Set columns of the rows where ``where(t)`` holds (or row index ``where``)."""
    t = pd.read_csv(d / table)
    rows = where(t) if callable(where) else t.index == where
    for col, v in values.items():
        t[col] = t[col].astype(object) if isinstance(v, (str, bool)) else t[col]
        t.loc[rows, col] = v
    t.to_csv(d / table, index=False)


def _shift_effect(d, row, by, table="claims.csv"):
    t = pd.read_csv(d / table)
    t.loc[row, ["effect", "ci_low", "ci_high"]] += by
    t.to_csv(d / table, index=False)


def _bad(t, column=None):
    bad = failures(t)
    return bad if column is None else bad[bad.column == column]


def test_equal_tables_are_within_every_tolerance(tmp_path):
    ref, run = _pair(tmp_path)
    t = compare(ref, run)
    assert failures(t).empty and len(t) > 0
    assert set(t.table) == set(REFERENCE_TABLES)  # no protocols.csv on either side: not compared, no note
    effects = t[(t.table == "claims.csv") & (t.column == "effect")]
    assert len(effects) == 3 and not effects.key.str.contains("comparison=b").any()  # primary rows only
    assert len(t[(t.table == "summary.csv") & (t.column == "final_test_acc")]) == 2  # cell means, not networks
    assert len(t[(t.table == "summary.csv") & (t.column == "final_test_acc sd")]) == 2  # and cell spreads
    assert not t.column.str.startswith("late_test_acc").any()  # a column with no value in either: skipped


@pytest.mark.parametrize("name", ["tiny", "quick", "paper_offline"])
def test_every_shipped_reference_passes_against_itself(name):
    t = compare(REFS / name / "tables", REFS / name / "tables")
    assert failures(t).empty
    assert (PROTOCOLS in set(t.table)) == (REFS / name / "tables" / PROTOCOLS).exists()


def test_the_thresholds_account_for_the_number_of_values():
    assert z_bound(1) == pytest.approx(sps.norm.isf(0.005))  # 2.58
    assert z_bound(136) == pytest.approx(3.96, abs=0.01)  # paper_offline's primary effects
    assert z_bound(500) > z_bound(136) > z_bound(10)
    lo, hi = f_bounds(200, 9, 9)
    assert lo == pytest.approx(1 / hi) and math.sqrt(hi) == pytest.approx(5.0, abs=0.1)  # 10 networks: sd x5


def test_an_effects_standard_error_comes_from_its_interval():
    rows = pd.DataFrame({"rule": ["less", "equivalent"], "n": [10, 10], "ci_low": [-1.0, -1.0], "ci_high": [1.0, 1.0]})
    se = effect_se(rows)
    assert se[0] == pytest.approx(1 / sps.t.ppf(0.975, 9)) and se[1] == pytest.approx(1 / sps.t.ppf(0.95, 9))


@pytest.mark.parametrize("k, within", [(2.0, True), (5.0, False)])
def test_an_effect_against_the_combined_standard_error(tmp_path, k, within):
    ref, run = _pair(tmp_path)
    se = 2.0 / sps.t.ppf(0.975, 9)  # row a: 95% half-width 2, n 10
    _shift_effect(run, 0, k * math.sqrt(2) * se)
    t = compare(ref, run)
    row = t[(t.column == "effect") & t.key.str.contains("comparison=a")].iloc[0]
    assert row.tolerance == pytest.approx(z_bound(3) * math.sqrt(2) * se)  # 3 primary effects compared
    assert bool(row.within) == within and _bad(t).empty == within


@pytest.mark.parametrize("value, within", [(0.24, True), (0.3, False)])
def test_an_effect_without_an_interval_may_move_by_a_quarter(tmp_path, value, within):
    ref, run = _pair(tmp_path)
    for d in (ref, run):
        _edit(d, "claims.csv", 3, ci_low=np.nan, ci_high=np.nan)
    _edit(run, "claims.csv", 3, effect=value)
    assert _bad(compare(ref, run)).empty == within


@pytest.mark.parametrize(
    "edit, within, why",
    [
        ({"p_holm": 0.0009, "p_value": 0.0009, "holds": True}, True, None),  # near in both: borderline
        ({"p_holm": 1e-6, "p_value": 1e-6, "holds": True}, False, "not near its threshold in the run"),
        ({"p_holm": 0.0009, "holds": True, "effect": -0.2, "ci_low": -0.3, "ci_high": -0.1}, False, "sign"),
        ({"p_holm": 0.0009, "holds": True, "effect": 1.2, "ci_low": 1.1, "ci_high": 1.3}, False, "effect outside"),
    ],
)
def test_a_holds_change_is_excused_only_near_the_threshold_in_both_runs(tmp_path, edit, within, why):
    ref, run = _pair(tmp_path)
    _edit(run, "claims.csv", 3, **edit)  # row e: p 4 x alpha in the reference
    _edit(run, "verdict.csv", 1, verdict="holds")  # C2: mixed -> holds, as the flip decides
    t = compare(ref, run)
    holds = t[(t.column == "holds") & t.key.str.contains("comparison=e")].iloc[0]
    verdict = t[t.key == "claim=C2"].iloc[0]
    assert bool(holds.within) == within and bool(verdict.within) == within
    if within:
        assert holds.rule.startswith(BORDERLINE_RULE) and verdict.rule.startswith("borderline:")
        assert "(p 0.004 -> 0.0009, threshold 0.001)" in holds.rule
    else:
        assert why in holds.rule


def test_a_holds_change_far_from_the_threshold_fails(tmp_path):
    ref, run = _pair(tmp_path)
    _edit(run, "claims.csv", 0, holds=False)
    bad = _bad(compare(ref, run))
    assert list(bad.column) == ["holds"] and "in the reference; p not near its threshold in the run" in bad.rule.iloc[0]


@pytest.mark.parametrize(
    "claims_edit, verdict, why",
    [
        (None, "mixed", "none of its primary rows"),  # C1 changes, none of its rows did
        ((2, {"holds": False}), "fails", "1 of its 1 changed rows not borderline"),  # C2 by its row c (far)
        (None, "holds", "none of its primary rows"),  # C2 rests on row e (borderline) but row e did not change
    ],
)
def test_a_verdict_changes_only_with_its_rows(tmp_path, claims_edit, verdict, why):
    ref, run = _pair(tmp_path)
    if claims_edit:
        _edit(run, "claims.csv", claims_edit[0], **claims_edit[1])
    claim = "C1" if verdict == "mixed" else "C2"
    _edit(run, "verdict.csv", lambda t: t.claim == claim, verdict=verdict)
    bad = _bad(compare(ref, run), "verdict")
    assert list(bad.key) == [f"claim={claim}"] and why in bad.rule.iloc[0]


@pytest.mark.parametrize(
    "edit, within",
    [
        ((0, {"direction": "contradicts"}), False),  # row a, far from its threshold
        ((3, {"direction": "supports", "p_holm": 0.0009}), True),  # row e, near in both
    ],
)
def test_direction_is_compared_like_holds(tmp_path, edit, within):
    ref, run = _pair(tmp_path, direction=True)
    _edit(run, "claims.csv", edit[0], **edit[1])
    t = compare(ref, run)
    assert (t.column == "direction").sum() == 3 and _bad(t).empty == within


def test_direction_on_one_side_only_is_not_compared(tmp_path):
    ref, run = _tables(tmp_path / "ref"), _tables(tmp_path / "run", direction=True)
    t = compare(ref, run)
    assert failures(t).empty and not (t.column == "direction").any()


def _scale_cell(d, column, spread=1.0, shift=0.0, condition="fa_w"):
    s = pd.read_csv(d / "summary.csv")
    m = s.condition == condition
    v = s.loc[m, column]
    s.loc[m, column] = v.mean() + spread * (v - v.mean()) + shift
    s.to_csv(d / "summary.csv", index=False)
    return v.std(ddof=1) / math.sqrt(len(v))  # the cell's standard error before


@pytest.mark.parametrize("k, within", [(2.0, True), (6.0, False)])
def test_a_cell_mean_against_the_combined_standard_error(tmp_path, k, within):
    ref, run = _pair(tmp_path)
    se = _scale_cell(ref, "final_test_acc")
    _scale_cell(run, "final_test_acc", shift=-k * math.sqrt(2) * se)
    bad = _bad(compare(ref, run))
    assert bad.empty == within
    if not within:
        assert list(bad.column) == ["final_test_acc"] and "condition=fa_w" in bad.key.iloc[0]


@pytest.mark.parametrize("spread, within", [(1.5, True), (1 / 1.5, True), (3.0, False), (1 / 3, False)])
def test_a_cell_spread_against_an_f_bound(tmp_path, spread, within):
    ref, run = _pair(tmp_path)
    _scale_cell(run, "converged_test_acc", spread=spread)
    bad = _bad(compare(ref, run))
    assert bad.empty == within
    if not within:
        assert list(bad.column) == ["converged_test_acc sd"] and bad.difference.iloc[0] == pytest.approx(spread)


@pytest.mark.parametrize(
    "col, value, within",
    [("mean", 0.85 + 0.015, True), ("mean", 0.85 + 0.03, False), ("std", 0.03, True), ("std", 0.06, False)],
)
def test_table1_mean_and_std(tmp_path, col, value, within):
    # combined SE of the mean 0.02 x sqrt(2 / 20) = 0.0063; 20 networks: an sd ratio bound about 2.3
    ref, run = _pair(tmp_path)
    _edit(run, "table1.csv", 1, **{col: value})
    assert _bad(compare(ref, run)).empty == within


def test_n_must_stay_the_same(tmp_path):
    ref, run = _pair(tmp_path)
    _edit(run, "claims.csv", 0, n=9)
    assert list(_bad(compare(ref, run)).column) == ["n"]


@pytest.mark.parametrize(
    "table, drop, column",
    [("verdict.csv", 1, "verdict"), ("claims.csv", 3, "row"), ("summary.csv", None, "cell"), ("table1.csv", 0, "row")],
)
def test_a_row_on_one_side_only_is_a_difference(tmp_path, table, drop, column):
    ref, run = _pair(tmp_path)
    t = pd.read_csv(run / table)
    (t[t.condition != "bp"] if drop is None else t.drop(index=drop)).to_csv(run / table, index=False)
    bad = _bad(compare(ref, run))
    assert column in set(bad.column) and "row only in the reference" in set(bad.rule)


def test_a_claim_only_in_the_run_is_a_difference(tmp_path):
    ref, run = _pair(tmp_path)
    t = pd.read_csv(run / "verdict.csv")
    pd.concat([t, pd.DataFrame({"claim": ["C3"], "verdict": ["fails"]})]).to_csv(run / "verdict.csv", index=False)
    bad = failures(compare(ref, run))
    assert list(bad.key) == ["claim=C3"] and list(bad.rule) == ["row only in the run"]


# --- protocols.csv: the protocol study's verdicts, per noise set, BatchNorm and claim ---


def _copy(name, to):
    shutil.copytree(REFS / name / "tables", to)
    return to


def _far_group(p):
    """A (noise_set, batchnorm, claim) whose primary rows all hold, far from their thresholds."""
    prim = p[p.primary & p.rule.isin(["less", "greater", "differs"])]
    g = prim.groupby(["noise_set", "batchnorm", "claim"])
    ok = g.holds.all() & g.p_holm.max().lt(1e-5)
    return ok[ok].index[0]


def test_a_protocols_verdict_that_changes_alone_fails(tmp_path):
    ref, run = _copy("quick", tmp_path / "ref"), _copy("quick", tmp_path / "run")
    key = _far_group(pd.read_csv(ref / PROTOCOLS))
    p = pd.read_csv(run / PROTOCOLS)
    group = (p.noise_set == key[0]) & (p.batchnorm == key[1]) & (p.claim == key[2])
    p.loc[group, "verdict"] = "fails" if p[group].verdict.iloc[0] != "fails" else "holds"
    p.to_csv(run / PROTOCOLS, index=False)
    bad = failures(compare(ref, run))
    assert list(bad.table) == [PROTOCOLS] and list(bad.column) == ["verdict"]
    assert bad.key.iloc[0] == f"noise_set={key[0]} | batchnorm={key[1]} | claim={key[2]}"


def test_a_protocols_row_that_flips_far_from_its_threshold_fails(tmp_path):
    ref, run = _copy("quick", tmp_path / "ref"), _copy("quick", tmp_path / "run")
    p = pd.read_csv(run / PROTOCOLS)
    key = _far_group(p)
    group = (p.noise_set == key[0]) & (p.batchnorm == key[1]) & (p.claim == key[2])
    row = p.index[group & p.primary][0]
    p.loc[row, "holds"] = False
    holds = p[group & p.primary].holds
    p.loc[group, "verdict"] = "holds" if holds.all() else "mixed" if holds.any() else "fails"
    assert p[group].verdict.iloc[0] != pd.read_csv(ref / PROTOCOLS)[group].verdict.iloc[0]
    p.to_csv(run / PROTOCOLS, index=False)
    bad = failures(compare(ref, run))
    assert set(bad.column) == {"holds", "verdict"} and set(bad.table) == {PROTOCOLS}


def test_protocols_on_one_side_only_is_noted_not_failed(tmp_path):
    ref, run = _copy("quick", tmp_path / "ref"), _copy("quick", tmp_path / "run")
    (run / PROTOCOLS).unlink()
    t = compare(ref, run)
    note = t[t.table == PROTOCOLS]
    assert failures(t).empty and list(note.rule) == ["only in the reference: not compared"]


# --- issue 21: the tamper fails, the honest paper_offline rerun passes ---


def test_the_tamper_of_issue_21_fails(tmp_path):
    """FA w/'s depth-2 accuracies in paper_offline lowered by 0.4 points with their spread x1.8; C9's
    depth-2 row recomputed (t-test, Holm within C9's primary rows) and C9's verdict as it decides."""
    ref, run = REFS / "paper_offline" / "tables", _copy("paper_offline", tmp_path / "run")
    s = pd.read_csv(run / "summary.csv")
    col = "late_test_acc" if "late_test_acc" in s and s.late_test_acc.notna().any() else "converged_test_acc"
    cell = (s.experiment == "main") & (s.condition == "fa_w") & (s.depth == 2)
    v = s.loc[cell, col]
    s.loc[cell, col] = v.mean() + 1.8 * (v - v.mean()) - 0.004
    s.to_csv(run / "summary.csv", index=False)

    c = pd.read_csv(run / "claims.csv")
    c9 = c[(c.claim == "C9") & c.primary & ~c.rule.isin(["equivalent", "undetected"])]  # C9's Holm family
    row = c9.index[c9.depth == 2][0]
    g = s[(s.experiment == "main") & (s.depth == 2)]
    r = stats.two_sample_t(g[g.condition == "fa_w"][col], g[g.condition == "fa_wo"][col])
    p = c9.p_value.copy()
    p[row] = r.p_value
    p_holm = stats.holm(p.to_numpy())[list(c9.index).index(row)]
    assert c.loc[row, "holds"] and p_holm > 0.001  # the tamper flips the row (Holm p 3.4e-5 -> 0.0086)
    c.loc[row, ["statistic", "p_value", "effect", "ci_low", "ci_high", "p_holm"]] = [
        r.statistic, r.p_value, r.effect, r.ci_low, r.ci_high, p_holm]  # fmt: skip
    c["holds"] = c.holds.astype(object)
    c.loc[row, "holds"] = False
    c.to_csv(run / "claims.csv", index=False)
    verdict = pd.read_csv(run / "verdict.csv")
    assert verdict.loc[verdict.claim == "C9", "verdict"].item() == "mixed"
    assert not c[(c.claim == "C9") & c.primary].holds.any()  # so C9 now fails
    verdict.loc[verdict.claim == "C9", "verdict"] = "fails"
    verdict.to_csv(run / "verdict.csv", index=False)

    t = compare(ref, run)
    bad = failures(t)
    assert set(zip(bad.table, bad.column)) == {("verdict.csv", "verdict"), ("claims.csv", "holds")}
    assert bad.key.str.startswith("claim=C9").all()
    assert "not near its threshold in the reference" in bad[bad.column == "holds"].rule.iloc[0]
    # The cell itself stays within its sampling noise (10 networks): mean shift about 1.2 combined
    # SE, sd ratio 1.8 against a bound of about 5. Only the row that crossed its threshold from far
    # away, and its verdict, show the change.
    cell_rows = t[(t.table == "summary.csv") & t.key.str.endswith("depth=2 | condition=fa_w") & t.key.str.contains("main")]
    x = cell_rows[cell_rows.column.isin([col, f"{col} sd"])]
    assert len(x) == 2 and x.within.all() and x.difference.iloc[1] == pytest.approx(1.8)


def test_the_honest_paper_offline_rerun_of_issue_21_passes(tmp_path):
    """The rerun on another CPU: the same tables but three effects moved (intervals moved along)."""
    ref, run = REFS / "paper_offline" / "tables", _copy("paper_offline", tmp_path / "run")
    c = pd.read_csv(run / "claims.csv")
    moved = []
    for claim, depth, before, after in [("C5", 5, 0.044, 0.116), ("C6", 3, -15.9, -10.8), ("C7", 3, -0.155, -0.094)]:
        at = c.index[c.claim.str.startswith(claim) & c.primary & (c.depth == depth)
                     & ((c.effect - before).abs() <= 0.01 * abs(before))]  # fmt: skip
        assert len(at) == 1, (claim, depth)
        c.loc[at[0], ["effect", "ci_low", "ci_high"]] += after - c.loc[at[0], "effect"]
        moved.append(at[0])
    c.to_csv(run / "claims.csv", index=False)
    t = compare(ref, run)
    assert failures(t).empty
    effects = t[(t.column == "effect") & (t.table == "claims.csv") & (t.difference.abs() > 0)]
    assert len(effects) == 3 and (effects.difference.abs() > 0.6 * effects.tolerance).all()  # 2.8-3.4 of z 4.25


# --- the stage ---


def test_the_stage_writes_every_difference_then_fails_naming_them(tmp_path):
    ref, run = _pair(tmp_path)
    _edit(run, "verdict.csv", 0, verdict="fails")
    out = tmp_path / "compare.csv"
    stage("compare", "table", "--reference", ref, "--tables", run, "--out", out)
    r = stage("compare", "check", "--out", out, check=False)
    assert r.returncode == 1 and "verdict.csv [claim=C1] verdict: reference holds, run fails" in r.stderr
    assert out.exists() and len(failures(pd.read_csv(out))) == 1  # kept on disk
    shutil.copy(ref / "verdict.csv", run / "verdict.csv")
    stage("compare", "table", "--reference", ref, "--tables", run, "--out", out)
    assert stage("compare", "check", "--out", out).returncode == 0


@pytest.mark.parametrize("name", ["tiny", "quick", "paper_offline"])
def test_every_shipped_reference_holds_the_tables_compare_reads(name):
    for table in REFERENCE_TABLES:
        assert (REFS / name / "tables" / table).stat().st_size > 0
    assert any((REFS / name / "figures").glob("*.png"))


# --- mechanism.csv (the controls' table): effects, what each control reproduces, explanations ---


def _mech(d):
    return pd.read_csv(d / MECHANISM)


def test_a_mechanism_effect_beyond_its_standard_errors_fails(tmp_path):
    from noisefa.analysis.compare import _mechanism_se

    ref, run = _copy("quick", tmp_path / "ref"), _copy("quick", tmp_path / "run")
    m = _mech(run)
    se = _mechanism_se(m, "control")
    row = se[np.isfinite(se) & (se > 0)].index[0]
    m.loc[row, "control_effect"] += 8 * math.sqrt(2) * se[row]  # 8 combined SEs: beyond z for any m here
    m.to_csv(run / MECHANISM, index=False)
    bad = failures(compare(ref, run))
    assert list(bad.table) == [MECHANISM] and list(bad.column) == ["control_effect"]
    assert f"control={m.control[row]}" in bad.key.iloc[0]


def test_what_a_control_reproduces_changes_only_near_the_level(tmp_path):
    ref, run = _copy("quick", tmp_path / "ref"), _copy("quick", tmp_path / "run")
    m = _mech(run)
    far = m.index[(m.control_p < 1e-3) & (m.vs_fa_w_p > 0.6) & (m.reproduces == "full")][0]
    m.loc[far, "reproduces"] = "partial"
    m.to_csv(run / MECHANISM, index=False)
    bad = failures(compare(ref, run))
    assert list(bad.column) == ["reproduces"] and "neither p near the level in both runs" in bad.rule.iloc[0]
    # the same change with the control's p at 0.03 in both runs (near 0.05): borderline, passes
    for d in (ref, run):
        t = _mech(d)
        t.loc[far, "control_p"] = 0.03
        t.to_csv(d / MECHANISM, index=False)
    t = compare(ref, run)
    assert failures(t).empty
    assert t[(t.table == MECHANISM) & (t.column == "reproduces") & t.rule.str.startswith("borderline")].shape[0] == 1


def test_an_explanation_that_changes_alone_fails_and_one_side_is_noted(tmp_path):
    ref, run = _copy("quick", tmp_path / "ref"), _copy("quick", tmp_path / "run")
    m = _mech(run)
    cell = (m.claim == m.claim[0]) & (m.dataset == m.dataset[0]) & (m.depth == m.depth[0]) & (m.measure == m.measure[0])
    m.loc[cell, "explanation"] = "not explained" if m.explanation[0] != "not explained" else "alignment"
    m.to_csv(run / MECHANISM, index=False)
    bad = failures(compare(ref, run))
    assert list(bad.column) == ["explanation"] and bad.rule.iloc[0] == "changed while none of its controls' rows did"
    (run / MECHANISM).unlink()
    t = compare(ref, run)
    assert failures(t).empty and list(t[t.table == MECHANISM].rule) == ["only in the reference: not compared"]


def test_the_cnn_s_tables_are_compared_and_a_real_change_fails(tmp_path):
    """The CNN's own tables (noisefa.analysis.family_study) by the rules of their MLP twins: a verdict that
    changes alone, a cell mean moved by many standard errors, a mechanism effect moved far, each fails
    and is named; only one side having them is a note."""
    ref = _copy("tiny", tmp_path / "ref")
    t = compare(ref, ref)
    assert failures(t).empty and {CNN_CLAIMS, CNN_VERDICT, CNN_MECHANISM, CNN_SUMMARY} <= set(t.table)
    run = _copy("tiny", tmp_path / "run")
    _edit(run, CNN_VERDICT, lambda v: v.claim == "C6", verdict="holds")
    s = pd.read_csv(run / CNN_SUMMARY)
    cell = (s.condition == "bp") & (s.experiment == "cnn")
    s.loc[cell, "final_test_acc"] += 0.5  # every network of the cell: a mean far outside its tolerance
    s.to_csv(run / CNN_SUMMARY, index=False)
    m = pd.read_csv(run / CNN_MECHANISM)
    m.loc[0, "control_effect"] += 100 * max(float(m.loc[0, "control_se"]), 1e-3)
    m.to_csv(run / CNN_MECHANISM, index=False)
    bad = failures(compare(ref, run))
    assert set(bad.table) == {CNN_VERDICT, CNN_SUMMARY, CNN_MECHANISM}
    assert "family=cnn | claim=C6" in set(bad[bad.table == CNN_VERDICT].key)
    assert (bad[bad.table == CNN_SUMMARY].column == "final_test_acc").any()
    (run / CNN_CLAIMS).unlink()
    t = compare(ref, run)
    assert CNN_CLAIMS in set(t[t.rule.str.startswith("only in the reference")].table)
