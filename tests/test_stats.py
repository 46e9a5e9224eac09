"""Statistics helpers: known inputs give known statistics and p-values."""

import math

import numpy as np
import pytest

from noisefa import stats


def test_one_sample_t_known_values():
    r = stats.one_sample_t([1, 2, 3, 4, 5], 3)
    assert r.statistic == 0 and r.p_value == pytest.approx(1.0) and r.n == 5 and r.effect == 0
    # mean 3, sd sqrt(2.5), n 5 vs 1: t = 2 / (sqrt(2.5)/sqrt(5)) = 2*sqrt(2)
    r = stats.one_sample_t([1, 2, 3, 4, 5], 1)
    assert r.statistic == pytest.approx(2 * math.sqrt(2))
    assert r.p_value == pytest.approx(0.0474, abs=1e-4)  # t(4) = 2.828, two-sided


def test_two_sample_t_known_values():
    r = stats.two_sample_t([1, 2, 3], [4, 5, 6])
    # pooled sd 1, se = sqrt(2/3): t = -3 / sqrt(2/3) = -3.674; df 4 -> p = 0.0213
    assert r.statistic == pytest.approx(-3 / math.sqrt(2 / 3))
    assert r.p_value == pytest.approx(0.02131, abs=1e-4) and r.effect == -3 and r.n == 3


def test_paired_t_and_nan_handling():
    r = stats.paired_t([2, 3, 5, float("nan")], [1, 2, 3, 0])
    assert r.n == 3 and r.effect == pytest.approx(4 / 3)
    assert stats.one_sample_t([1.0, 2.0, float("nan"), 3.0], 0).n == 3


def test_wilcoxon_exact_small_sample():
    r = stats.wilcoxon_vs(np.arange(1, 11) * 0.01 + 0.1, 0.1)  # all 10 above: exact p = 2 / 2^10
    assert r.p_value == pytest.approx(2 / 1024) and r.statistic == 0
    assert stats.wilcoxon_vs([0.1] * 5, 0.1).p_value == 1.0


def test_significance_threshold():
    assert stats.significant(stats.TestResult("x", 10, 5.0, 1e-4, 1.0))
    assert not stats.significant(stats.TestResult("x", 10, 1.0, 0.01, 1.0))
    assert not stats.significant(stats.TestResult("x", 10, float("nan"), float("nan"), 0.0))


def test_wilcoxon_paired_known_values():
    a = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    b = a - np.array([0.5, 1.5, 2.5, -0.1, 3.5, 4.5])
    r = stats.wilcoxon_paired(a, b)
    # differences: one negative of the smallest rank -> W = 1; exact two-sided p = 2 * 2/64
    assert r.statistic == 1.0 and r.n == 6 and abs(r.p_value - 0.0625) < 1e-12
    assert r.effect == np.median(a - b)
    same = stats.wilcoxon_paired(a, a)
    assert same.p_value == 1.0 and same.effect == 0.0
