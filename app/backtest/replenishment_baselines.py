"""The peers of ``attune backtest replenishment``, all fitted on the same clean purchase days as Attune's model.

Each returns ``(predicted_next_at, score14, score30, p14, p30)`` per pair (days since the epoch). Point rules (a
gap added to the last purchase) predict ``max(cutoff, last + gap)``; their probability is the rule itself (1 when
due within the horizon, else 0: what a "remind when due" rule does). Their AUC ranks by the rule with its ties
broken by how far the due date lies outside the horizon's window (nearer = higher), so they are not penalised
for being 0/1. The Poisson–Gamma rate is a full probability model.
"""

from __future__ import annotations

import numpy as np

from app.recommend.replenishment_input import PurchaseDays

Prediction = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def pair_gaps(days: PurchaseDays) -> tuple[np.ndarray, np.ndarray]:
    """(pair, gap in days) for every pair of consecutive purchase days."""
    pair = days.row_pair
    i = np.flatnonzero(np.r_[pair[1:] == pair[:-1], False]) if len(pair) else np.zeros(0, np.int64)
    return pair[i], (days.day[i + 1] - days.day[i]).astype(float)


def group_median(keys: np.ndarray, values: np.ndarray, n: int, default: float) -> np.ndarray:
    """Median of ``values`` per key 0..n-1 (``default`` where a key has none)."""
    out = np.full(n, default)
    if not len(keys):
        return out
    order = np.lexsort((values, keys))
    k, v = keys[order], values[order]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    ends = np.r_[starts[1:], len(k)]
    out[k[starts]] = (v[(starts + ends - 1) // 2] + v[(starts + ends) // 2]) / 2.0
    return out


def _rule(days: PurchaseDays, gap: np.ndarray, cutoff: float) -> Prediction:
    return _due(days.last_day() + gap, cutoff)


def _due(due: np.ndarray, cutoff: float) -> Prediction:
    """A due date → the prediction, the window-distance scores and the 0/1 probabilities for 14 and 30 days."""
    pred = np.maximum(due, cutoff)
    outside = {h: np.maximum(cutoff - due, 0.0) + np.maximum(due - (cutoff + h - 1), 0.0) for h in (14, 30)}
    return (
        pred,
        -outside[14],
        -outside[30],
        (pred < cutoff + 14).astype(float),
        (pred < cutoff + 30).astype(float),
    )


def personal_rules(days: PurchaseDays, cutoff: float) -> dict[str, Prediction]:
    """The personal median gap, the personal mean gap and the last gap."""
    pair, gap = pair_gaps(days)
    n = days.n_pairs
    shop = float(np.median(gap)) if len(gap) else 30.0
    count = np.bincount(pair, minlength=n)
    mean = np.divide(
        np.bincount(pair, weights=gap, minlength=n), count, out=np.full(n, shop), where=count > 0
    )
    last = np.full(n, shop)
    last[pair] = gap  # pairs and gaps are in time order: the last write per pair is its last gap
    return {
        "personal_median_gap": _rule(days, group_median(pair, gap, n, shop), cutoff),
        "personal_mean_gap": _rule(days, mean, cutoff),
        "last_gap": _rule(days, last, cutoff),
    }


def product_median_interval(days: PurchaseDays, cutoff: float) -> Prediction:
    """The Repeat-style rule: one reorder interval per product, the median of its gaps (the shop's if none)."""
    pair, gap = pair_gaps(days)
    shop = float(np.median(gap)) if len(gap) else 30.0
    per_product = group_median(days.pair_product[pair], gap, len(days.products), shop)
    return _rule(days, per_product[days.pair_product], cutoff)


def profile_next_order(days: PurchaseDays, order_days: dict[int, np.ndarray], cutoff: float) -> Prediction:
    """The profile-level expected next order date: the customer's last order plus their mean gap between orders
    (any product), the same date for every product of the customer. ``order_days``: customer → order days."""
    n_cust = len(days.customers)
    nxt = np.full(n_cust, np.nan)
    for c, d in order_days.items():
        if len(d) >= 2:
            nxt[c] = d[-1] + (d[-1] - d[0]) / (len(d) - 1)
    due = nxt[days.pair_customer]
    return _due(np.where(np.isfinite(due), due, days.last_day() + 30.0), cutoff)


def poisson_gamma(days: PurchaseDays, cutoff: float) -> Prediction:
    """A Poisson purchase rate per pair with a Gamma prior fitted across the shop's pairs by moments (the
    "buy it again" model): repeats since the pair's first purchase over the exposure since then."""
    first = days.day[days.ptr[:-1]].astype(float)
    exposure = np.maximum(cutoff - first, 1.0)
    repeats = days.n_days - 1.0
    rate = repeats / exposure
    mean = float(rate.mean()) if len(rate) else 0.01
    excess = float(rate.var() - mean * np.mean(1.0 / exposure)) if len(rate) > 1 else 0.0
    alpha = mean**2 / max(excess, 1e-6 * mean**2, 1e-12)
    beta = alpha / max(mean, 1e-12)
    a, b = alpha + repeats, beta + exposure
    p14 = 1.0 - (b / (b + 14.0)) ** a
    p30 = 1.0 - (b / (b + 30.0)) ** a
    wait = b * (2.0 ** (1.0 / a) - 1.0)
    return cutoff + wait, p14, p30, p14, p30
