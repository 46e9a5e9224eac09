"""noisefa.compare on constructed tables: equal tables pass, and each kind of change fails where it
must (a verdict, a row's holds, an effect beyond its share of the confidence interval, a cell mean
beyond its standard errors, a missing row) and is excused only where the rule says (a p-value near
its threshold); the stage writes every difference before it fails."""

import shutil

import frames
import pandas as pd
import pytest
from pipeline_utils import REPO, stage

from noisefa.compare import REFERENCE_TABLES, TOLERANCES, VIEWS, compare, failures


def _tables(d):
    d.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"claim": ["C1", "C2"], "verdict": ["holds", "mixed"]}).to_csv(d / "verdict.csv", index=False)
    pd.DataFrame({
        "claim": ["C1", "C1", "C2", "C2"], "figure": ["1e"] * 4, "dataset": ["d"] * 4, "depth": [2] * 4,
        "comparison": ["a", "b", "c", "e"], "n": [10] * 4, "effect": [-5.0, 1.0, 0.3, 0.2],
        "ci_low": [-7.0, 0.0, 0.1, 0.1], "ci_high": [-3.0, 2.0, 0.5, 0.3], "primary": [True, False, True, True],
        "p_value": [1e-6, 0.5, 1e-6, 0.004], "p_holm": [1e-6, 0.5, 2e-6, 0.004],  # row e: 4x alpha, borderline
        "rule": ["less", "undetected", "greater", "greater"], "holds": [True, True, True, False],
    }).to_csv(d / "claims.csv", index=False)  # fmt: skip
    pd.DataFrame({"dataset": ["d"] * 2, "condition": ["bp", "fa_w"], "depth": [2, 2], "mean": [0.9, 0.85],
                  "std": [0.01, 0.02], "n": [4, 4]}).to_csv(d / "table1.csv", index=False)  # fmt: skip
    frames.summary([{"experiment": "main", "dataset": "d", "depth": 2, "condition": c, "seed": s,
                     "final_test_acc": 0.8 + 0.01 * s, "converged_test_acc": 0.8 + 0.002 * s, "auc_test_acc": 0.7 + 0.004 * s,
                     "initial_last_layer_angle_deg": 90.0 + s, "final_last_layer_angle_deg": 50.0 + s}
                    for c in ("bp", "fa_w") for s in range(4)]).to_csv(d / "summary.csv", index=False)  # fmt: skip
    return d


def _change(d, table, row, col, value):
    t = pd.read_csv(d / table)
    t[col] = t[col].astype(object)
    t.loc[row, col] = value
    t.to_csv(d / table, index=False)


def test_equal_tables_are_within_every_tolerance(tmp_path):
    ref, run = _tables(tmp_path / "ref"), _tables(tmp_path / "run")
    t = compare(ref, run)
    assert failures(t).empty and len(t) > 0
    assert set(t.table) == {VIEWS[tol.view][0] for tol in TOLERANCES} == set(REFERENCE_TABLES)
    effects = t[(t.table == "claims.csv") & (t.column == "effect")]
    assert not effects.key.str.contains("comparison=b").any()  # primary rows only
    cells = t[(t.table == "summary.csv") & (t.column == "final_test_acc")]
    assert len(cells) == 2  # cell means, not single networks


# se of final_test_acc over seeds 0..3 (0.80, 0.81, 0.82, 0.83): sd 0.0129 / 2 = 0.00645; 5 se = 0.032
@pytest.mark.parametrize(
    "table, row, col, value, within",
    [
        ("verdict.csv", 0, "verdict", "mixed", False),  # C1's rows are far from their thresholds
        ("verdict.csv", 1, "verdict", "holds", True),  # C2 rests on row e (p = 4 x alpha): borderline
        ("claims.csv", 0, "holds", False, False),
        ("claims.csv", 3, "holds", True, True),  # row e itself
        ("claims.csv", 0, "effect", -5.0 + 2.9, True),  # 1.5 half-widths of 2.0 = 3.0
        ("claims.csv", 0, "effect", -5.0 + 3.1, False),
        ("claims.csv", 2, "effect", 0.3 + 0.31, False),  # the same move is more than 1.5 x 0.2
        ("claims.csv", 1, "effect", 9.0, True),  # a row only shown beside the verdict: not compared
        ("claims.csv", 0, "n", 9, False),
        ("table1.csv", 1, "mean", 0.85 + 0.049, True),  # 5 x 0.02 / 2 = 0.05
        ("table1.csv", 1, "mean", 0.85 + 0.051, False),
        ("summary.csv", 3, "final_test_acc", 0.83 + 0.12, True),  # one network moves the mean by 0.03 < 0.032
        ("summary.csv", 3, "final_test_acc", 0.83 + 0.14, False),  # 0.035
    ],
)
def test_each_kind_of_change(tmp_path, table, row, col, value, within):
    ref, run = _tables(tmp_path / "ref"), _tables(tmp_path / "run")
    _change(run, table, row, col, value)
    t = compare(ref, run)
    bad = failures(t)
    assert bad.empty == within, bad
    if within and table == "verdict.csv":
        assert t.rule.str.startswith("borderline:").sum() == 1  # excused, and said so


def test_a_row_on_one_side_only_is_a_difference(tmp_path):
    ref, run = _tables(tmp_path / "ref"), _tables(tmp_path / "run")
    t = pd.read_csv(run / "verdict.csv")
    pd.concat([t, pd.DataFrame({"claim": ["C3"], "verdict": ["fails"]})]).to_csv(run / "verdict.csv", index=False)
    bad = failures(compare(ref, run))
    assert list(bad.key) == ["claim=C3"] and list(bad.rule) == ["row only in the run"]


def test_the_stage_writes_every_difference_then_fails_naming_them(tmp_path):
    ref, run = _tables(tmp_path / "ref"), _tables(tmp_path / "run")
    _change(run, "verdict.csv", 0, "verdict", "fails")
    out = tmp_path / "compare.csv"
    stage("compare", "table", "--reference", ref, "--tables", run, "--out", out)
    r = stage("compare", "check", "--out", out, check=False)
    assert r.returncode == 1 and "verdict.csv [claim=C1] verdict: reference holds, run fails" in r.stderr
    assert out.exists() and len(failures(pd.read_csv(out))) == 1  # kept on disk
    shutil.copy(ref / "verdict.csv", run / "verdict.csv")
    stage("compare", "table", "--reference", ref, "--tables", run, "--out", out)
    assert stage("compare", "check", "--out", out).returncode == 0


@pytest.mark.parametrize("name", ["tiny", "quick"])
def test_every_shipped_reference_holds_the_tables_compare_reads(name):
    for table in REFERENCE_TABLES:
        assert (REPO / "reference" / name / "tables" / table).stat().st_size > 0
    assert any((REPO / "reference" / name / "figures").glob("*.png"))
