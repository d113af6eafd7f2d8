"""Always-valid statistics for the control room: intervals a merchant may look at every day.

- ``difference_sequence``: an asymptotic confidence sequence (Waudby-Smith, Arnold, Wu, Howard & Ramdas,
  "Time-uniform central limit theory and asymptotic confidence sequences", Ann. Statist. 2024) for the
  difference in means between a randomised treated arm and its holdout. Each unit contributes the
  inverse-propensity term ``φ_i = Z_i (Y_i − m_i)/π − (1 − Z_i)(Y_i − m_i)/(1 − π)`` with the known treated
  share ``π``; ``m_i`` is a *predictable* prediction of ``Y_i`` (the mean of the units before it, plus a CUPED
  term ``θ (X_i − x̄)`` on the pre-period covariate when there is one, its θ fitted on the earlier units only),
  so ``E[φ_i] = τ`` exactly and the running mean of ``φ`` estimates the effect. The boundary is Robbins'
  normal mixture on the standardised sum, ``σ̂_t · sqrt(2 (tρ² + 1) / (t² ρ²) · log(sqrt(tρ² + 1) / α))``,
  with ``ρ`` tuned to be tightest at ``t_star`` units; it holds uniformly over time, so peeking every day does
  not inflate the error rate.
- ``cuped_theta``: the CUPED coefficient ``cov(X, Y) / var(X)`` (Deng et al. 2013).
- ``srm_check``: sample-ratio mismatch, a χ² test of the arms' counts against the designed share.
- ``pooled_prior`` and ``shrink``: a random-effects prior over shops' estimates of one agent
  (DerSimonian–Laird) and the normal–normal posterior that pulls a thin shop's estimate toward it.

Pure: numbers and NumPy arrays in, dataclasses out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from app.measurement.stats import Interval

ALPHA = 0.05
T_STAR = 500  # units at which the boundary is tightest; a shop's month, roughly
SRM_THRESHOLD = 0.001  # p-value below which the arms' sizes are called a mismatch
MIN_PER_ARM = 2


@dataclass(frozen=True)
class RunningInterval:
    """The running confidence sequence: ``estimate[t]``, ``low[t]``, ``high[t]`` after the first t + 1 units."""

    estimate: np.ndarray
    low: np.ndarray
    high: np.ndarray

    def last(self) -> Interval:
        return Interval(float(self.estimate[-1]), float(self.low[-1]), float(self.high[-1]))


def rho_for(t_star: float, alpha: float = ALPHA) -> float:
    """The mixture's ρ (for unit variance) that makes the boundary tightest at ``t_star`` units."""
    c = -2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)
    return math.sqrt(c / t_star)


def boundary(t: np.ndarray, sigma: np.ndarray, alpha: float = ALPHA, t_star: float = T_STAR) -> np.ndarray:
    """Half-width of the asymptotic confidence sequence for a mean after ``t`` units of std ``sigma``."""
    rho2 = rho_for(t_star, alpha) ** 2
    t = np.asarray(t, dtype=float)
    return sigma * np.sqrt(2 * (t * rho2 + 1) / (t * t * rho2) * np.log(np.sqrt(t * rho2 + 1) / alpha))


def _prefix_mean(values: np.ndarray) -> np.ndarray:
    """Mean of the values before each position (0 before the first)."""
    csum = np.concatenate(([0.0], np.cumsum(values)[:-1]))
    count = np.arange(len(values), dtype=float)
    return np.divide(csum, count, out=np.zeros_like(csum), where=count > 0)


def _predictions(y: np.ndarray, x: np.ndarray | None) -> np.ndarray:
    """``m_i`` from units ``< i`` only: their mean of y, plus θ (x_i − their mean of x) with their CUPED θ."""
    m = _prefix_mean(y)
    if x is None:
        return m
    mx = _prefix_mean(x)
    sxy = _prefix_mean(x * y) - mx * m
    sxx = _prefix_mean(x * x) - mx * mx
    theta = np.divide(sxy, sxx, out=np.zeros_like(sxy), where=sxx > 1e-12)
    return m + theta * (x - mx)


def difference_sequence(
    y: Sequence[float] | np.ndarray,
    treated: Sequence[bool] | np.ndarray,
    treated_share: float,
    covariate: Sequence[float] | np.ndarray | None = None,
    *,
    alpha: float = ALPHA,
    t_star: float = T_STAR,
) -> RunningInterval:
    """The running always-valid interval for ``mean(Y | treated) − mean(Y | holdout)``, units in arrival order.

    ``treated_share`` is the designed probability of the treated arm (0 < π < 1); ``covariate`` (optional) is
    each unit's pre-period value, used for CUPED."""
    if not 0 < treated_share < 1:
        raise ValueError("treated_share must be strictly between 0 and 1")
    y = np.asarray(y, dtype=float)
    z = np.asarray(treated, dtype=bool)
    if y.shape != z.shape or y.ndim != 1 or len(y) == 0:
        raise ValueError("y and treated must be equal-length, non-empty 1-d sequences")
    x = None if covariate is None else np.asarray(covariate, dtype=float)
    resid = y - _predictions(y, x)
    phi = np.where(z, resid / treated_share, -resid / (1 - treated_share))
    t = np.arange(1, len(y) + 1, dtype=float)
    mean = np.cumsum(phi) / t
    var = np.maximum(np.cumsum(phi * phi) / t - mean * mean, 0.0)
    # the holdout's terms are few and heavy (÷ (1 − π)): until it has many units its own spread is a poor
    # estimate, so the variance is never taken below the one implied by every unit's residual spread
    pooled = np.cumsum(resid * resid) / t / (treated_share * (1 - treated_share))
    var = np.maximum(var, pooled)
    half = boundary(t, np.sqrt(var), alpha, t_star)
    return RunningInterval(mean, mean - half, mean + half)


def difference_interval(
    y: Sequence[float] | np.ndarray,
    treated: Sequence[bool] | np.ndarray,
    treated_share: float,
    covariate: Sequence[float] | np.ndarray | None = None,
    *,
    alpha: float = ALPHA,
    t_star: float = T_STAR,
) -> Interval | None:
    """Today's always-valid interval; None until each arm has ``MIN_PER_ARM`` units."""
    z = np.asarray(treated, dtype=bool)
    if int(z.sum()) < MIN_PER_ARM or int((~z).sum()) < MIN_PER_ARM:
        return None
    return difference_sequence(y, z, treated_share, covariate, alpha=alpha, t_star=t_star).last()


def cuped_theta(y: Sequence[float] | np.ndarray, x: Sequence[float] | np.ndarray) -> float:
    """CUPED's ``θ = cov(X, Y) / var(X)`` (0 when X does not vary)."""
    y, x = np.asarray(y, dtype=float), np.asarray(x, dtype=float)
    vx = float(np.var(x))
    return float(np.mean((x - x.mean()) * (y - y.mean())) / vx) if vx > 1e-12 else 0.0


@dataclass(frozen=True)
class SampleRatio:
    treated: int
    holdout: int
    expected_treated_share: float
    observed_treated_share: float | None
    p_value: float | None
    mismatch: bool

    def as_dict(self) -> dict[str, object]:
        return {
            "treated": self.treated,
            "holdout": self.holdout,
            "expected_treated_share": self.expected_treated_share,
            "observed_treated_share": self.observed_treated_share,
            "p_value": self.p_value,
            "mismatch": self.mismatch,
        }


def srm_check(
    treated: int, holdout: int, expected_treated_share: float, threshold: float = SRM_THRESHOLD
) -> SampleRatio:
    """χ² goodness of fit of the arms' sizes against the design; ``mismatch`` when p < ``threshold``."""
    n = treated + holdout
    if n == 0 or not 0 < expected_treated_share < 1:
        return SampleRatio(treated, holdout, expected_treated_share, None, None, False)
    expected = [n * expected_treated_share, n * (1 - expected_treated_share)]
    p = float(stats.chisquare([treated, holdout], expected).pvalue)
    return SampleRatio(treated, holdout, expected_treated_share, treated / n, p, p < threshold)


@dataclass(frozen=True)
class Prior:
    mean: float
    variance: float  # between-shop variance τ²


def pooled_prior(estimates: Sequence[float], standard_errors: Sequence[float]) -> Prior | None:
    """DerSimonian–Laird random-effects pool of several shops' estimates of one agent's effect."""
    pairs = [(e, s) for e, s in zip(estimates, standard_errors, strict=True) if s > 0 and math.isfinite(e)]
    if not pairs:
        return None
    est = np.array([e for e, _ in pairs])
    w = 1 / np.array([s for _, s in pairs]) ** 2
    fixed = float(np.sum(w * est) / np.sum(w))
    q = float(np.sum(w * (est - fixed) ** 2))
    denom = float(np.sum(w) - np.sum(w * w) / np.sum(w))
    tau2 = max(0.0, (q - (len(pairs) - 1)) / denom) if denom > 0 else 0.0
    wr = 1 / (1 / w + tau2)
    return Prior(float(np.sum(wr * est) / np.sum(wr)), tau2)


def shrink(estimate: float, standard_error: float, prior: Prior, confidence: float = 0.95) -> Interval:
    """The normal–normal posterior: ``w · estimate + (1 − w) · prior`` with ``w = τ² / (τ² + se²)``, and its
    credible interval. A shop with little data (large se) lands near the pooled effect."""
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    se2 = standard_error**2
    if se2 <= 0:
        return Interval(estimate, estimate, estimate)
    w = prior.variance / (prior.variance + se2) if prior.variance + se2 > 0 else 0.0
    mean = w * estimate + (1 - w) * prior.mean
    sd = math.sqrt(w * se2)
    return Interval(mean, mean - z * sd, mean + z * sd)


@dataclass(frozen=True)
class RateDifference:
    """``p1 − p2`` from two arms' counts: its always-valid interval and its plain standard error (for pooling)."""

    interval: Interval
    standard_error: float


def rate_difference(
    x1: int, n1: int, x2: int, n2: int, *, alpha: float = ALPHA, t_star: float = T_STAR
) -> RateDifference | None:
    """The asymptotic confidence sequence at today's counts for the difference of two proportions (treated
    ``x1/n1``, holdout ``x2/n2``), the per-unit spread being ``p1(1−p1)/π + p2(1−p2)/(1−π)`` with ``π`` the
    treated share: the same boundary as ``difference_sequence``, for readouts that keep only counts."""
    if n1 < MIN_PER_ARM or n2 < MIN_PER_ARM:
        return None
    n = n1 + n2
    p1, p2, pi = x1 / n1, x2 / n2, n1 / n
    spread = math.sqrt(max(p1 * (1 - p1) / pi + p2 * (1 - p2) / (1 - pi), 1 / (n * n)))
    half = float(boundary(np.array([float(n)]), np.array([spread]), alpha, t_star)[0])
    d = p1 - p2
    se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    return RateDifference(Interval(d, d - half, d + half), se)


def interval_from_summary(
    estimate: float, standard_error: float, n: int, *, alpha: float = ALPHA, t_star: float = T_STAR
) -> Interval:
    """The always-valid interval at ``n`` units for a stored estimate and its standard error (the per-unit
    spread taken as ``se · √n``)."""
    spread = standard_error * math.sqrt(max(n, 1))
    half = float(boundary(np.array([float(max(n, 1))]), np.array([spread]), alpha, t_star)[0])
    return Interval(estimate, estimate - half, estimate + half)
