"""Candidates and features of the next-basket ranker, computed from one history with sparse, vectorised ops.

``Signals(history)`` precomputes everything that depends on the history only (TIFU vectors, item-item cosine
neighbours, repurchase statistics, weekly popularity); ``Signals.candidates(customers, now)`` returns the
candidate (customer, item) pairs with one feature row each, as of each customer's time ``now`` (days). Nothing
here looks past the history it was given.

Longer than about 400 lines on purpose: ``Signals`` is one idea, every feature of the ranker computed from the
same precomputed state; split, that state would have to travel between modules.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from app.recommend.cooccurrence import cosine_item_knn, prune_top_k
from app.recommend.popularity import RecentSales, item_popularity, weekly_popularity
from app.recommend.repeat import item_repurchase
from app.recommend.tifu import TIFUKNN
from app.recommend.transactions import Baskets, SparseLookup, row_top_k

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


def _slot(days: np.ndarray) -> np.ndarray:
    """4-hour slot of the day (0..5) of times in days since the epoch (UTC)."""
    return ((np.asarray(days) % 1.0) * 6).astype(np.int64).clip(0, 5)


def _weekday(days: np.ndarray) -> np.ndarray:
    return (np.floor(np.asarray(days)).astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday (3)


def _shared_lists(keys: np.ndarray, items_for) -> tuple[np.ndarray, np.ndarray]:
    """(rows, items) giving row j the list ``items_for(keys[j])``, computed once per distinct key."""
    lists = {k: items_for(k) for k in np.unique(keys)}
    rows = np.repeat(np.arange(len(keys)), [len(lists[k]) for k in keys])
    items = np.concatenate([lists[k] for k in keys]) if len(keys) else np.zeros(0, np.int64)
    return rows, items


class Signals:
    """History-only statistics shared by candidate generation and features."""

    def __init__(
        self, baskets: Baskets, n_neighbors: int = 300, knn_k: int = 50, min_knn_buyers: int = 3
    ) -> None:
        self.b = b = baskets
        self.tifu = TIFUKNN(n_neighbors=n_neighbors, within_decay=0.9, group_decay=0.7, alpha=0.7).fit(b)
        counts = b.counts()
        self.counts = counts
        self.count_at = SparseLookup(counts)
        self.has = counts.copy()
        self.has.data[:] = 1.0
        self.tifu_at = SparseLookup(self.tifu.vectors)
        self.last_at = SparseLookup(b.last_time())
        first = b.first_time()
        self.first_at = SparseLookup(first)
        self.stats = item_repurchase(b)
        pop = item_popularity(b)
        self.pop = pop
        self.buyers = np.diff(counts.tocsc().indptr).astype(float)
        # item-item cosine over customers, only for items with a few buyers (rare items add cost, not signal)
        keep = (self.buyers >= min_knn_buyers).astype(np.float32)
        binary = (self.has @ sp.diags(keep)).tocsr()
        binary.eliminate_zeros()
        self.sim = cosine_item_knn(binary, k=knn_k, shrink=10.0)
        self.cum, self.start = weekly_popularity(b)
        self.recent = RecentSales(b)
        n = b.orders_per_customer
        self.n_orders = n
        pos = b.order_position
        cust_n = n[b.order_customer]
        ind = b.customer_indicator
        bin_orders = b.binary()
        self.in_last = (ind((pos == cust_n - 1).astype(float)) @ bin_orders).tocsr()
        self.in_last_at = SparseLookup(self.in_last)
        self.in_last3_at = SparseLookup((ind((pos >= cust_n - 3).astype(float)) @ bin_orders).tocsr())
        self.in_last10_at = SparseLookup((ind((pos >= cust_n - 10).astype(float)) @ bin_orders).tocsr())
        # position (0-based) of the last order containing each (customer, item)
        last_pos, first_pos = self._positions(b)
        self.last_pos_at, self.first_pos_at = SparseLookup(last_pos), SparseLookup(first_pos)
        has = n > 0
        self.last_order_time = np.full(b.n_customers, np.nan)
        self.last_order_time[has] = b.order_time[b.cust_ptr[1:][has] - 1]
        first_order_time = np.full(b.n_customers, np.nan)
        first_order_time[has] = b.order_time[b.cust_ptr[:-1][has]]
        self.user_gap = (self.last_order_time - first_order_time) / np.maximum(n - 1, 1)
        self.user_gap[n < 2] = np.nan
        sizes = np.diff(bin_orders.indptr).astype(float)
        self.basket_size = np.bincount(b.order_customer, sizes, b.n_customers) / np.maximum(n, 1)
        # share of each customer's order lines that repeat an item bought in an earlier order
        coo = bin_orders.tocoo()
        cust = b.order_customer[coo.row]
        repeat_line = self.first_at(cust, coo.col) < b.order_time[coo.row]
        later = pos[coo.row] > 0
        self.repeat_share = np.bincount(cust[later], repeat_line[later], b.n_customers) / np.maximum(
            np.bincount(cust[later], minlength=b.n_customers), 1
        )
        self.repeat_share[np.bincount(cust[later], minlength=b.n_customers) == 0] = np.nan
        self.returned = b.returned()
        # time-decayed purchase counts factorise: sum_o 2 ** ((t_o - now) / h) = 2 ** ((t_ref - now) / h) x D_h
        self.t_ref = float(b.order_time.max()) if b.n_orders else 0.0
        self.decayed_at = {
            h: SparseLookup(ind(2.0 ** ((b.order_time - self.t_ref) / h)) @ bin_orders) for h in (30.0, 120.0)
        }
        # the same decay summed over the customer's orders: item / orders = decayed share of trips with the item
        self.decayed_orders = {
            h: np.bincount(b.order_customer, 2.0 ** ((b.order_time - self.t_ref) / h), b.n_customers)
            for h in (30.0, 120.0)
        }
        self._categories(bin_orders)
        self._time_slots(bin_orders)

    def _time_slots(self, bin_orders: sp.csr_matrix) -> None:
        """Per customer x (4-hour slot | weekday): orders, and orders with each item (trip type: a Friday-evening
        top-up is not the Sunday stock-up)."""
        b = self.b
        slot, weekday = _slot(b.order_time), _weekday(b.order_time)
        ind = b.customer_indicator
        self.slot_items = [SparseLookup(ind((slot == v).astype(float)) @ bin_orders) for v in range(6)]
        self.weekday_items = [SparseLookup(ind((weekday == v).astype(float)) @ bin_orders) for v in range(7)]
        n = b.n_customers
        self.slot_orders = np.zeros((n, 6))
        np.add.at(self.slot_orders, (b.order_customer, slot), 1.0)
        self.weekday_orders = np.zeros((n, 7))
        np.add.at(self.weekday_orders, (b.order_customer, weekday), 1.0)

    def _slot_shares(self, cu: np.ndarray, i: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Share of the customer's orders in the slot (weekday) of ``t`` that contained the item."""
        out = []
        for lookups, orders, of in (
            (self.slot_items, self.slot_orders, _slot(t)),
            (self.weekday_items, self.weekday_orders, _weekday(t)),
        ):
            hits = np.zeros(len(cu))
            for v, look in enumerate(lookups):
                m = of == v
                hits[m] = look(cu[m], i[m])
            n = orders[cu, of]
            out.append(np.where(n > 0, hits / np.maximum(n, 1), np.nan))
        return out[0], out[1]

    def _categories(self, bin_orders: sp.csr_matrix) -> None:
        """Product-type signals: how often the customer buys the item's category, the item's share of it, and
        per category its best sellers (candidates the customer has not bought yet)."""
        b = self.b
        cats = b.category_matrix()
        self.cat = b.categories if cats is not None else None
        if cats is None:
            return
        order_cat = (bin_orders @ cats).tocsr()
        order_cat.data[:] = 1.0
        self.cat_count_at = SparseLookup(b.customer_indicator() @ order_cat)
        self.user_cat_decayed = (
            b.customer_indicator(2.0 ** ((b.order_time - self.t_ref) / 120.0)) @ order_cat
        ).tocsr()
        self.cat_decayed_at = SparseLookup(self.user_cat_decayed)
        cat_pop = np.asarray(cats.T @ self.pop).ravel()
        known = b.categories >= 0
        self.cat_share = np.full(b.n_items, np.nan)
        self.cat_share[known] = self.pop[known] / np.maximum(cat_pop[b.categories[known]], 1.0)
        # category x item: the category's 10 best sellers, weighted by their share of it
        share = sp.csr_matrix(
            (np.nan_to_num(self.cat_share[known]), (b.categories[known], np.flatnonzero(known))),
            shape=(cats.shape[1], b.n_items),
        )

        self.cat_top = prune_top_k(share, 10)

    @staticmethod
    def _positions(b: Baskets) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """Customer x item: 1 + position of the latest, and of the first, order containing the item."""
        coo = b.binary().tocoo()
        pos = b.order_position[coo.row].astype(float) + 1.0
        cust = b.order_customer[coo.row]
        keys = cust.astype(np.int64) * b.n_items + coo.col
        order = np.lexsort((pos, keys))
        keys, pos = keys[order], pos[order]
        ends = np.flatnonzero(np.diff(keys))
        last = np.concatenate([ends, [len(keys) - 1]]) if len(keys) else np.zeros(0, np.int64)
        first = np.concatenate([[0], ends + 1]) if len(keys) else np.zeros(0, np.int64)
        shape = (b.n_customers, b.n_items)
        return tuple(  # type: ignore[return-value]
            sp.csr_matrix((pos[at], (keys[at] // b.n_items, keys[at] % b.n_items)), shape=shape)
            for at in (last, first)
        )

    # -- candidates -----------------------------------------------------------------------------------------
    def candidates(
        self,
        customers: np.ndarray,
        now: np.ndarray,
        own_cap: int = 100,
        extra: int = 25,
        chunk: int = 256,
    ) -> Candidates:
        parts = []
        for lo in range(0, len(customers), chunk):
            c = self._chunk(customers[lo : lo + chunk], now[lo : lo + chunk], own_cap, extra)
            c.rows += lo
            parts.append(c)
        if not parts:
            return Candidates(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, len(FEATURES))))
        return Candidates(
            np.concatenate([p.rows for p in parts]),
            np.concatenate([p.items for p in parts]),
            np.vstack([p.features for p in parts]),
        )

    def _chunk(self, cust: np.ndarray, now: np.ndarray, own_cap: int, extra: int) -> Candidates:
        n_items = self.b.n_items
        own = self.tifu.vectors[cust]
        neigh, share = self._neighbourhood(cust)
        knn = (own @ self.sim).tocsr()
        knn_last = (self.in_last[cust] @ self.sim).tocsr()
        week = np.clip(((now - self.start) // 7).astype(np.int64), 0, self.cum.shape[1] - 1)
        bought = self.counts[cust].copy()
        bought.data[:] = 1.0
        sources = []
        for m, k in (
            (own, own_cap),
            (neigh - neigh.multiply(bought), extra),
            (knn - knn.multiply(bought), extra),
        ):
            sources.append(row_top_k(sp.csr_matrix(m), k))
        if self.cat is not None:
            by_cat = (self._cat_decayed_now(cust, now) @ self.cat_top).tocsr()
            sources.append(row_top_k(sp.csr_matrix(by_cat - by_cat.multiply(bought)), extra))
        else:
            sources.append((np.zeros(0, np.int64), np.zeros(0, np.int64)))
        sources.append(_shared_lists(week, lambda w: self._popular_at(w, extra)))
        days = np.floor(now).astype(np.int64)
        sources.append(_shared_lists(days, lambda d: self.recent.top_before(float(d), 7.0, extra)))
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
        cnt = self.count_at(cu, i)
        n_orders = self.n_orders[cu].astype(float)
        last = np.where(cnt > 0, self.last_at(cu, i), np.nan)
        first = np.where(cnt > 0, self.first_at(cu, i), np.nan)
        days_since = t - last
        own_cycle = np.where(cnt >= 2, (last - first) / np.maximum(cnt - 1, 1), np.nan)
        item_cycle = self.stats.interval_days[i]
        last_pos = self.last_pos_at(cu, i)
        orders_since = np.where(cnt > 0, n_orders - last_pos, np.nan)
        wk = week[r]
        own_v = SparseLookup(own)(r, i)
        neigh_v = SparseLookup(neigh)(r, i)
        nan = np.full(len(r), np.nan)
        if self.cat is not None:
            k = self.cat[i]
            known = k >= 0
            kk = np.maximum(k, 0)
            cat_freq = np.where(known, self.cat_count_at(cu, kk) / np.maximum(n_orders, 1), np.nan)
            cat_dec_raw = np.where(known, self.cat_decayed_at(cu, kk), np.nan)
            cat_dec = cat_dec_raw * 2.0 ** ((self.t_ref - t) / 120.0)
            cat_share = self.cat_share[i]
        else:
            cat_freq = cat_dec = cat_share = cat_dec_raw = nan
        slot_share, weekday_share = self._slot_shares(cu, i, t)
        p7 = self.recent.count(i, t, 7.0)
        dec30, dec120 = self.decayed_at[30.0](cu, i), self.decayed_at[120.0](cu, i)  # as of t_ref
        rr = self.stats.repeat_rate[i]
        with np.errstate(divide="ignore", invalid="ignore"):
            due_own, due_item = days_since / own_cycle, days_since / item_cycle
            p4 = self._weeks(i, wk, 4)
            trend = (p4 + 1.0) / (self._weeks(i, wk, 12) / 3.0 + 1.0)
        feats = np.column_stack(
            [
                cnt,
                cnt / np.maximum(n_orders, 1),
                own_v,
                neigh_v,
                0.7 * own_v + 0.3 * neigh_v,
                dec30 * 2.0 ** ((self.t_ref - t) / 30.0),
                dec120 * 2.0 ** ((self.t_ref - t) / 120.0),
                SparseLookup(knn)(r, i),
                SparseLookup(knn_last)(r, i),
                SparseLookup(share)(r, i),
                self.in_last_at(cu, i),
                self.in_last3_at(cu, i),
                self.in_last10_at(cu, i),
                orders_since,
                days_since,
                own_cycle,
                due_own,
                item_cycle,
                due_item,
                rr,
                rr * self.repeat_share[cu],
                np.log1p(self.pop[i]),
                np.log1p(self.buyers[i]),
                np.log1p(p4),
                np.log1p(self._weeks(i, wk, 1)),
                trend,
                slot_share,
                weekday_share,
                cat_freq,
                cat_dec,
                cat_share,
                n_orders,
                t - self.last_order_time[cu],
                self.user_gap[cu],
                self.basket_size[cu],
                self.repeat_share[cu],
                (flag & 1) > 0,
                (flag & 2) > 0,
                (flag & 4) > 0,
                (flag & 16) > 0,
                (flag & 8) > 0,
                np.where(cnt > 0, cnt / np.maximum(n_orders - self.first_pos_at(cu, i) + 1, 1), np.nan),
                dec30 / np.maximum(self.decayed_orders[30.0][cu], 1e-12),
                dec120 / np.maximum(self.decayed_orders[120.0][cu], 1e-12),
                cat_dec_raw / np.maximum(self.decayed_orders[120.0][cu], 1e-12),
                np.log1p(p7),
                np.log1p(self.recent.count(i, t, 2.0)),
                (p7 + 1.0) / (p4 / 4.0 + 1.0),
                (flag & 32) > 0,
            ]
        ).astype(np.float32)
        feats[~np.isfinite(feats)] = np.nan
        return Candidates(r.astype(np.int64), i, feats)

    def _neighbourhood(self, cust: np.ndarray) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """Mean TIFU vector of the nearest customers, and the share of them who bought each item."""
        if not len(self.tifu.pool):
            empty = sp.csr_matrix((len(cust), self.b.n_items))
            return empty, empty
        nb = self.tifu.neighbours(cust)
        k = nb.shape[1]
        rows = np.repeat(np.arange(len(cust)), k)
        agg = sp.csr_matrix(
            (np.full(rows.size, 1.0 / k), (rows, nb.ravel())), shape=(len(cust), self.b.n_customers)
        )
        return (agg @ self.tifu.vectors).tocsr(), (agg @ self.has).tocsr()

    def _cat_decayed_now(self, cust: np.ndarray, now: np.ndarray) -> sp.csr_matrix:
        """Customer x category: orders with the category, weighted 0.5 ** (age / 120 days) at ``now``."""
        return (sp.diags(2.0 ** ((self.t_ref - now) / 120.0)) @ self.user_cat_decayed[cust]).tocsr()

    def _weeks(self, items: np.ndarray, week: np.ndarray, n: int) -> np.ndarray:
        """Orders of each item in the ``n`` whole weeks before ``week``."""
        return self.cum[items, week] - self.cum[items, np.maximum(week - n, 0)]

    def _popular_at(self, week: int, n: int) -> np.ndarray:
        """The ``n`` items ordered most in the four weeks before ``week``."""
        recent = self.cum[:, week] - self.cum[:, max(week - 4, 0)]
        top = np.argsort(-recent, kind="stable")[:n]
        return top[recent[top] > 0]
