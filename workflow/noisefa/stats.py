"""The paper's statistical tests, returning one uniform record per comparison.

Every test reports n, the statistic, the two-sided p-value and an effect (the mean
difference, in the measured unit), so a claims table row is built the same way
whatever the test. scipy does the arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as sps


@dataclass(frozen=True)
class TestResult:
    test: str
    n: int
    statistic: float
    p_value: float
    effect: float

    def as_dict(self) -> dict:
        return asdict(self)


def _clean(values) -> np.ndarray:
    a = np.asarray(values, dtype=float)
    return a[np.isfinite(a)]


def one_sample_t(values, popmean: float) -> TestResult:
    """Is the mean of ``values`` different from ``popmean``? (effect: mean - popmean)"""
    a = _clean(values)
    r = sps.ttest_1samp(a, popmean)
    return TestResult("one-sample t", len(a), float(r.statistic), float(r.pvalue), float(a.mean() - popmean))


def two_sample_t(a, b, equal_var: bool = True) -> TestResult:
    """Student's (or Welch's) t-test of independent samples (effect: mean(a) - mean(b))."""
    a, b = _clean(a), _clean(b)
    r = sps.ttest_ind(a, b, equal_var=equal_var)
    name = "two-sample t" if equal_var else "Welch t"
    return TestResult(name, min(len(a), len(b)), float(r.statistic), float(r.pvalue), float(a.mean() - b.mean()))


def paired_t(a, b) -> TestResult:
    """Paired t-test (the same networks measured twice; effect: mean(a - b))."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b)
    r = sps.ttest_rel(a[ok], b[ok])
    return TestResult("paired t", int(ok.sum()), float(r.statistic), float(r.pvalue), float((a[ok] - b[ok]).mean()))


def wilcoxon_vs(values, constant: float) -> TestResult:
    """Wilcoxon signed-rank test of ``values - constant`` (effect: median - constant)."""
    d = _clean(values) - constant
    if np.all(d == 0):
        return TestResult("Wilcoxon signed-rank", len(d), 0.0, 1.0, 0.0)
    r = sps.wilcoxon(d)
    return TestResult("Wilcoxon signed-rank", len(d), float(r.statistic), float(r.pvalue), float(np.median(d)))


def wilcoxon_paired(a, b) -> TestResult:
    """Wilcoxon signed-rank test of paired samples (the same probes twice; effect: median(a - b))."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b)
    d = a[ok] - b[ok]
    if np.all(d == 0):
        return TestResult("Wilcoxon signed-rank (paired)", len(d), 0.0, 1.0, 0.0)
    r = sps.wilcoxon(d)
    return TestResult("Wilcoxon signed-rank (paired)", len(d), float(r.statistic), float(r.pvalue), float(np.median(d)))


def significant(result: TestResult, alpha: float = 0.001) -> bool:
    return math.isfinite(result.p_value) and result.p_value < alpha
