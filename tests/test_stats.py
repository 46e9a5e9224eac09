"""Statistics helpers: known inputs give known statistics and p-values."""

import math
import warnings

import numpy as np
import pytest
from scipy import stats as sps

from noisefa.analysis import stats


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
    assert r.p_value == pytest.approx(0.02131, abs=1e-4) and r.effect == -3
    assert r.n == 6  # both groups: the networks in the test
    assert stats.two_sample_t([1, 2, 3, float("nan")], [4, 5]).n == 5


def test_paired_t_and_nan_handling():
    r = stats.paired_t([2, 3, 5, float("nan")], [1, 2, 3, 0])
    assert r.n == 3 and r.effect == pytest.approx(4 / 3)
    assert stats.one_sample_t([1.0, 2.0, float("nan"), 3.0], 0).n == 3


def test_wilcoxon_exact_small_sample():
    r = stats.wilcoxon_vs(np.arange(1, 11) * 0.01 + 0.1, 0.1)  # all 10 above: exact p = 2 / 2^10
    assert r.p_value == pytest.approx(2 / 1024) and r.statistic == 0
    assert stats.wilcoxon_vs([0.1] * 5, 0.1).p_value == 1.0


def test_significance_threshold():
    assert stats.significant(1e-4, 0.001) and not stats.significant(0.01, 0.001)
    assert not stats.significant(0.001, 0.001)  # strictly below
    assert not stats.significant(float("nan"), 0.001)  # no test is never significant


def test_mean_ci_against_a_known_t_interval():
    # n = 4, mean 2.5, sd 1.2910: half-width t(0.975, 3) * sd / 2 = 3.182446 * 0.6454972 = 2.0542603
    m, lo, hi = stats.mean_ci([1, 2, 3, 4, float("nan")])
    assert m == 2.5 and abs((hi - lo) / 2 - 2.0542603) < 1e-6
    assert np.isnan(stats.mean_ci([1.0])[1]) and np.isnan(stats.mean_ci([])[0])


def test_wilcoxon_paired_known_values():
    a = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    b = a - np.array([0.5, 1.5, 2.5, -0.1, 3.5, 4.5])
    r = stats.wilcoxon_paired(a, b)
    # differences: one negative of the smallest rank -> W = 1; exact two-sided p = 2 * 2/64
    assert r.statistic == 1.0 and r.n == 6 and abs(r.p_value - 0.0625) < 1e-12
    assert r.effect == np.median(a - b)
    same = stats.wilcoxon_paired(a, a)
    assert same.p_value == 1.0 and same.effect == 0.0


def test_confidence_intervals_of_the_t_tests():
    r = stats.one_sample_t([1, 2, 3, 4, 5], 3)  # mean 3, se sqrt(2.5/5), t(4, 0.975) = 2.776445
    assert r.ci_low == pytest.approx(-2.776445 * math.sqrt(0.5), abs=1e-5) and r.ci_high == pytest.approx(-r.ci_low)
    r = stats.two_sample_t([1, 2, 3], [4, 5, 6])  # diff -3, pooled se sqrt(2/3), t(4, 0.975)
    assert (r.ci_low, r.ci_high) == pytest.approx((-3 - 2.776445 * math.sqrt(2 / 3), -3 + 2.776445 * math.sqrt(2 / 3)), abs=1e-5)


def test_tost_known_values():
    # mean 0, sd sqrt(0.625), se 0.353553: t = (0 + 2) / se = 5.656854 on 4 df, p = 0.0024063
    r = stats.tost_one_sample([-1, 0, 1, 0.5, -0.5], 0, margin=2)
    assert r.p_value == pytest.approx(0.0024063, abs=1e-6) and abs(r.statistic) == pytest.approx(5.656854, abs=1e-5)
    assert r.ci_high == pytest.approx(2.131847 * 0.353553, abs=1e-5)  # the 90 % interval (t(4, 0.95) = 2.131847)
    assert stats.tost_one_sample([-1, 0, 1, 0.5, -0.5], 0, margin=0.5).p_value > 0.05  # too narrow a margin
    # paired: d = [-0.1, 0.1, -0.2, 0.1], mean -0.025, se 0.075: t = 0.475 / 0.075 = 6.3333 on 3 df
    r = stats.tost_paired([1, 2, 3, 4], [1.1, 1.9, 3.2, 3.9], margin=0.5)
    assert r.effect == pytest.approx(-0.025) and r.p_value == pytest.approx(0.0039799, abs=1e-6)
    far = stats.tost_paired([1, 2, 3, 4], [2.1, 2.9, 4.2, 4.9], margin=0.5)  # a shift of -1: not equivalent
    assert far.p_value > 0.99
    with pytest.raises(ValueError, match="margin"):
        stats.tost_one_sample([1, 2], 0, margin=0)


def test_gap_closed_known_values():
    w, wo, bp = [0.95, 0.96, 0.94], [0.8, 0.81, 0.79], [1.0, 1.01, 0.99]
    r = stats.gap_closed(w, wo, bp, 0.5)  # f = 0.15 / 0.2; L = 0.05, se sqrt(5e-5), Welch df = 4
    assert r.effect == pytest.approx(0.75) and r.statistic == pytest.approx(0.05 / math.sqrt(5e-5))
    assert r.p_value == pytest.approx(0.0010553, abs=1e-6) and r.ci_low < 0.75 < r.ci_high
    half = stats.gap_closed([0.9, 0.91, 0.89], wo, bp, 0.5)  # exactly half: the contrast is 0, p = 0.5
    assert half.effect == pytest.approx(0.5) and half.p_value == pytest.approx(0.5)
    none = stats.gap_closed(w, wo, [0.7, 0.71, 0.69], 0.5)  # BP no better than w/o: no gap to close
    assert math.isnan(none.effect) and none.p_value == 1.0


def test_chi2_uniform_sums_independent_networks():
    r = stats.chi2_uniform([[10, 10, 10], [20, 5, 5]])  # 0 + (100 + 25 + 25) / 10 = 15 on 2 * 2 df
    assert r.statistic == 15.0 and r.n == 60 and r.p_value == pytest.approx(0.0047012, abs=1e-6)
    assert r.effect == pytest.approx(math.sqrt((15 - 4) / 60))  # unbiased: sqrt((χ² - df) / N), not sqrt(15 / 60)
    assert stats.chi2_uniform([[100, 100, 100, 100]]).p_value == 1.0


def test_holm_step_down():
    np.testing.assert_allclose(stats.holm([0.01, 0.04, 0.03, np.nan]), [0.03, 0.06, 0.06, np.nan])
    np.testing.assert_allclose(stats.holm([0.5, 0.9]), [1.0, 1.0])
    assert stats.holm([]).shape == (0,)


def test_chi2_equivalence_needs_small_chi2_against_the_noncentral_margin():
    rng = np.random.default_rng(0)
    uniform = np.stack([np.bincount(rng.integers(0, 10, 1000), minlength=10) for _ in range(5)])
    r = stats.chi2_uniform_equivalence(uniform, 0.1)  # lambda = 5000 * 0.01 = 50 on 45 df
    assert r.p_value < 0.05 and r.statistic == stats.chi2_uniform(uniform).statistic
    biased = uniform.copy()
    biased[:, 0] += 300  # w ~ 0.26 per network
    assert stats.chi2_uniform_equivalence(biased, 0.1).p_value > 0.5
    from scipy import stats as sps

    assert r.p_value == pytest.approx(sps.ncx2.cdf(r.statistic, 45, 50.0))


def test_gap_closed_interval_is_not_zero_when_the_contrast_has_no_variance():
    # fraction 1: L = mean(w) - mean(bp) has no variance (both constant), f = 0.3 / 0.4 does (through wo)
    r = stats.gap_closed([0.9, 0.9, 0.9], [0.5, 0.6, 0.7], [1.0, 1.0, 1.0], 1.0)
    assert r.effect == pytest.approx(0.75) and r.ci_low < 0.75 < r.ci_high


def test_unbiased_w_is_zero_for_uniform_counts_with_an_interval_from_zero():
    r = stats.chi2_uniform([[100, 100, 100, 100], [50, 50, 50, 50]])
    assert r.statistic == 0 and r.effect == 0 and r.ci_low == 0 and r.ci_high == 0  # sqrt(χ²/N) would be 0 too
    # counts as uniform as chance makes them: χ² = df, the biased w would read sqrt(df / N) = 0.095
    rng = np.random.default_rng(0)
    counts = np.stack([np.bincount(rng.integers(0, 10, 1000), minlength=10) for _ in range(10)])
    r = stats.chi2_uniform(counts)
    assert r.effect < 0.02 and r.ci_low == 0 and 0 < r.ci_high < 0.1
    assert math.sqrt(r.statistic / r.n) > 0.09  # what the biased estimate printed
    eq = stats.chi2_uniform_equivalence(counts, 0.1)
    assert eq.effect == r.effect and eq.ci_low == 0 and 0 < eq.ci_high < r.ci_high  # 90 % is narrower


def test_w_interval_inverts_the_noncentral_chi2():
    from scipy import stats as sps

    r = stats.chi2_uniform([[10, 10, 10], [20, 5, 5]])  # χ² = 15 on 4 df, N = 60
    assert r.effect == pytest.approx(math.sqrt(11 / 60)) and r.ci_low < r.effect < r.ci_high
    assert sps.ncx2.sf(15, 4, 60 * r.ci_low**2) == pytest.approx(0.025, abs=1e-8)
    assert sps.ncx2.cdf(15, 4, 60 * r.ci_high**2) == pytest.approx(0.025, abs=1e-8)
    eq = stats.chi2_uniform_equivalence([[10, 10, 10], [20, 5, 5]], 0.5)
    assert sps.ncx2.sf(15, 4, 60 * eq.ci_low**2) == pytest.approx(0.05, abs=1e-8)  # the 90 % interval
    assert sps.ncx2.cdf(15, 4, 60 * eq.ci_high**2) == pytest.approx(0.05, abs=1e-8)
    assert eq.p_value == pytest.approx(sps.ncx2.cdf(15, 4, 60 * 0.25))  # the test itself is unchanged
    # the 90 % upper bound is below the margin exactly when the equivalence test rejects at 0.05
    for margin in (0.6, 0.7, 0.8, 1.0):
        e = stats.chi2_uniform_equivalence([[10, 10, 10], [20, 5, 5]], margin)
        assert (e.ci_high < margin) == (e.p_value < 0.05)
    # nothing counted: not computable; a count: never a NaN interval
    assert math.isnan(stats.chi2_uniform([[0, 0, 0]]).p_value) and math.isnan(
        stats.chi2_uniform_equivalence([[0, 0]], 0.1).p_value
    )
    one = stats.chi2_uniform([[1, 0]])
    assert math.isfinite(one.ci_low) and math.isfinite(one.ci_high)


def test_w_interval_covers_the_true_w():
    # bias spread over the classes (p = 1/C + w z, C Σ z² = 1), 5 networks x 1,000 probes, 200 draws.
    # The noncentral χ² is the large-sample law of Pearson's χ²; with the bias in one class its variance
    # is larger and the interval covers less (about 0.90 for w = 0.2 at 5 x 200 probes).
    w, C = 0.1, 10
    z = np.linspace(-1, 1, C)
    p = 1 / C + w * z / math.sqrt(C * np.sum(z**2))
    rng = np.random.default_rng(0)
    hits95 = hits90 = 0
    for _ in range(200):
        counts = rng.multinomial(1000, p, size=5)
        r, e = stats.chi2_uniform(counts), stats.chi2_uniform_equivalence(counts, 0.5)
        hits95 += r.ci_low <= w <= r.ci_high
        hits90 += e.ci_low <= w <= e.ci_high
    for hits, level in ((hits95, 0.95), (hits90, 0.90)):
        bound = 3 * math.sqrt(level * (1 - level) / 200)  # three binomial standard errors
        assert abs(hits / 200 - level) < bound, (hits, level)


def test_tost_on_fewer_than_two_values_is_not_computable():
    for values in ([], [0.1]):
        r = stats.tost_one_sample(values, 0, margin=1)
        assert math.isnan(r.p_value) and math.isnan(r.ci_low) and math.isnan(r.ci_high) and r.n == len(values)
    assert stats.tost_one_sample([0.1], 0, margin=1).effect == pytest.approx(0.1)
    assert math.isnan(stats.tost_paired([1.0, float("nan")], [1.0, 2.0], margin=1).p_value)  # one pair
    assert not stats.significant(stats.tost_one_sample([0.1], 0, margin=1).p_value, 0.05)


def test_tost_with_zero_spread_is_the_limit_of_the_t_tests():
    inside = stats.tost_one_sample([0.2, 0.2, 0.2], 0, margin=0.5)
    assert inside.p_value == 0.0 and inside.ci_low == inside.ci_high == pytest.approx(0.2)
    assert math.isnan(inside.statistic)
    assert stats.tost_one_sample([0.5, 0.5], 0, margin=0.5).p_value == 1.0  # on the margin: not inside
    assert stats.tost_paired([1, 2, 3], [2, 3, 4], margin=0.5).p_value == 1.0  # a constant shift of -1


def test_one_sided_t_tests_against_scipy():
    from scipy import stats as sps

    two = stats.two_sample_t([1, 2, 3], [4, 5, 6])
    less = stats.two_sample_t([1, 2, 3], [4, 5, 6], alternative="less")
    greater = stats.two_sample_t([1, 2, 3], [4, 5, 6], alternative="greater")
    assert less.p_value == pytest.approx(0.02131 / 2, abs=1e-4) and greater.p_value == pytest.approx(1 - less.p_value)
    assert less.statistic == two.statistic and less.effect == two.effect and less.n == 6
    assert (less.ci_low, less.ci_high) == (two.ci_low, two.ci_high)  # the two-sided 95 % interval
    assert less.test == "two-sample t (one-sided, less)" and two.test == "two-sample t"
    w = stats.two_sample_t([1, 2, 3, 4], [4, 5, 7], equal_var=False, alternative="greater")
    assert w.p_value == pytest.approx(sps.ttest_ind([1, 2, 3, 4], [4, 5, 7], equal_var=False, alternative="greater").pvalue)

    one = stats.one_sample_t([1, 2, 3, 4, 5], 1, alternative="greater")
    assert one.p_value == pytest.approx(0.0474 / 2, abs=1e-4)
    assert (one.ci_low, one.ci_high) == pytest.approx((2 - 2.776445 * math.sqrt(0.5), 2 + 2.776445 * math.sqrt(0.5)), abs=1e-5)
    a, b = [2.0, 3.0, 5.0, 4.0], [1.0, 2.0, 3.0, 4.5]
    for alt in ("less", "greater", "two-sided"):
        r = stats.paired_t(a, b, alternative=alt)
        assert r.p_value == pytest.approx(sps.ttest_rel(a, b, alternative=alt).pvalue)
        assert (r.ci_low, r.ci_high) == pytest.approx((stats.paired_t(a, b).ci_low, stats.paired_t(a, b).ci_high))
    with pytest.raises(ValueError, match="alternative"):
        stats.two_sample_t([1, 2], [3, 4], alternative="bigger")


def test_paired_ratio_interval_ends_where_the_paired_t_test_reaches_its_level():
    rng = np.random.default_rng(0)
    b = 1.0 + 0.3 * rng.standard_normal(12)
    a = 0.6 * b + 0.2 * rng.standard_normal(12)
    ratio, lo, hi = stats.paired_ratio(a, b)
    assert ratio == pytest.approx(a.mean() / b.mean())
    assert lo < ratio < hi
    for end in (lo, hi):  # Fieller's interval: the rho at which a - rho b is just significant at 5 %
        assert sps.ttest_1samp(a - end * b, 0.0).pvalue == pytest.approx(0.05, abs=1e-9)
    inside = sps.ttest_1samp(a - ratio * b, 0.0).pvalue
    assert inside == pytest.approx(1.0)


def test_paired_ratio_is_unbounded_when_the_denominator_is_not_significant():
    rng = np.random.default_rng(1)
    b = 0.05 + rng.standard_normal(8)  # mean indistinguishable from 0
    a = rng.standard_normal(8)
    assert sps.ttest_1samp(b, 0.0).pvalue > 0.05
    ratio, lo, hi = stats.paired_ratio(a, b)
    assert np.isfinite(ratio) and np.isnan(lo) and np.isnan(hi)
    assert np.isnan(stats.paired_ratio([1.0], [2.0])[0])


@pytest.mark.parametrize(
    "run, p",
    [
        (lambda: stats.one_sample_t([1.0], 0.0), math.nan),  # one value: no spread to test against
        (lambda: stats.paired_t([1.0], [2.0], "greater"), math.nan),
        (lambda: stats.two_sample_t([1.0], [2.0]), math.nan),
        (lambda: stats.two_sample_t([1.0], [2.0, 3.0, 4.0], equal_var=False), math.nan),  # Welch: a variance of one value
        # Student's pooled variance takes one value in a group: t = -2 / sqrt(1 * (1 + 1/3)), df 2
        (lambda: stats.two_sample_t([1.0], [2.0, 3.0, 4.0]), 0.2254033307585),
        (lambda: stats.one_sample_t([1.0, 1.0, 1.0], 0.0, "greater"), 0.0),  # no spread: the limit, t = inf
    ],
)
def test_the_edge_cases_give_nan_or_the_limit_and_no_warning(run, p):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a claims log must not fill with scipy's RuntimeWarnings
        r = run()
    assert (math.isnan(r.p_value) and math.isnan(p)) or r.p_value == pytest.approx(p, abs=1e-12)
