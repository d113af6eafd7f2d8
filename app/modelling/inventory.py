"""Inventory decisions per variant from its demand paths (issue 19): stock-out date with a range, days of cover,
reorder point, suggested order quantity and whether to alert.

Pure functions over plain data. The paths come from :func:`app.modelling.demand.demand_paths` (bootstrapped
daily demand whose expectation is the served forecast), so the reorder point is a quantile of lead-time demand
taken from the paths, never a normal approximation (intermittent series are far from normal).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from app.modelling.demand import stockout_day

DEFAULT_LEAD_TIME_DAYS = 14
DEFAULT_REVIEW_DAYS = 7
DEFAULT_SERVICE_LEVEL = 0.95
MAX_STOCK = 10_000_000  # a level above this is a data error, not stock


class InventoryInputError(ValueError):
    """Stock or settings that cannot be right (negative lead time, a service level outside (0, 1), …)."""


@dataclass(frozen=True)
class Policy:
    """The merchant's settings for one vendor (or location): lead time, review period, target service level."""

    lead_time_days: int = DEFAULT_LEAD_TIME_DAYS
    review_days: int = DEFAULT_REVIEW_DAYS
    service_level: float = DEFAULT_SERVICE_LEVEL

    def __post_init__(self) -> None:
        if not 0 <= self.lead_time_days <= 365:
            raise InventoryInputError(f"lead time must be 0–365 days, got {self.lead_time_days}")
        if not 0 <= self.review_days <= 90:
            raise InventoryInputError(f"review period must be 0–90 days, got {self.review_days}")
        if not 0.5 <= self.service_level < 1:
            raise InventoryInputError(f"service level must be in [0.5, 1), got {self.service_level}")


@dataclass(frozen=True)
class Decision:
    """One variant's numbers for the merchant (days are counted from today, day 1 = today)."""

    on_hand: int
    days_of_cover: int  # from the expected demand; ``horizon * 2`` means "beyond the forecast"
    stockout_day_p10: int
    stockout_day_p50: int
    stockout_day_p90: int
    reorder_point: int
    order_up_to: int
    suggested_order: int
    alert: bool  # cover below lead time + review period


def _period_demand(paths: np.ndarray, days: int) -> np.ndarray:
    """Each path's demand over ``days`` (scaled up from the horizon when ``days`` is longer)."""
    h = paths.shape[1]
    if days <= 0:
        return np.zeros(len(paths))
    if days <= h:
        return paths[:, :days].sum(axis=1)
    return paths.sum(axis=1) * days / h


def _cover(cumulative: np.ndarray, stock: int, cap: int) -> int:
    """Full days the stock lasts (the stock-out day minus one), ``cap`` when it outlasts the forecast."""
    day = stockout_day(cumulative, stock, cap)
    return cap if day >= cap else day - 1


def decide(on_hand: float, mean: np.ndarray, paths: np.ndarray, policy: Policy = Policy()) -> Decision:
    """The decision for one variant: ``mean`` is its expected daily demand, ``paths`` n × horizon demand paths."""
    if not math.isfinite(on_hand) or on_hand > MAX_STOCK:
        raise InventoryInputError(f"stock level {on_hand} is not a plausible quantity")
    stock = max(int(on_hand), 0)  # oversold (negative) stock sells nothing more: it is out now
    h = len(mean)
    cap = 2 * h
    cover = _cover(np.cumsum(mean), stock, cap) if stock > 0 else 0
    if stock > 0 and len(paths):
        days = np.array([_cover(c, stock, cap) for c in np.cumsum(paths, axis=1)])
        p10, p50, p90 = (int(v) for v in np.quantile(days, [0.1, 0.5, 0.9], method="lower"))
    else:
        p10 = p50 = p90 = 0 if stock <= 0 else cap
    q = policy.service_level
    lead = _period_demand(paths, policy.lead_time_days)
    cycle = _period_demand(paths, policy.lead_time_days + policy.review_days)
    rop = int(math.ceil(np.quantile(lead, q))) if len(paths) else 0
    up_to = int(math.ceil(np.quantile(cycle, q))) if len(paths) else 0
    order = max(up_to - stock, 0) if stock <= rop else 0
    alert = cover < policy.lead_time_days + policy.review_days and float(np.sum(mean)) > 0
    return Decision(stock, int(cover), p10, p50, p90, rop, up_to, int(order), bool(alert))
