"""One verdict per claim: the written rule on constructed claims tables."""

import pandas as pd

from noisefa.claims import COLUMNS
from noisefa.verdict import STATEMENTS, markdown, verdict_table


def _claim_row(claim, holds, primary=True, comparison="x", p=0.0001, dataset="d", depth=2):
    base = {c: None for c in COLUMNS}
    return {**base, "claim": claim, "figure": "f", "dataset": dataset, "depth": depth, "comparison": comparison,
            "test": "two-sample t", "n": 10, "statistic": 5.0, "p_value": p, "effect": 0.1, "ci_low": 0.05, "ci_high": 0.15,
            "p_holm": p, "holds": holds, "rule": "greater", "primary": primary, "noise_set": "n", "protocol": "fixed 10k",
            "batchnorm": False}  # fmt: skip


def test_the_rule_holds_fails_mixed_not_computed():
    claims = pd.DataFrame(
        [
            _claim_row("C1", True),
            _claim_row("C1", False, primary=False),  # a shown row never decides
            _claim_row("C2", False),
            _claim_row("C3", True, comparison="fast", dataset="a"),
            _claim_row("C3", False, comparison="slow", dataset="b", p=0.3),
        ]
    )
    v = verdict_table(claims, {"noise": "n"}).set_index("claim")
    assert list(v.index) == list(STATEMENTS) and len(v) == 19
    assert v.loc["C1", "verdict"] == "holds" and v.loc["C1", "rows"] == 1
    assert v.loc["C2", "verdict"] == "fails"
    assert v.loc["C3", "verdict"] == "mixed" and "1/2 primary rows hold" in v.loc["C3", "evidence"]
    assert "slow [b d2]" in v.loc["C3", "evidence"] and "p=0.3" in v.loc["C3", "evidence"]  # names what does not hold
    assert v.loc["C16", "verdict"] == "not computed" and v.loc["B1", "verdict"] == "not computed"
    assert v.loc["C1", "noise_set"] == "n" and v.loc["C1", "protocol"] == "fixed 10k" and not v.loc["C1", "batchnorm"]


def test_markdown_has_one_line_per_claim_and_escapes_bars():
    claims = pd.DataFrame([_claim_row("C7", True, comparison="||W-B||")])
    md = markdown(verdict_table(claims))
    lines = [line for line in md.splitlines() if line.startswith("| C") or line.startswith("| B")]
    assert len(lines) == 19 and all(line.count(" | ") == 4 for line in lines)
    assert "\\|\\|W-B\\|\\|" in md


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
