"""The inventory agent's per-location split, overstock rule and live accuracy (issue 19). Pure functions.

- :func:`location_shares`: a variant's demand split over its locations. Shopify's order webhooks as mirrored here
  carry no location, so each location's share is its part of the item's stock drawdowns (day-to-day decreases
  of ``available``: sales and other outflows) over the history; without any drawdown yet, its part of the stock
  on hand; without stock, an equal split.
- :func:`accuracy`: stored forecasts against what sold, beside the naive baseline (the last observed day's units
  carried forward, fitted at the same origin) scored the same way: MAE and RMSSE (scaled by the item's in-sample
  one-step naive MSE, the backtest's scaling) over the days elapsed, censored days (out of stock, nothing sold)
  left out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

OVERSTOCK_COVER_DAYS = 56  # the decision's cap: the stock outlasts twice the 28-day forecast


def location_shares(stock: Mapping[int, np.ndarray], on_hand: Mapping[int, int]) -> dict[int, float]:
    """Location → share of the item's demand (sums to 1), from its stock-by-day series per location."""
    locations = sorted(set(stock) | set(on_hand))
    if not locations:
        return {}
    drawdown = {}
    for loc in locations:
        s = stock.get(loc)
        if s is None or len(s) < 2:
            drawdown[loc] = 0.0
            continue
        step = s[:-1] - s[1:]
        drawdown[loc] = float(np.nansum(np.where(np.isnan(step), 0.0, np.clip(step, 0.0, None))))
    weights = drawdown
    if sum(weights.values()) <= 0:
        weights = {loc: float(max(on_hand.get(loc, 0), 0)) for loc in locations}
    if sum(weights.values()) <= 0:
        weights = dict.fromkeys(locations, 1.0)
    total = sum(weights.values())
    return {loc: w / total for loc, w in weights.items()}


def is_overstocked(on_hand: int, days_of_cover: int, order_up_to: int) -> bool:
    """In stock beyond what the policy would ever order up to, and outlasting the forecast twice over."""
    return on_hand > 0 and on_hand > order_up_to and days_of_cover >= OVERSTOCK_COVER_DAYS


@dataclass(frozen=True)
class Snapshot:
    origin: date
    daily: np.ndarray  # expected units per day from origin
    naive: float  # the naive baseline's level at origin
    scale: float  # in-sample one-step naive MSE


@dataclass(frozen=True)
class Score:
    origin: date
    items: int
    days: int  # days elapsed and scored (at most the horizon)
    sold: float
    forecast: float
    mae: float
    mae_naive: float
    rmsse: float
    rmsse_naive: float


def _score(origin: date, pairs: Sequence[tuple[Snapshot, np.ndarray]]) -> Score | None:
    abs_f, abs_n, rm_f, rm_n = [], [], [], []
    sold = predicted = 0.0
    days = 0
    for snap, actual in pairs:
        n = min(len(actual), len(snap.daily))
        a, f = actual[:n], snap.daily[:n]
        ok = ~np.isnan(a)
        if not ok.any():
            continue
        days = max(days, n)
        err_f, err_n = f[ok] - a[ok], snap.naive - a[ok]
        abs_f.extend(np.abs(err_f))
        abs_n.extend(np.abs(err_n))
        scale = max(snap.scale, 1e-9)
        rm_f.append(float(np.sqrt(np.mean(err_f**2) / scale)))
        rm_n.append(float(np.sqrt(np.mean(err_n**2) / scale)))
        sold += float(a[ok].sum())
        predicted += float(f[ok].sum())
    if not rm_f:
        return None
    return Score(
        origin, len(rm_f), days, round(sold, 3), round(predicted, 3),
        round(float(np.mean(abs_f)), 4), round(float(np.mean(abs_n)), 4),
        round(float(np.mean(rm_f)), 4), round(float(np.mean(rm_n)), 4),
    )  # fmt: skip


def accuracy(pairs: Sequence[tuple[Snapshot, np.ndarray]]) -> tuple[list[Score], Score | None]:
    """Per origin (oldest first) and over all: each snapshot paired with the actual units since its origin
    (``NaN`` = censored). Snapshots with no scored day yet are left out."""
    by_origin: dict[date, list[tuple[Snapshot, np.ndarray]]] = {}
    for snap, actual in pairs:
        by_origin.setdefault(snap.origin, []).append((snap, actual))
    scores = [s for o in sorted(by_origin) if (s := _score(o, by_origin[o])) is not None]
    overall = _score(min(by_origin), list(pairs)) if by_origin else None
    return scores, overall


def naive_level(y: np.ndarray) -> float:
    """The naive forecast's level: the last observed (non-censored) day's units (0 with no history)."""
    obs = y[~np.isnan(y)]
    return float(obs[-1]) if len(obs) else 0.0


def naive_scale(y: np.ndarray) -> float:
    """The in-sample one-step naive MSE of the observed days from the first sale (1 when too short)."""
    obs = y[~np.isnan(y)]
    sold = np.flatnonzero(obs > 0)
    obs = obs[sold[0] :] if len(sold) else obs[:0]
    return float(np.mean(np.diff(obs) ** 2)) if len(obs) > 1 and np.any(np.diff(obs)) else 1.0
