"""The paper's statistical tests, and the ones its claims need, as one uniform record.

Every test reports n, the statistic, the p-value, an effect (the mean difference, in the
measured unit) and its confidence interval where one is defined (95 %; 90 % for the TOST
equivalence tests, the interval whose inclusion in the margin they test), so a claims table row
is built the same way whatever the test. Difference tests are two-sided; equivalence tests
report the larger of their two one-sided p-values; ``holm`` adjusts a family of p-values.
scipy does the arithmetic.
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
    ci_low: float = math.nan
    ci_high: float = math.nan

    def as_dict(self) -> dict:
        return asdict(self)


def _clean(values) -> np.ndarray:
    a = np.asarray(values, dtype=float)
    return a[np.isfinite(a)]


def _ci(r) -> tuple[float, float]:
    try:
        ci = r.confidence_interval(0.95)
        return float(ci.low), float(ci.high)
    except (ValueError, ZeroDivisionError, AttributeError):
        return math.nan, math.nan


def one_sample_t(values, popmean: float) -> TestResult:
    """Is the mean of ``values`` different from ``popmean``? (effect: mean - popmean)"""
    a = _clean(values)
    r = sps.ttest_1samp(a, popmean)
    lo, hi = _ci(r)
    effect = float(a.mean() - popmean) if len(a) else math.nan
    return TestResult("one-sample t", len(a), float(r.statistic), float(r.pvalue), effect, lo - popmean, hi - popmean)


def two_sample_t(a, b, equal_var: bool = True) -> TestResult:
    """Student's (or Welch's) t-test of independent samples (effect: mean(a) - mean(b))."""
    a, b = _clean(a), _clean(b)
    r = sps.ttest_ind(a, b, equal_var=equal_var)
    name = "two-sample t" if equal_var else "Welch t"
    effect = float(a.mean() - b.mean()) if len(a) and len(b) else math.nan
    return TestResult(name, min(len(a), len(b)), float(r.statistic), float(r.pvalue), effect, *_ci(r))


def _paired(a, b) -> np.ndarray:
    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b)
    return a[ok] - b[ok]


def paired_t(a, b) -> TestResult:
    """Paired t-test (the same networks measured twice; effect: mean(a - b))."""
    d = _paired(a, b)
    r = sps.ttest_1samp(d, 0.0)
    effect = float(d.mean()) if len(d) else math.nan
    return TestResult("paired t", len(d), float(r.statistic), float(r.pvalue), effect, *_ci(r))


def _tost(d: np.ndarray, margin: float, name: str) -> TestResult:
    """Two one-sided t-tests of H0: |mean(d)| >= margin; p is the larger one-sided p-value, and
    the interval is the (1 - 2 * 0.05) = 90 % one whose inclusion in (-margin, margin) TOST tests."""
    if not margin > 0:
        raise ValueError(f"an equivalence margin must be > 0, got {margin}")
    n = len(d)
    effect = float(d.mean()) if n else math.nan
    se = float(d.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    if n < 2 or not se > 0:
        nan = math.nan
        return TestResult(name, n, nan, 0.0 if n >= 2 and abs(effect) < margin else 1.0, effect, effect, effect)
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


def chi2_uniform(counts) -> TestResult:
    """Class counts against the uniform distribution, summed over independent networks.

    ``counts``: (networks, classes). Each network's Pearson χ² against n_m / C per class is
    χ²(C - 1) under the null; independent networks add: χ²(M (C - 1)). Effect: the n-weighted
    root-mean-square of the networks' Cohen's w, sqrt(Σ χ² / Σ n) (0 = uniform; 0.1 small, 0.3 medium).
    """
    c = np.atleast_2d(np.asarray(counts, float))
    n = c.sum(axis=1, keepdims=True)
    expected = n / c.shape[1]
    chi2 = float((((c - expected) ** 2) / expected).sum())
    df = c.shape[0] * (c.shape[1] - 1)
    return TestResult("chi-square vs uniform (networks summed)", int(n.sum()), chi2, float(sps.chi2.sf(chi2, df)),
                      float(math.sqrt(chi2 / n.sum())))  # fmt: skip


def chi2_uniform_equivalence(counts, w_margin: float) -> TestResult:
    """Are the class counts uniform within Cohen's w < ``w_margin``? (summed over networks)

    H0: the networks' class bias is at least ``w_margin`` (w² = Σ (p_c - 1/C)² C). Under it the
    summed Pearson χ² is at least noncentral χ²(M (C - 1), λ = Σ n_m w_margin²); a χ² smaller
    than that distribution's lower tail rejects H0: p = its CDF at the observed χ². Effect and
    statistic as ``chi2_uniform``.
    """
    if not w_margin > 0:
        raise ValueError(f"an equivalence margin must be > 0, got {w_margin}")
    r = chi2_uniform(counts)
    c = np.atleast_2d(np.asarray(counts, float))
    df, lam = c.shape[0] * (c.shape[1] - 1), float(c.sum()) * w_margin**2
    p = float(sps.ncx2.cdf(r.statistic, df, lam)) if r.n else 1.0
    return TestResult(f"chi-square equivalence (w < {w_margin:g})", r.n, r.statistic, p, r.effect)


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
