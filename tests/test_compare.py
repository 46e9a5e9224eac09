"""noisefa.compare on constructed tables: equal tables pass, and each kind of change fails where it
must (a verdict, an effect beyond its share of the confidence interval, a missing row, Table 1, a
network's accuracy); the stage writes every difference before it fails."""

import shutil

import frames
import pandas as pd
import pytest
from pipeline_utils import REPO, stage

from noisefa.compare import TOLERANCES, compare, failures


def _tables(d):
    d.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"claim": ["C1", "C2"], "verdict": ["holds", "mixed"]}).to_csv(d / "verdict.csv", index=False)
    pd.DataFrame({
        "claim": ["C1", "C1", "C2"], "figure": ["1e"] * 3, "dataset": ["d"] * 3, "depth": [2, 2, 2],
        "comparison": ["a", "b", "c"], "n": [10, 10, 10], "effect": [-5.0, 1.0, 0.3],
        "ci_low": [-7.0, 0.0, 0.1], "ci_high": [-3.0, 2.0, 0.5], "primary": [True, False, True],
    }).to_csv(d / "claims.csv", index=False)  # fmt: skip
    pd.DataFrame({"dataset": ["d"] * 2, "condition": ["bp", "fa_w"], "depth": [2, 2], "mean": [0.9, 0.85],
                  "std": [0.01, 0.02]}).to_csv(d / "table1.csv", index=False)  # fmt: skip
    frames.summary([{"experiment": "main", "dataset": "d", "depth": 2, "condition": c, "seed": s,
                     "final_test_acc": 0.8 + 0.01 * s, "converged_test_acc": 0.8, "auc_test_acc": 0.7,
                     "initial_last_layer_angle_deg": 90.0, "final_last_layer_angle_deg": 50.0}
                    for c in ("bp", "fa_w") for s in range(2)]).to_csv(d / "summary.csv", index=False)  # fmt: skip
    return d


def _change(d, table, row, col, value):
    t = pd.read_csv(d / table)
    t.loc[row, col] = value
    t.to_csv(d / table, index=False)


def test_equal_tables_are_within_every_tolerance(tmp_path):
    ref, run = _tables(tmp_path / "ref"), _tables(tmp_path / "run")
    t = compare(ref, run)
    assert failures(t).empty and len(t) > 0
    assert set(t.table) == {tol.table for tol in TOLERANCES}
    effects = t[(t.table == "claims.csv") & (t.column == "effect")]
    assert not effects.key.str.contains("comparison=b").any()  # effects: primary rows only


@pytest.mark.parametrize(
    "table, row, col, value, within",
    [
        ("verdict.csv", 1, "verdict", "holds", False),  # a verdict changed
        ("claims.csv", 0, "effect", -5.0 + 0.49, True),  # a quarter of the half-width 2.0 is 0.5
        ("claims.csv", 0, "effect", -5.0 + 0.51, False),
        ("claims.csv", 2, "effect", 0.3 + 0.06, False),  # the same 0.06 is more than a quarter of 0.2
        ("claims.csv", 1, "effect", 9.0, True),  # a row only shown beside the verdict: its effect is not compared
        ("claims.csv", 0, "n", 9, False),
        ("table1.csv", 1, "mean", 0.85 + 0.006, False),
        ("table1.csv", 1, "mean", 0.85 + 0.004, True),
        ("summary.csv", 3, "auc_test_acc", 0.7 + 0.02, False),
        ("summary.csv", 3, "final_last_layer_angle_deg", 50.5, True),
    ],
)
def test_each_kind_of_change(tmp_path, table, row, col, value, within):
    ref, run = _tables(tmp_path / "ref"), _tables(tmp_path / "run")
    _change(run, table, row, col, value)
    bad = failures(compare(ref, run))
    assert bad.empty == within, bad


def test_a_row_on_one_side_only_is_a_difference(tmp_path):
    ref, run = _tables(tmp_path / "ref"), _tables(tmp_path / "run")
    t = pd.read_csv(run / "verdict.csv")
    pd.concat([t, pd.DataFrame({"claim": ["C3"], "verdict": ["fails"]})]).to_csv(run / "verdict.csv", index=False)
    bad = failures(compare(ref, run))
    assert list(bad.key) == ["claim=C3"] and list(bad.rule) == ["row only in the right"]


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


def test_every_shipped_reference_holds_the_tables_compare_reads():
    from noisefa.compare import REFERENCE_TABLES

    for name in ("tiny",):
        for table in REFERENCE_TABLES:
            assert (REPO / "reference" / name / "tables" / table).stat().st_size > 0
