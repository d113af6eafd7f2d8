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


class RecentSales:
    """Orders of each item in the ``window`` days strictly before a time (other customers' orders only count once
    they happened: nothing after ``t`` is seen)."""

    PAD = 5_000.0  # days of empty band on each side of an item's times: where out-of-range queries land

    def __init__(self, b: Baskets) -> None:
        coo = b.binary().tocoo()
        self.t0 = float(b.order_time.min()) if b.n_orders else 0.0
        self.span = float(b.order_time.max() - self.t0 if b.n_orders else 0.0) + 2 * self.PAD
        t = b.order_time[coo.row] - self.t0
        self.keys = np.sort(coo.col.astype(np.float64) * self.span + t)
        order = np.argsort(t, kind="stable")
        self.line_time, self.line_item = t[order], coo.col[order]
        self.n_items = b.n_items

    def since(self, t: float) -> RecentSales:
        """The same counts for windows that start at or after ``t`` (days): older lines are dropped."""
        out = RecentSales.__new__(RecentSales)
        out.__dict__.update(self.__dict__)
        keep = self.line_time >= t - self.t0
        out.line_time, out.line_item = self.line_time[keep], self.line_item[keep]
        out.keys = np.sort(out.line_item.astype(np.float64) * self.span + out.line_time)
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "line_time": self.line_time,
            "line_item": self.line_item,
            "scalars": np.array([self.t0, self.span, self.n_items], float),
        }

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray]) -> RecentSales:
        out = cls.__new__(cls)
        t0, span, n_items = a["scalars"].tolist()
        out.t0, out.span, out.n_items = t0, span, int(n_items)
        out.line_time, out.line_item = a["line_time"], a["line_item"]
        out.keys = np.sort(out.line_item.astype(np.float64) * span + out.line_time)
        return out

    def count(self, items: np.ndarray, t: np.ndarray, window: float) -> np.ndarray:
        """Orders of ``items[j]`` in [t[j] - window, t[j]): one binary search per end in the item-major keys (each
        item's times sit in their own band of width ``span``, so a window never reaches the next item's)."""
        base = items.astype(np.float64) * self.span
        rel = np.clip(t - self.t0, -self.PAD, self.span - self.PAD)
        hi = np.searchsorted(self.keys, base + rel)
        lo = np.searchsorted(self.keys, base + np.maximum(rel - window, -self.PAD))
        return (hi - lo).astype(np.float64)

    def top_before(self, t: float, window: float, n: int) -> np.ndarray:
        """The ``n`` items in most orders in [t - window, t)."""
        lo, hi = np.searchsorted(self.line_time, [t - window - self.t0, t - self.t0])
        sold = np.bincount(self.line_item[lo:hi], minlength=self.n_items)
        top = np.argsort(-sold, kind="stable")[:n]
        return top[sold[top] > 0]


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
