"""The statistics behind lift: intervals for proportions and means, their tests, and sample sizes.

- ``wilson``: Wilson score interval of one proportion.
- ``newcombe_difference``: Newcombe's hybrid score interval (his method 10) for p1 − p2; it behaves at
  zero counts and small samples, where the Wald interval does not.
- ``risk_ratio``: Katz log interval for p1 / p2 (relative lift = ratio − 1); None with a zero count.
- ``proportions_p_value``: pooled two-proportion z test, Fisher's exact test when an expected cell is < 5.
- ``welch_difference``: Welch's t interval and p-value for the difference of two means (unequal variances).
- ``mean_ratio``: delta-method interval on the log ratio of two positive means.
- ``sample_size``: shoppers per group to detect a relative lift in conversion at the current split.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def as_dict(self) -> dict[str, float]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high}


def z_value(confidence: float = CONFIDENCE) -> float:
    return float(stats.norm.ppf(0.5 + confidence / 2))


def wilson(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval of ``successes / n`` (``(0, 1)`` when n is 0)."""
    if n <= 0:
        return 0.0, 1.0
    z = z_value(confidence)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_difference(
    x1: int, n1: int, x2: int, n2: int, confidence: float = CONFIDENCE
) -> Interval | None:
    """Interval for ``x1/n1 − x2/n2`` from the two Wilson intervals (Newcombe 1998, method 10)."""
    if n1 <= 0 or n2 <= 0:
        return None
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1, confidence)
    l2, u2 = wilson(x2, n2, confidence)
    d = p1 - p2
    return Interval(
        d,
        d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2),
        d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2),
    )


def risk_ratio(x1: int, n1: int, x2: int, n2: int, confidence: float = CONFIDENCE) -> Interval | None:
    """Katz log interval for ``(x1/n1) / (x2/n2)``; None when either count is zero."""
    if min(x1, x2, n1, n2) <= 0:
        return None
    ratio = (x1 / n1) / (x2 / n2)
    se = math.sqrt(max(1 / x1 - 1 / n1 + 1 / x2 - 1 / n2, 0.0))
    z = z_value(confidence)
    return Interval(ratio, ratio * math.exp(-z * se), ratio * math.exp(z * se))


def proportions_p_value(x1: int, n1: int, x2: int, n2: int) -> float | None:
    """Two-sided p-value for equal proportions; Fisher's exact test when the z test's cells are small."""
    if n1 <= 0 or n2 <= 0:
        return None
    pooled = (x1 + x2) / (n1 + n2)
    expected = [n1 * pooled, n1 * (1 - pooled), n2 * pooled, n2 * (1 - pooled)]
    if min(expected) < 5:
        return float(stats.fisher_exact([[x1, n1 - x1], [x2, n2 - x2]]).pvalue)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    z = (x1 / n1 - x2 / n2) / se
    return float(2 * stats.norm.sf(abs(z)))


@dataclass(frozen=True)
class MeanTest:
    difference: Interval
    p_value: float


def welch_difference(
    mean1: float, var1: float, n1: int, mean2: float, var2: float, n2: int, confidence: float = CONFIDENCE
) -> MeanTest | None:
    """Welch's t interval for ``mean1 − mean2`` (sample variances, ddof=1); None below 2 per group."""
    if n1 < 2 or n2 < 2:
        return None
    a, b = var1 / n1, var2 / n2
    se = math.sqrt(a + b)
    d = mean1 - mean2
    if se == 0:
        return MeanTest(Interval(d, d, d), 1.0 if d == 0 else 0.0)
    df = (a + b) ** 2 / ((a * a / (n1 - 1) if a else 0.0) + (b * b / (n2 - 1) if b else 0.0))
    t = float(stats.t.ppf(0.5 + confidence / 2, df))
    p = float(2 * stats.t.sf(abs(d / se), df))
    return MeanTest(Interval(d, d - t * se, d + t * se), p)


def mean_ratio(
    mean1: float, var1: float, n1: int, mean2: float, var2: float, n2: int, confidence: float = CONFIDENCE
) -> Interval | None:
    """Delta-method interval for ``mean1 / mean2`` on the log scale; None unless both means are positive."""
    if n1 < 2 or n2 < 2 or mean1 <= 0 or mean2 <= 0:
        return None
    se = math.sqrt(var1 / (n1 * mean1 * mean1) + var2 / (n2 * mean2 * mean2))
    ratio = mean1 / mean2
    z = z_value(confidence)
    return Interval(ratio, ratio * math.exp(-z * se), ratio * math.exp(z * se))


def sample_size(
    baseline: float,
    relative_lift: float = 0.10,
    treatment_per_holdout: float = 1.0,
    *,
    alpha: float = 1 - CONFIDENCE,
    power: float = 0.8,
) -> tuple[int, int] | None:
    """Shoppers needed (holdout, treatment) to detect ``baseline → baseline × (1 + lift)`` with a two-sided
    test at ``alpha`` and ``power``, with ``treatment_per_holdout`` treated shoppers per held-out one
    (Fleiss' formula for unequal groups, no continuity correction). None for a degenerate baseline."""
    p1 = baseline
    p2 = min(baseline * (1 + relative_lift), 0.999999)
    k = treatment_per_holdout
    if not 0 < p1 < 1 or p2 <= p1 or k <= 0:
        return None
    za = float(stats.norm.ppf(1 - alpha / 2))
    zb = float(stats.norm.ppf(power))
    pbar = (p1 + k * p2) / (1 + k)
    root = za * math.sqrt(pbar * (1 - pbar) * (1 + 1 / k)) + zb * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2) / k)
    n_holdout = math.ceil(root * root / (p2 - p1) ** 2)
    return n_holdout, math.ceil(n_holdout * k)
