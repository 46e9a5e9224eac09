"""One verdict per statement: the written rule on constructed claims tables."""

import pandas as pd

from noisefa.analysis.claims import COLUMNS
from noisefa.analysis.verdict import STATEMENTS, markdown, verdict_table


def _claim_row(claim, holds, primary=True, comparison="x", p=0.0001, dataset="d", depth=2, effect=0.1, direction=None):
    base = {c: None for c in COLUMNS}
    direction = direction or ("supports" if holds else "n.s.")
    return {**base, "claim": claim, "figure": "f", "dataset": dataset, "depth": depth, "comparison": comparison,
            "test": "two-sample t", "n": 10, "statistic": 5.0, "p_value": p, "effect": effect, "ci_low": effect - 0.05,
            "ci_high": effect + 0.05, "p_holm": p, "holds": holds, "direction": direction, "rule": "greater",
            "primary": primary, "noise_set": "n", "protocol": "fixed 10k", "batchnorm": False}  # fmt: skip


def test_the_rule_holds_fails_mixed_contradicted_not_computed():
    claims = pd.DataFrame(
        [
            _claim_row("C1", True),
            _claim_row("C1", False, primary=False, direction="contradicts"),  # a shown row never decides
            _claim_row("C2", False, p=0.2),
            _claim_row("C3", True, comparison="fast", dataset="a"),
            _claim_row("C3", False, comparison="slow", dataset="b", p=0.3),
            _claim_row("C6", True, comparison="d2"),
            _claim_row("C6", False, comparison="d3", p=0.5),
            _claim_row("C6", False, comparison="d4", p=1e-6, effect=-0.2, direction="contradicts"),
            _claim_row("C6", False, comparison="d5", p=1e-3, effect=-0.1, direction="contradicts"),
        ]
    )
    v = verdict_table(claims, {"noise": "n"}).set_index("claim")
    assert list(v.index) == list(STATEMENTS)
    assert v.loc["C1", "verdict"] == "holds" and v.loc["C1", "rows"] == 1
    assert v.loc["C2", "verdict"] == "fails"
    assert v.loc["C3", "verdict"] == "mixed" and "2 primary rows: 1 support, 1 n.s., 0 contradict" in v.loc["C3", "evidence"]
    assert "slow [b d2]" in v.loc["C3", "evidence"] and "p=0.3" in v.loc["C3", "evidence"]  # names what does not hold
    c6 = v.loc["C6"]
    assert c6.verdict == "contradicted" and (c6.supports, c6.not_significant, c6.contradicts) == (1, 1, 2)
    assert c6.evidence.index("strongest contrary: d4 [d d2]") < c6.evidence.index("not holding: d3")  # contrary first
    assert "supporting: d2" in c6.evidence
    assert v.loc["C16", "verdict"] == "not computed" and v.loc["B1", "verdict"] == "not computed"
    assert v.loc["C1", "noise_set"] == "n" and v.loc["C1", "protocol"] == "fixed 10k" and not v.loc["C1", "batchnorm"]


def test_fails_shows_the_row_closest_to_holding():
    claims = pd.DataFrame([_claim_row("C9", False, comparison="far", p=0.9), _claim_row("C9", False, comparison="near", p=0.002)])
    v = verdict_table(claims).set_index("claim").loc["C9"]
    assert v.verdict == "fails" and "closest to holding: near" in v.evidence and "far" not in v.evidence


def test_the_split_statements_have_verdicts_of_their_own():
    """C8: "data->noise leaves the weights" contradicted while "noise->data lowers the angle" holds:
    one statement could never be `fails`, two can be read apart."""
    claims = pd.DataFrame([_claim_row("C8a", False, p=1.0, effect=-28.6, direction="contradicts"), _claim_row("C8b", True),
                           _claim_row("C10a", True), _claim_row("C10b", False, p=1.0, direction="contradicts")])  # fmt: skip
    v = verdict_table(claims).set_index("claim").verdict
    assert (v["C8a"], v["C8b"], v["C10a"], v["C10b"]) == ("contradicted", "holds", "holds", "contradicted")
    assert {"C5", "C5s", "C7a", "C7b", "C8a", "C8b", "C10a", "C10b"} <= set(STATEMENTS) and "C8" not in STATEMENTS


def test_markdown_puts_checks_apart_and_escapes_bars():
    claims = pd.DataFrame([_claim_row("C7a", True, comparison="||W-B||")])
    md = markdown(verdict_table(claims))
    lines = [line for line in md.splitlines() if line.startswith("| C") or line.startswith("| B")]
    assert len(lines) == len(STATEMENTS) and all(line.count(" | ") == 4 for line in lines)
    assert "\\|\\|W-B\\|\\|" in md
    checks = md.index("**Checks and premises")
    assert md.index("| C1 (check) |") > checks and md.index("| C2 (premise) |") > checks and md.index("| C3 |") < checks
    assert "Claims: 1 holds, 0 mixed, 0 fails, 0 contradicted," in md


def test_rows_without_a_test_decide_nothing_and_the_interval_is_labelled_by_test():
    nan = float("nan")
    claims = pd.DataFrame(
        [
            {**_claim_row("C5", False, p=nan), "effect": nan},  # too few networks: no test
            _claim_row("C5", True),
            {**_claim_row("C1", True), "rule": "equivalent", "test": "TOST one-sample (±5)"},
            {**_claim_row("C2", False, p=nan), "effect": nan},
        ]
    )
    v = verdict_table(claims).set_index("claim")
    assert v.loc["C5", "verdict"] == "holds" and "(1 without a test)" in v.loc["C5", "evidence"]
    assert v.loc["C2", "verdict"] == "not computed"
    assert "90% CI" in v.loc["C1", "evidence"] and "95% CI" in v.loc["C5", "evidence"]
    assert "nan..nan" not in v.loc["C5", "evidence"]


def test_no_verdict_prints_a_nan_interval():
    nan = float("nan")
    claims = pd.DataFrame([{**_claim_row("C10b", True), "ci_low": nan, "ci_high": nan}])
    evidence = verdict_table(claims).set_index("claim").loc["C10b", "evidence"]
    assert "no interval" in evidence and "nan" not in evidence
