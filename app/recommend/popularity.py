"""Popularity: how many orders contained each item, optionally time-decayed; the cold-start fallback."""

from __future__ import annotations

import numpy as np

from app.recommend.transactions import Baskets


def item_popularity(
    baskets: Baskets, half_life_days: float | None = None, now: float | None = None
) -> np.ndarray:
    """Orders containing each item; with ``half_life_days``, each order weighs 0.5 ** (age / half_life)."""
    b = baskets.binary()
    if half_life_days is None or not baskets.n_orders:
        w = np.ones(baskets.n_orders)
    else:
        ref = baskets.order_time.max() if now is None else now
        w = 0.5 ** (np.maximum(ref - baskets.order_time, 0.0) / half_life_days)
    return np.asarray(b.T @ w).ravel()


def weekly_popularity(baskets: Baskets) -> tuple[np.ndarray, float]:
    """Cumulative item x week order counts (and week 0's start), for "popular in the last N weeks before t"."""
    if not baskets.n_orders:
        return np.zeros((baskets.n_items, 1)), 0.0
    start = float(np.floor(baskets.order_time.min()))
    week = ((baskets.order_time - start) // 7).astype(np.int64)
    n_weeks = int(week.max()) + 2
    coo = baskets.binary().tocoo()
    grid = np.zeros((baskets.n_items, n_weeks))
    np.add.at(grid, (coo.col, week[coo.row] + 1), 1.0)
    return np.cumsum(grid, axis=1), start


def recent_popularity(cum: np.ndarray, start: float, times: np.ndarray, weeks: int) -> np.ndarray:
    """Orders per item in the ``weeks`` whole weeks before each time: (len(times), n_items)."""
    w = np.clip(((times - start) // 7).astype(np.int64), 0, cum.shape[1] - 1)
    lo = np.clip(w - weeks, 0, cum.shape[1] - 1)
    return (cum[:, w] - cum[:, lo]).T


class Popularity:
    """Global popularity baseline: the same most-ordered items for everyone (optionally recency-decayed)."""

    name = "popularity"

    def __init__(self, half_life_days: float | None = None) -> None:
        self.half_life_days = half_life_days

    def fit(self, baskets: Baskets) -> Popularity:
        self.scores = item_popularity(baskets, self.half_life_days)
        return self

    def score(self, customers: np.ndarray, now: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.scores, (len(customers), len(self.scores)))
