"""Price response per variant, from the shop's own price history: how units sold move when the price moves
(a constant elasticity ``e``: units ∝ price^e), estimated around each price change and shrunk toward the
variant's product type (empirical Bayes). Pure Python.

**Around each change.** A price change at ``t`` from ``p0`` to ``p1`` is compared on its own: the units sold in
up to ``WINDOW`` days before it (at ``p0``, not reaching back past the previous change) against up to
``WINDOW`` days after it (at ``p1``, not past the next change or now). Each change has its own level (a fixed
effect), so a slow trend or a season that moves sales for months does not pass for a price response; only
the jump at the change does. Given the pair's total ``n``, the units after are binomial with
``logit q = log(days_after / days_before) + e · log(p1 / p0)`` (the conditional Poisson likelihood), and ``e`` is
the maximum-likelihood slope over all the variant's changes (Newton steps on one parameter), with its
standard error from the Fisher information.

**Shrinkage.** Few variants have many changes, so each estimate ``b_i`` (standard error ``s_i``) is pulled toward
its product type's mean ``m_T``: ``e_i = (b_i / s_i² + m_T / τ²) / (1 / s_i² + 1 / τ²)``. ``τ²``, the spread of
true elasticities between variants of one type, is estimated from the data (DerSimonian-Laird, pooled across
types, floored); ``m_T`` is the precision-weighted mean of the type's estimates, itself pulled toward the shop's
mean (and that toward ``PRIOR_ELASTICITY`` when the shop has no change at all). A variant that never changed
price gets its type's mean with the type's uncertainty. The stock a variant had is not known day by day here,
so a sold-out stretch reads as weak demand; a variant's estimate is as good as its changes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

WINDOW = timedelta(days=28)
PRIOR_ELASTICITY = -1.5  # retail's typical own-price elasticity, used only when the shop has no change at all
PRIOR_SD = 1.0
TYPE_SD = 0.5  # how far one product type's mean may sit from the shop's, a priori
MIN_TAU2 = 0.05**2
DEFAULT_TAU2 = 0.5**2
BOUND = 8.0  # |e| beyond this is not a price response but an artefact


@dataclass(frozen=True)
class ChangeWindow:
    """One price change: the price and units over the days before and after it."""

    before_price: float
    before_days: float
    before_units: float
    after_price: float
    after_days: float
    after_units: float


@dataclass(frozen=True)
class Estimate:
    elasticity: float
    se: float
    changes: int  # price changes with sales around them


@dataclass(frozen=True)
class Response:
    """The shrunk elasticity of one variant."""

    elasticity: float
    sd: float
    raw: float | None  # the variant's own estimate, before shrinkage
    changes: int
    weight: float  # the share of the estimate that is the variant's own data (0 = all product type)
    product_type: str


def change_windows(
    history: Sequence[tuple[datetime, float]],
    daily_units: Mapping[date, float],
    now: datetime,
    window: timedelta = WINDOW,
) -> list[ChangeWindow]:
    """The windows around each change in ``history`` ((since when, price), oldest first)."""
    points = [(at, p) for at, p in history if p and p > 0]
    out = []
    for k in range(1, len(points)):
        (t_prev, p0), (t, p1) = points[k - 1], points[k]
        if abs(p1 - p0) < 0.005 or t > now:
            continue
        start = max(t - window, t_prev)
        end = min(t + window, points[k + 1][0] if k + 1 < len(points) else now, now)
        b_days, b_units = _span(daily_units, start, t)
        a_days, a_units = _span(daily_units, t, end)
        if b_days >= 1 and a_days >= 1:
            out.append(ChangeWindow(p0, b_days, b_units, p1, a_days, a_units))
    return out


def _span(daily_units: Mapping[date, float], start: datetime, end: datetime) -> tuple[float, float]:
    """(days, units) over the dates from ``start``'s to ``end``'s, the latter excluded (a change takes effect for
    the day it is made on)."""
    first, days = start.date(), max(0, (end.date() - start.date()).days)
    return float(days), float(sum(daily_units.get(first + timedelta(days=i), 0.0) for i in range(days)))


def estimate(windows: Iterable[ChangeWindow]) -> Estimate | None:
    """The maximum-likelihood elasticity over a variant's changes, or None without information (no sale
    around any change)."""
    rows = []
    for w in windows:
        n = w.before_units + w.after_units
        if n <= 0:
            continue
        rows.append((n, w.after_units, math.log(w.after_days / w.before_days),
                     math.log(w.after_price / w.before_price)))  # fmt: skip
    if not rows:
        return None
    b = 0.0
    for _ in range(50):
        score, info = 0.0, 0.0
        for n, y, offset, x in rows:
            q = 1 / (1 + math.exp(-(offset + b * x)))
            score += (y - n * q) * x
            info += n * q * (1 - q) * x * x
        if info <= 1e-12:
            return None
        step = score / info
        b = max(-BOUND, min(BOUND, b + step))
        if abs(step) < 1e-8:
            break
    info = sum(n * (q := 1 / (1 + math.exp(-(o + b * x)))) * (1 - q) * x * x for n, _, o, x in rows)
    if info <= 1e-12:
        return None
    return Estimate(b, 1 / math.sqrt(info), len(rows))


def _weighted_mean(
    pairs: Sequence[tuple[float, float]], prior: float, prior_var: float
) -> tuple[float, float]:
    """(mean, variance) of estimates ``(value, variance)`` combined with a prior."""
    w = 1 / prior_var + sum(1 / v for _, v in pairs)
    return (prior / prior_var + sum(b / v for b, v in pairs)) / w, 1 / w


def between_variance(groups: Mapping[str, Sequence[Estimate]]) -> float:
    """τ²: the spread of true elasticities between variants of one type (DerSimonian-Laird, pooled across
    types), floored at ``MIN_TAU2``; ``DEFAULT_TAU2`` without two estimates in any type."""
    q_sum, df, c_sum = 0.0, 0, 0.0
    for ests in groups.values():
        if len(ests) < 2:
            continue
        w = [1 / e.se**2 for e in ests]
        mean = sum(wi * e.elasticity for wi, e in zip(w, ests, strict=True)) / sum(w)
        q_sum += sum(wi * (e.elasticity - mean) ** 2 for wi, e in zip(w, ests, strict=True))
        df += len(ests) - 1
        c_sum += sum(w) - sum(wi * wi for wi in w) / sum(w)
    if df == 0 or c_sum <= 0:
        return DEFAULT_TAU2
    return max(MIN_TAU2, (q_sum - df) / c_sum)


def shrink(own: Mapping[int, Estimate | None], types: Mapping[int, str]) -> dict[int, Response]:
    """Every variant in ``types`` (variant → product type) gets a response: its own estimate (if any) pulled
    toward its type's mean."""
    groups: dict[str, list[Estimate]] = {}
    for vid, est in own.items():
        if est is not None:
            groups.setdefault(types.get(vid) or "", []).append(est)
    tau2 = between_variance(groups)
    every = [(e.elasticity, e.se**2 + tau2) for ests in groups.values() for e in ests]
    shop_mean, shop_var = _weighted_mean(every, PRIOR_ELASTICITY, PRIOR_SD**2)
    type_mean = {
        t: _weighted_mean([(e.elasticity, e.se**2 + tau2) for e in ests], shop_mean, TYPE_SD**2 + shop_var)
        for t, ests in groups.items()
    }
    out = {}
    for vid, ptype in types.items():
        m, m_var = type_mean.get(ptype or "", (shop_mean, shop_var + TYPE_SD**2))
        est = own.get(vid)
        if est is None:
            out[vid] = Response(m, math.sqrt(m_var + tau2), None, 0, 0.0, ptype or "")
            continue
        prec_own, prec_type = 1 / est.se**2, 1 / tau2
        value = (est.elasticity * prec_own + m * prec_type) / (prec_own + prec_type)
        weight = prec_own / (prec_own + prec_type)
        out[vid] = Response(value, math.sqrt(1 / (prec_own + prec_type) + (1 - weight) ** 2 * m_var),
                            est.elasticity, est.changes, weight, ptype or "")  # fmt: skip
    return out


def units_factor(elasticity: float, new_price: float, price: float) -> float:
    """How many times the units sold at ``price`` the estimate expects at ``new_price``."""
    return (new_price / price) ** elasticity
