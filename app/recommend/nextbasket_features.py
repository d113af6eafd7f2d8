"""Candidates and features of the next-basket ranker, computed with sparse, vectorised ops.

``candidates(shop, customers, rows, now)`` returns the candidate (customer, item) pairs of the customers ``rows``
(indices into ``customers``' baskets) with one feature row each, as of each customer's time ``now`` (days), from
the shop's signals and the customers' own (``app.recommend.nextbasket_state``). Nothing here looks past the
history it was given. Each customer's candidates and features depend on that customer's orders and the shop's
signals only (never on which other customers are computed with it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from app.recommend.nextbasket_state import CustomerSignals, ShopSignals
from app.recommend.topk import SparseLookup, row_top_k

FEATURES = [
    "count",
    "frequency",
    "tifu_own",
    "tifu_neighbours",
    "tifu_score",
    "decayed_30d",
    "decayed_120d",
    "item_knn",
    "item_knn_last",
    "neighbour_share",
    "in_last",
    "in_last3",
    "in_last10",
    "orders_since",
    "days_since",
    "own_cycle",
    "due_own",
    "item_cycle",
    "due_item",
    "repeat_rate",
    "repeat_x_user",
    "popularity",
    "buyers",
    "pop_4w",
    "pop_1w",
    "pop_trend",
    "slot_share",
    "weekday_share",
    "cat_frequency",
    "cat_decayed_120d",
    "cat_share",
    "user_orders",
    "user_days_since",
    "user_gap",
    "user_basket_size",
    "user_repeat_share",
    "source_own",
    "source_neighbours",
    "source_knn",
    "source_popular",
    "source_category",
    "freq_since_first",
    "share_30d",
    "share_120d",
    "cat_share_120d",
    "pop_7d",
    "pop_2d",
    "pop_7d_trend",
    "source_recent",
]


@dataclass
class Candidates:
    """Candidate pairs: ``rows`` index the request's customers, ``items`` the catalogue; one feature row each."""

    rows: np.ndarray
    items: np.ndarray
    features: np.ndarray


def _shared_lists(keys: np.ndarray, items_for) -> tuple[np.ndarray, np.ndarray]:
    """(rows, items) giving row j the list ``items_for(keys[j])``, computed once per distinct key."""
    lists = {k: items_for(k) for k in np.unique(keys)}
    rows = np.repeat(np.arange(len(keys)), [len(lists[k]) for k in keys])
    items = np.concatenate([lists[k] for k in keys]) if len(keys) else np.zeros(0, np.int64)
    return rows, items


def candidates(
    shop: ShopSignals,
    customers: CustomerSignals,
    rows: np.ndarray,
    now: np.ndarray,
    own_cap: int = 100,
    extra: int = 25,
    chunk: int = 256,
) -> Candidates:
    """Candidate pairs and features of the customers ``rows`` (indices into ``customers``) at times ``now``;
    ``Candidates.rows`` index ``rows``."""
    rows, now = np.asarray(rows, np.int64), np.asarray(now, np.float64)
    parts = []
    for lo in range(0, len(rows), chunk):
        c = _chunk(shop, customers, rows[lo : lo + chunk], now[lo : lo + chunk], own_cap, extra)
        c.rows += lo
        parts.append(c)
    if not parts:
        return Candidates(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, len(FEATURES))))
    return Candidates(
        np.concatenate([p.rows for p in parts]),
        np.concatenate([p.items for p in parts]),
        np.vstack([p.features for p in parts]),
    )


def _sources(
    shop: ShopSignals, cs: CustomerSignals, cust: np.ndarray, now: np.ndarray, own_cap: int, extra: int
) -> tuple[list[tuple[np.ndarray, np.ndarray]], sp.csr_matrix, sp.csr_matrix, sp.csr_matrix, sp.csr_matrix]:
    """Each candidate source's (row, item) pairs, and the matrices the features read again."""
    own = cs.own[cust]
    neigh, share = neighbourhood(shop, own)
    knn = (own @ shop.sim).tocsr()
    bought = cs.counts[cust].copy()
    bought.data[:] = 1.0
    sources = []
    for m, k in (
        (own, own_cap),
        (neigh - neigh.multiply(bought), extra),
        (knn - knn.multiply(bought), extra),
    ):
        sources.append(row_top_k(sp.csr_matrix(m), k))
    if shop.has_categories:
        by_cat = (cs.cat_decayed_now(cust, now) @ shop.cat_top).tocsr()
        sources.append(row_top_k(sp.csr_matrix(by_cat - by_cat.multiply(bought)), extra))
    else:
        sources.append((np.zeros(0, np.int64), np.zeros(0, np.int64)))
    week = shop.week_of(now)
    sources.append(_shared_lists(week, lambda w: shop.popular_at(w, extra)))
    days = np.floor(now).astype(np.int64)
    sources.append(_shared_lists(days, lambda d: shop.recent.top_before(float(d), 7.0, extra)))
    return sources, own, neigh, share, knn


def _chunk(
    shop: ShopSignals, cs: CustomerSignals, cust: np.ndarray, now: np.ndarray, own_cap: int, extra: int
) -> Candidates:
    n_items = shop.n_items
    sources, own, neigh, share, knn = _sources(shop, cs, cust, now, own_cap, extra)
    knn_last = (cs.in_last[cust] @ shop.sim).tocsr()
    week = shop.week_of(now)
    flags = [np.full(len(r), 1 << s, np.int64) for s, (r, _) in enumerate(sources)]
    r_all = np.concatenate([r for r, _ in sources])
    i_all = np.concatenate([i for _, i in sources]).astype(np.int64)
    key = r_all * n_items + i_all
    uniq, inv = np.unique(key, return_inverse=True)
    flag = np.zeros(len(uniq), np.int64)
    np.bitwise_or.at(flag, inv, np.concatenate(flags))
    r, i = uniq // n_items, uniq % n_items
    cu = cust[r]
    t = now[r]
    cnt = cs.count_at(cu, i)
    n_orders = cs.n_orders[cu].astype(float)
    last = np.where(cnt > 0, cs.last_at(cu, i), np.nan)
    first = np.where(cnt > 0, cs.first_at(cu, i), np.nan)
    days_since = t - last
    own_cycle = np.where(cnt >= 2, (last - first) / np.maximum(cnt - 1, 1), np.nan)
    item_cycle = shop.interval_days[i]
    last_pos = cs.last_pos_at(cu, i)
    orders_since = np.where(cnt > 0, n_orders - last_pos, np.nan)
    wk = week[r]
    own_v = SparseLookup(own)(r, i)
    neigh_v = SparseLookup(neigh)(r, i)
    nan = np.full(len(r), np.nan)
    if shop.has_categories:
        k = shop.categories[i]
        known = k >= 0
        kk = np.maximum(k, 0)
        cat_freq = np.where(known, cs.cat_count_at(cu, kk) / np.maximum(n_orders, 1), np.nan)
        cat_dec_raw = np.where(known, cs.cat_decayed_at(cu, kk), np.nan)
        cat_dec = cat_dec_raw * 2.0 ** ((shop.t_ref - t) / 120.0)
        cat_share = shop.cat_share[i]
    else:
        cat_freq = cat_dec = cat_share = cat_dec_raw = nan
    slot_share, weekday_share = cs.slot_shares(cu, i, t)
    p7 = shop.recent.count(i, t, 7.0)
    dec30, dec120 = cs.decayed_at[30.0](cu, i), cs.decayed_at[120.0](cu, i)  # as of t_ref
    rr = shop.repeat_rate[i]
    with np.errstate(divide="ignore", invalid="ignore"):
        due_own, due_item = days_since / own_cycle, days_since / item_cycle
        p4 = shop.weeks(i, wk, 4)
        trend = (p4 + 1.0) / (shop.weeks(i, wk, 12) / 3.0 + 1.0)
    feats = np.column_stack(
        [
            cnt,
            cnt / np.maximum(n_orders, 1),
            own_v,
            neigh_v,
            0.7 * own_v + 0.3 * neigh_v,
            dec30 * 2.0 ** ((shop.t_ref - t) / 30.0),
            dec120 * 2.0 ** ((shop.t_ref - t) / 120.0),
            SparseLookup(knn)(r, i),
            SparseLookup(knn_last)(r, i),
            SparseLookup(share)(r, i),
            cs.in_last_at(cu, i),
            cs.in_last3_at(cu, i),
            cs.in_last10_at(cu, i),
            orders_since,
            days_since,
            own_cycle,
            due_own,
            item_cycle,
            due_item,
            rr,
            rr * cs.repeat_share[cu],
            np.log1p(shop.pop[i]),
            np.log1p(shop.buyers[i]),
            np.log1p(p4),
            np.log1p(shop.weeks(i, wk, 1)),
            trend,
            slot_share,
            weekday_share,
            cat_freq,
            cat_dec,
            cat_share,
            n_orders,
            t - cs.last_order_time[cu],
            cs.user_gap[cu],
            cs.basket_size[cu],
            cs.repeat_share[cu],
            (flag & 1) > 0,
            (flag & 2) > 0,
            (flag & 4) > 0,
            (flag & 16) > 0,
            (flag & 8) > 0,
            np.where(cnt > 0, cnt / np.maximum(n_orders - cs.first_pos_at(cu, i) + 1, 1), np.nan),
            dec30 / np.maximum(cs.decayed_orders[30.0][cu], 1e-12),
            dec120 / np.maximum(cs.decayed_orders[120.0][cu], 1e-12),
            cat_dec_raw / np.maximum(cs.decayed_orders[120.0][cu], 1e-12),
            np.log1p(p7),
            np.log1p(shop.recent.count(i, t, 2.0)),
            (p7 + 1.0) / (p4 / 4.0 + 1.0),
            (flag & 32) > 0,
        ]
    ).astype(np.float32)
    feats[~np.isfinite(feats)] = np.nan
    return Candidates(r.astype(np.int64), i, feats)


def neighbourhood(shop: ShopSignals, own: sp.csr_matrix) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Mean TIFU vector of each customer's nearest customers of the shop's pool (Euclidean, the customer's own
    earlier self included, as in the TIFU-KNN reference code), and the share of them who bought each item."""
    if not len(shop.pool):
        empty = sp.csr_matrix(own.shape)
        return empty, empty
    q_sq = np.asarray(own.multiply(own).sum(axis=1)).ravel()
    d2 = q_sq[:, None] + shop.pool_sq[None, :] - 2.0 * (own @ shop.pool_vectors.T).toarray()
    k = min(shop.n_neighbors, len(shop.pool))
    nb = np.argpartition(d2, k - 1, axis=1)[:, :k]
    rows = np.repeat(np.arange(own.shape[0]), k)
    agg = sp.csr_matrix(
        (np.full(rows.size, 1.0 / k), (rows, nb.ravel())), shape=(own.shape[0], len(shop.pool))
    )
    return (agg @ shop.pool_vectors).tocsr(), (agg @ shop.pool_has).tocsr()
