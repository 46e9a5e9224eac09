"""The paper's statistical tests, and the ones its claims need, as one uniform record.

Every test reports n, the statistic, the p-value, an effect (the mean difference, in the
measured unit) and its confidence interval where one is defined (95 %; 90 % for the equivalence
tests, TOST and the χ² equivalence test, the interval whose inclusion in the margin they test), so
a claims table row is built the same way whatever the test. n is the number of values that enter
the test: for ``two_sample_t`` both groups together (len(a) + len(b): in a claims row, the networks
in the test), for paired tests the pairs, for the χ² tests the counted items.

The t-tests are two-sided unless ``alternative`` ("greater" or "less", scipy's meaning: the effect
is above / below 0) asks for a one-sided p-value; their interval is the two-sided 95 % one in
either case. Equivalence tests report the larger of their two one-sided p-values. A test that
cannot be computed (too few values) has p = NaN, never a p-value that decides; ``holm`` adjusts a
family of p-values and leaves NaN out. scipy does the arithmetic, quietly: its RuntimeWarnings on
those edge cases (one value, no spread) only restate what the NaN or the infinite t already says,
and would repeat in every claims log of a cell where a single network was left.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np
from scipy import optimize
from scipy import stats as sps


@dataclass(frozen=True)
class TestResult:
    test: str
    n: int
    statistic: float
    p_value: float
    effect: float
    ci_low: float = math.nan
    ci_high: float = math.nan

    def as_dict(self) -> dict:
        return asdict(self)


def _clean(values) -> np.ndarray:
    a = np.asarray(values, dtype=float)
    return a[np.isfinite(a)]


ALTERNATIVES = ("two-sided", "greater", "less")


def _alternative(alternative: str) -> str:
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    return alternative


def _ci(r) -> tuple[float, float]:
    """The two-sided 95 % interval of a scipy t-test result computed with alternative="two-sided"."""
    try:
        ci = _quiet(r.confidence_interval, 0.95)
        return float(ci.low), float(ci.high)
    except (ValueError, ZeroDivisionError, AttributeError):
        return math.nan, math.nan


def _quiet(test, arg):
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # the edge cases of the docstring above
        return test(arg)


def _sided(test, alternative: str):
    """``test(alternative)`` for the p-value and, when one-sided, again two-sided for the interval
    (a one-sided test's own interval is a half-line; the report shows the two-sided 95 % one)."""
    r = _quiet(test, _alternative(alternative))
    return r, (r if alternative == "two-sided" else _quiet(test, "two-sided"))


def _name(base: str, alternative: str) -> str:
    return base if alternative == "two-sided" else f"{base} (one-sided, {alternative})"


def one_sample_t(values, popmean: float, alternative: str = "two-sided") -> TestResult:
    """Is the mean of ``values`` different from ``popmean``? (effect: mean - popmean)

    ``alternative``: "two-sided", or "greater" / "less" for a one-sided p-value (H1: the mean is above /
    below ``popmean``). The interval is the two-sided 95 % one either way."""
    a = _clean(values)
    r, r2 = _sided(lambda alt: sps.ttest_1samp(a, popmean, alternative=alt), alternative)
    lo, hi = _ci(r2)
    effect = float(a.mean() - popmean) if len(a) else math.nan
    name = _name("one-sample t", alternative)
    return TestResult(name, len(a), float(r.statistic), float(r.pvalue), effect, lo - popmean, hi - popmean)


def two_sample_t(a, b, equal_var: bool = True, alternative: str = "two-sided") -> TestResult:
    """Student's (or Welch's) t-test of independent samples (effect: mean(a) - mean(b)).

    n is the total number of values, len(a) + len(b) (finite ones): in a claims row, the networks
    in the test. ``alternative``: "two-sided", or "greater" / "less" for a one-sided p-value (H1:
    mean(a) above / below mean(b)); the interval is the two-sided 95 % one either way."""
    a, b = _clean(a), _clean(b)
    r, r2 = _sided(lambda alt: sps.ttest_ind(a, b, equal_var=equal_var, alternative=alt), alternative)
    name = _name("two-sample t" if equal_var else "Welch t", alternative)
    effect = float(a.mean() - b.mean()) if len(a) and len(b) else math.nan
    return TestResult(name, len(a) + len(b), float(r.statistic), float(r.pvalue), effect, *_ci(r2))


def _paired(a, b) -> np.ndarray:
    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b)
    return a[ok] - b[ok]


def paired_t(a, b, alternative: str = "two-sided") -> TestResult:
    """Paired t-test (the same networks measured twice; effect: mean(a - b); n: the pairs).

    ``alternative``: "two-sided", or "greater" / "less" for a one-sided p-value (H1: mean(a - b)
    above / below 0); the interval is the two-sided 95 % one either way."""
    d = _paired(a, b)
    r, r2 = _sided(lambda alt: sps.ttest_1samp(d, 0.0, alternative=alt), alternative)
    effect = float(d.mean()) if len(d) else math.nan
    return TestResult(_name("paired t", alternative), len(d), float(r.statistic), float(r.pvalue), effect, *_ci(r2))


def _tost(d: np.ndarray, margin: float, name: str) -> TestResult:
    """Two one-sided t-tests of H0: |mean(d)| >= margin; p is the larger one-sided p-value, and
    the interval is the (1 - 2 * 0.05) = 90 % one whose inclusion in (-margin, margin) TOST tests.

    Fewer than two values: no spread to test against, the test is not computable (p, statistic
    and interval NaN; the effect is the one value's, or NaN). Two or more values of zero spread
    (all equal): the limit of the t-tests as se -> 0, p = 0 when |mean| < margin and 1 otherwise, a
    zero-width interval at the mean, statistic NaN (t is undefined)."""
    if not margin > 0:
        raise ValueError(f"an equivalence margin must be > 0, got {margin}")
    n = len(d)
    effect = float(d.mean()) if n else math.nan
    nan = math.nan
    if n < 2:
        return TestResult(name, n, nan, nan, effect, nan, nan)
    se = float(d.std(ddof=1) / math.sqrt(n))
    if d.max() == d.min() or not se > 0:  # all values equal (the sd may round to 1e-17, not to 0)
        return TestResult(name, n, nan, 0.0 if abs(effect) < margin else 1.0, effect, effect, effect)
    t_lo, t_hi = (effect + margin) / se, (effect - margin) / se
    p = max(float(sps.t.sf(t_lo, n - 1)), float(sps.t.cdf(t_hi, n - 1)))
    half = float(sps.t.ppf(0.95, n - 1)) * se
    stat = t_lo if abs(t_lo) < abs(t_hi) else t_hi  # the binding one
    return TestResult(name, n, float(stat), p, effect, effect - half, effect + half)


def tost_one_sample(values, popmean: float, margin: float) -> TestResult:
    """Equivalence of the mean of ``values`` to ``popmean`` within ±``margin`` (effect: mean - popmean)."""
    return _tost(_clean(values) - popmean, margin, f"TOST one-sample (±{margin:g})")


def tost_paired(a, b, margin: float) -> TestResult:
    """Equivalence of paired measurements within ±``margin`` (effect: mean(a - b))."""
    return _tost(_paired(a, b), margin, f"TOST paired (±{margin:g})")


def gap_closed(w, wo, bp, fraction: float) -> TestResult:
    """Does ``w`` close more than ``fraction`` of the gap from ``wo`` to ``bp``? (three independent groups)

    Effect: f = (mean(w) - mean(wo)) / (mean(bp) - mean(wo)), the fraction of the gap closed, with a
    delta-method 95 % interval. Test: the contrast L = mean(w) - (1 - fraction) mean(wo) - fraction
    mean(bp) > 0 (Welch-Satterthwaite t, one-sided), i.e. f > fraction when the gap is positive.
    With no positive gap (BP not better than w/o) the fraction is undefined: NaN, p = 1.
    """
    groups = [_clean(x) for x in (w, wo, bp)]
    n = min(len(g) for g in groups)
    if n < 2:
        return TestResult(f"gap closed > {fraction:g} (Welch contrast)", n, math.nan, math.nan, math.nan)
    m = [g.mean() for g in groups]
    v = [g.var(ddof=1) / len(g) for g in groups]
    gap = m[2] - m[1]
    name = f"gap closed > {fraction:g} (Welch contrast)"
    if not gap > 0:
        return TestResult(name, n, math.nan, 1.0, math.nan)
    c = np.array([1.0, -(1 - fraction), -fraction])
    L = float(c @ np.array(m))
    var_L = float((c**2) @ np.array(v))
    df = var_L**2 / sum((ci**2 * vi) ** 2 / (len(g) - 1) for ci, vi, g in zip(c, v, groups)) if var_L > 0 else math.inf
    t = L / math.sqrt(var_L) if var_L > 0 else (math.inf if L > 0 else -math.inf)
    p = float(sps.t.sf(t, df))
    f = (m[0] - m[1]) / gap
    var_f = (v[0] + v[1] + f**2 * (v[2] + v[1]) - 2 * f * v[1]) / gap**2  # cov(a, b) = var(mean wo)
    half = float(sps.t.ppf(0.975, df)) * math.sqrt(max(var_f, 0.0))  # df = inf: the normal quantile
    return TestResult(name, n, float(t), p, float(f), float(f - half), float(f + half))


def _counts(counts) -> tuple[np.ndarray, float, int]:
    """(networks, classes) counts without empty networks, with their Pearson χ² against the uniform
    distribution, summed over networks, and its degrees of freedom M (C - 1)."""
    c = np.atleast_2d(np.asarray(counts, float))
    c = c[c.sum(axis=1) > 0]
    n = c.sum(axis=1, keepdims=True)
    expected = n / c.shape[1]
    chi2 = float((((c - expected) ** 2) / expected).sum()) if len(c) else math.nan
    return c, chi2, c.shape[0] * (c.shape[1] - 1)


def _unbiased_w(chi2: float, df: int, n: float) -> float:
    """Cohen's w with the central χ²'s mean taken off: E[χ²] = df + λ and λ = N w², so
    sqrt(max(χ² - df, 0) / N) (sqrt(χ² / N) reads about sqrt(df / N) for perfectly uniform counts)."""
    return math.sqrt(max(chi2 - df, 0.0) / n)


def _ncx2_root(f, target: float, start: float) -> float:
    """The λ > 0 at which the monotone ``f(λ)`` crosses ``target``, f(0) on the other side."""
    hi = max(start, 1.0)
    while (f(hi) - target) * (f(0.0) - target) > 0:
        hi *= 2.0
        if hi > 1e12:
            return math.inf
    return float(optimize.brentq(lambda lam: f(lam) - target, 0.0, hi, xtol=1e-10, rtol=1e-12))


def w_interval(chi2: float, df: int, n: float, level: float) -> tuple[float, float]:
    """Confidence interval of Cohen's w = sqrt(λ / N) by inverting the noncentral χ²(df, λ) in λ.

    The usual test inversion at α = 1 - level: λ_L solves ncx2.sf(χ², df, λ_L) = α/2 (0 when
    chi2.sf(χ², df) ≥ α/2 already), λ_U solves ncx2.cdf(χ², df, λ_U) = α/2 (0 when chi2.cdf(χ², df)
    ≤ α/2: counts more uniform than chance would make them are improbable under every λ, and the
    interval is [0, 0], the convention of RMSEA intervals). Returns (sqrt(λ_L / N), sqrt(λ_U / N));
    NaN for N = 0 only.

    The noncentral χ² is the large-sample law of Pearson's χ² near the null. Far from it with the
    bias in one class the statistic varies more than that law says and the interval covers less
    (simulated: 0.90 for a nominal 0.95 at w = 0.2, 5 networks x 200 probes, all the bias in one
    class; 0.95 with the bias spread over the classes).
    """
    if not n > 0 or not math.isfinite(chi2):
        return math.nan, math.nan
    half = (1.0 - level) / 2.0
    lo = 0.0
    if float(sps.chi2.sf(chi2, df)) < half:
        lo = _ncx2_root(lambda lam: float(sps.ncx2.sf(chi2, df, lam)) if lam > 0 else float(sps.chi2.sf(chi2, df)), half, chi2)
    hi = 0.0
    if float(sps.chi2.cdf(chi2, df)) > half:
        hi = _ncx2_root(lambda lam: float(sps.ncx2.cdf(chi2, df, lam)) if lam > 0 else float(sps.chi2.cdf(chi2, df)), half, chi2)
    return math.sqrt(lo / n), math.sqrt(hi / n)


def chi2_uniform(counts) -> TestResult:
    """Class counts against the uniform distribution, summed over independent networks.

    ``counts``: (networks, classes). Each network's Pearson χ² against n_m / C per class is
    χ²(C - 1) under the null; independent networks add: χ²(M (C - 1)), and off the null noncentral
    with λ = Σ n_m w_m². Effect: the n-weighted root-mean-square Cohen's w, estimated without the
    null's bias, sqrt(max(χ² - df, 0) / N) (N = Σ n_m; 0 = uniform; 0.1 small, 0.3 medium), with its
    95 % interval from inverting the noncentral χ² (``w_interval``). n is N. No counts: NaN.
    """
    c, chi2, df = _counts(counts)
    n = float(c.sum())
    name = "chi-square vs uniform (networks summed)"
    if not n > 0:
        return TestResult(name, 0, math.nan, math.nan, math.nan)
    lo, hi = w_interval(chi2, df, n, 0.95)
    return TestResult(name, int(n), chi2, float(sps.chi2.sf(chi2, df)), _unbiased_w(chi2, df, n), lo, hi)


def chi2_uniform_equivalence(counts, w_margin: float) -> TestResult:
    """Are the class counts uniform within Cohen's w < ``w_margin``? (summed over networks)

    H0: the networks' class bias is at least ``w_margin`` (w² = Σ (p_c - 1/C)² C). Under it the
    summed Pearson χ² is at least noncentral χ²(M (C - 1), λ = Σ n_m w_margin²); a χ² smaller
    than that distribution's lower tail rejects H0: p = its CDF at the observed χ². Statistic and
    effect (the unbiased w) as ``chi2_uniform``; the interval is the 90 % one (as TOST's: its upper
    bound is below ``w_margin`` exactly when p < 0.05). No counts: not computable, p NaN.
    """
    if not w_margin > 0:
        raise ValueError(f"an equivalence margin must be > 0, got {w_margin}")
    c, chi2, df = _counts(counts)
    n = float(c.sum())
    name = f"chi-square equivalence (w < {w_margin:g})"
    if not n > 0:
        return TestResult(name, 0, math.nan, math.nan, math.nan)
    p = float(sps.ncx2.cdf(chi2, df, n * w_margin**2))
    lo, hi = w_interval(chi2, df, n, 0.90)
    return TestResult(name, int(n), chi2, p, _unbiased_w(chi2, df, n), lo, hi)


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (NaN stays NaN, not counted)."""
    p = np.asarray(p_values, float)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    order = ok[np.argsort(p[ok], kind="stable")]
    m, running = len(order), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


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


def significant(p_value: float, alpha: float) -> bool:
    """The one significance rule: a finite p-value below ``alpha`` (NaN: no test, never significant)."""
    return math.isfinite(p_value) and p_value < alpha


def mean_ci(values, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and its t-interval (lo, hi) over the finite values; the interval is NaN for fewer than two."""
    v = _clean(values)
    if len(v) == 0:
        return float("nan"), float("nan"), float("nan")
    m = float(v.mean())
    if len(v) < 2:
        return m, float("nan"), float("nan")
    h = float(sps.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    return m, m - h, m + h


def paired_ratio(a, b, level: float = 0.95) -> tuple[float, float, float]:
    """The ratio mean(a) / mean(b) of two paired differences (e.g. a control's and FA w/'s effects
    on the same networks, a_i and b_i of network i) with Fieller's interval: every rho for which
    the paired t-test of a_i - rho b_i = 0 is not rejected at 1 - ``level``. Exact under normality;
    bounded only where mean(b) itself differs from 0 at that level (else the interval is the whole
    line or its complement: returned as NaN, NaN). Pairs with a non-finite value are dropped.
    Returns (ratio, low, high)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    n = len(a)
    if n < 2:
        return math.nan, math.nan, math.nan
    ma, mb = a.mean(), b.mean()
    ratio = ma / mb if mb != 0 else math.nan
    saa, sbb, sab = np.var(a, ddof=1) / n, np.var(b, ddof=1) / n, np.cov(a, b, ddof=1)[0, 1] / n
    q2 = sps.t.ppf(0.5 + level / 2, n - 1) ** 2
    A, B, C = mb**2 - q2 * sbb, ma * mb - q2 * sab, ma**2 - q2 * saa  # A rho^2 - 2 B rho + C <= 0
    disc = B**2 - A * C
    if A <= 0 or disc < 0:
        return float(ratio), math.nan, math.nan
    root = math.sqrt(disc)
    return float(ratio), float((B - root) / A), float((B + root) / A)
