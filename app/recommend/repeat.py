"""Personal repeat ("buy it again"), aware of consumables vs one-off purchases.

Whether an item is a consumable is learned from the shop's own data: the share of its buyers who bought it
again, and its typical inter-purchase interval. Consumables come back when their cycle is due; one-offs the
customer already has are not recommended again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from app.recommend.popularity import item_popularity
from app.recommend.transactions import Baskets


@dataclass
class ItemRepurchase:
    """Per item: buyers, repeat buyers, repeat rate (smoothed) and median inter-purchase interval in days."""

    buyers: np.ndarray
    repeat_buyers: np.ndarray
    repeat_rate: np.ndarray
    interval_days: np.ndarray
    shop_repeat_rate: float

    def is_consumable(self, min_rate: float | None = None) -> np.ndarray:
        """Items bought again noticeably more often than the shop's typical item (or above ``min_rate``)."""
        threshold = self.shop_repeat_rate if min_rate is None else min_rate
        return self.repeat_rate >= threshold


def item_repurchase(baskets: Baskets, prior_strength: float = 5.0) -> ItemRepurchase:
    """Repurchase statistics learned from every customer's history (Bayesian-smoothed towards the shop mean)."""
    counts = baskets.counts().tocoo()
    n_items = baskets.n_items
    buyers = np.bincount(counts.col, minlength=n_items).astype(float)
    again = counts.data >= 2
    repeat_buyers = np.bincount(counts.col[again], minlength=n_items).astype(float)
    shop_rate = float(repeat_buyers.sum() / max(buyers.sum(), 1.0))
    rate = (repeat_buyers + prior_strength * shop_rate) / (buyers + prior_strength)
    first, last = baskets.first_time().tocoo(), baskets.last_time().tocsr()
    span = np.asarray(last[first.row, first.col]).ravel() - first.data
    n_buys = np.asarray(baskets.counts()[first.row, first.col]).ravel()
    mask = n_buys >= 2
    per_customer = span[mask] / (n_buys[mask] - 1)
    interval = np.full(n_items, np.nan)
    if mask.any():
        order = np.lexsort((per_customer, first.col[mask]))
        cols, vals = first.col[mask][order], per_customer[order]
        starts = np.concatenate([[0], np.flatnonzero(np.diff(cols)) + 1])
        ends = np.concatenate([starts[1:], [len(cols)]])
        interval[cols[starts]] = vals[(starts + ends - 1) // 2]
    return ItemRepurchase(buyers, repeat_buyers, rate, interval, shop_rate)


class PersonalTopFrequency:
    """GP-TopFreq: each customer's most frequently bought items, padded with global popularity."""

    name = "gp_topfreq"

    def fit(self, baskets: Baskets) -> PersonalTopFrequency:
        self.counts = baskets.counts()
        pop = item_popularity(baskets)
        self.pad = 0.5 * pop / max(pop.max(), 1.0)  # < 1: never outranks a personal purchase
        return self

    def score(self, customers: np.ndarray, now: np.ndarray) -> np.ndarray:
        return self.counts[customers].toarray() + self.pad

    def score_sparse(self, customers: np.ndarray, now: np.ndarray) -> sp.csr_matrix:
        """Order counts; the ranker breaks ties and pads with popularity, exactly like ``pad``."""
        return self.counts[customers].tocsr()


def buy_it_again(
    baskets: Baskets,
    customer: int,
    now: float,
    stats: ItemRepurchase,
    k: int = 10,
) -> list[tuple[int, float, str]]:
    """Items to buy again for one customer: consumables whose cycle is (nearly) due, never one-offs or returns.

    Returns (item, score, reason) best first. Score = how due the item is (days since last purchase divided by
    its interval) times the customer's own purchase frequency.
    """
    rows = slice(baskets.cust_ptr[customer], baskets.cust_ptr[customer + 1])
    sub = baskets.binary()[rows]
    if not sub.shape[0]:
        return []
    times = baskets.order_time[rows]
    bought = np.flatnonzero(np.asarray(sub.sum(axis=0)).ravel())
    returned = set(baskets.returned()[customer].indices.tolist())
    consumable = stats.is_consumable()
    out: list[tuple[int, float, str]] = []
    for item in bought:
        if item in returned or not consumable[item]:
            continue
        when = times[sub[:, item].nonzero()[0]]
        interval = stats.interval_days[item]
        own = np.median(np.diff(when)) if len(when) >= 2 else np.nan
        cycle = own if np.isfinite(own) and own > 0 else interval
        since = now - when.max()
        due = since / cycle if np.isfinite(cycle) and cycle > 0 else 0.5
        score = len(when) * min(due, 2.0) * stats.repeat_rate[item]
        days = int(round(since))
        reason = (
            f"you buy {baskets.titles[item]} about every {int(round(cycle))} days"
            if np.isfinite(cycle) and cycle > 0
            else f"you bought {baskets.titles[item]} {days} days ago"
        )
        out.append((int(item), float(score), reason))
    out.sort(key=lambda t: -t[1])
    return out[:k]


def just_bought_one_offs(baskets: Baskets, stats: ItemRepurchase, customer: int) -> set[int]:
    """Non-consumables the customer has already bought: not to be recommended again."""
    rows = slice(baskets.cust_ptr[customer], baskets.cust_ptr[customer + 1])
    bought = np.flatnonzero(np.asarray(baskets.binary()[rows].sum(axis=0)).ravel())
    consumable = stats.is_consumable()
    return {int(i) for i in bought if not consumable[i]}


def as_sparse_scores(n_items: int, items: list[tuple[int, float, str]]) -> sp.csr_matrix:
    vals = np.array([s for _, s, _ in items], dtype=float)
    cols = np.array([i for i, _, _ in items], dtype=np.int64)
    return sp.csr_matrix((vals, (np.zeros(len(cols), np.int64), cols)), shape=(1, n_items))
