"""Attune's next-basket recommender: candidates from several signals, ranked by a model learned per shop.

Candidates for a customer: their own purchases (TIFU time-decayed repeat vector), the items of their nearest
customers (TIFU user-kNN), items similar to what they buy (cosine item-kNN) and what sells now (recent
popularity). A gradient-boosted ranker scores each (customer, candidate) from those signals plus repurchase
timing (days since the customer last bought it vs its usual cycle, the item's repeat rate = consumable or
one-off). The ranker is trained on the shop's own history: each customer's latest order is the label, the orders
before it are the input, so ``fit`` never looks past the data it is given. Items the customer returned (net
quantity <= 0) are never recommended.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.recommend.cooccurrence import cosine_item_knn
from app.recommend.popularity import item_popularity, recent_popularity, weekly_popularity
from app.recommend.repeat import item_repurchase
from app.recommend.tifu import TIFUKNN
from app.recommend.transactions import Baskets, top_k

FEATURES = [
    "count",
    "frequency",
    "tifu_own",
    "tifu_neighbours",
    "item_knn",
    "item_knn_last",
    "days_since",
    "own_cycle",
    "due_own",
    "item_cycle",
    "due_item",
    "repeat_rate",
    "popularity",
    "pop_4w",
    "pop_1w",
    "in_last",
    "in_last3",
    "user_orders",
    "user_days_since",
    "user_basket_size",
    "user_repeat_share",
]


@dataclass
class Candidates:
    customers: np.ndarray  # position in the request, per row
    items: np.ndarray
    features: np.ndarray


class _Signals:
    """Everything the features need, computed once from a history."""

    def __init__(self, baskets: Baskets, n_neighbors: int, knn_k: int) -> None:
        self.b = baskets
        self.tifu = TIFUKNN(n_neighbors=n_neighbors).fit(baskets)
        self.counts = baskets.counts()
        binary = self.counts.copy()
        binary.data[:] = 1.0
        self.sim = cosine_item_knn(binary, k=knn_k, shrink=10.0)
        self.last = baskets.last_time()
        self.first = baskets.first_time()
        self.stats = item_repurchase(baskets)
        self.pop = np.log1p(item_popularity(baskets))
        self.cum, self.start = weekly_popularity(baskets)
        n = baskets.orders_per_customer
        pos = baskets.order_position
        last_rows = pos == n[baskets.order_customer] - 1
        recent_rows = pos >= n[baskets.order_customer] - 3
        ind = baskets.customer_indicator
        self.in_last = (ind(last_rows.astype(float)) @ baskets.binary()).tocsr()
        self.in_last3 = (ind(recent_rows.astype(float)) @ baskets.binary()).tocsr()
        self.n_orders = n
        t = np.full(baskets.n_customers, np.nan)
        has = n > 0
        t[has] = baskets.order_time[baskets.cust_ptr[1:][has] - 1]
        self.last_order_time = t
        sizes = np.asarray(baskets.binary().sum(axis=1)).ravel()
        self.basket_size = np.bincount(baskets.order_customer, sizes, baskets.n_customers) / np.maximum(n, 1)
        distinct = np.diff(self.counts.indptr)
        total = np.asarray(self.counts.sum(axis=1)).ravel()
        self.repeat_share = 1.0 - distinct / np.maximum(total, 1)
        self.returned = baskets.returned()


class NextBasketRecommender:
    """Blended next-basket recommender (one configuration for every shop; the ranker is learned per shop)."""

    name = "attune"

    def __init__(
        self, n_neighbors: int = 300, knn_k: int = 100, own_cap: int = 150, extra: int = 40, seed: int = 7
    ) -> None:
        self.n_neighbors, self.knn_k, self.own_cap, self.extra, self.seed = (
            n_neighbors,
            knn_k,
            own_cap,
            extra,
            seed,
        )

    # -- training -------------------------------------------------------------------------------------------
    def fit(self, baskets: Baskets) -> NextBasketRecommender:
        from sklearn.ensemble import HistGradientBoostingClassifier

        self.model = None
        self.popular = item_popularity(baskets)
        self.signals = None
        if not baskets.n_orders:  # a new shop: popularity (all zero) is the only signal until orders come
            return self
        history, split = baskets.split_last()
        labels = np.zeros(0, bool)
        if history.n_orders and len(split.customers):
            signals = _Signals(history, self.n_neighbors, self.knn_k)
            cands = self._candidates(signals, split.customers, split.times)
            labels = np.asarray(split.targets[cands.customers, cands.items]).ravel() > 0
        if labels.any() and not labels.all():
            self.model = HistGradientBoostingClassifier(
                learning_rate=0.05,
                max_iter=300,
                max_leaf_nodes=31,
                min_samples_leaf=40,
                l2_regularization=1.0,
                early_stopping=True,
                validation_fraction=0.1,
                n_iter_no_change=20,
                random_state=self.seed,
            ).fit(cands.features, labels)
        self.signals = _Signals(baskets, self.n_neighbors, self.knn_k)
        return self

    # -- serving --------------------------------------------------------------------------------------------
    def recommend(self, customers: np.ndarray, now: np.ndarray, k: int = 10) -> np.ndarray:
        """Top ``k`` item indices per customer (rows), as of time ``now`` (days) per customer."""
        if self.signals is None:
            return np.tile(top_k(self.popular[None, :], k), (len(customers), 1))
        out = np.zeros((len(customers), k), np.int64)
        chunk = max(16, int(3e6 // max(self.signals.b.n_items, 1)))
        for lo in range(0, len(customers), chunk):
            out[lo : lo + chunk] = self._recommend_chunk(customers[lo : lo + chunk], now[lo : lo + chunk], k)
        return out

    def _recommend_chunk(self, customers: np.ndarray, now: np.ndarray, k: int) -> np.ndarray:
        s = self.signals
        cands = self._candidates(s, customers, now)
        if self.model is not None and len(cands.items):
            p = self.model.predict_proba(cands.features)[:, 1]
        else:
            p = (
                cands.features[:, FEATURES.index("tifu_own")]
                + 1e-3 * cands.features[:, FEATURES.index("popularity")]
            )
        scores = np.zeros((len(customers), s.b.n_items))
        scores[:] = 1e-6 * self.popular / max(self.popular.max(), 1.0)  # cold start: what sells
        scores[cands.customers, cands.items] = 1.0 + p
        returned = s.returned[customers].toarray() > 0
        return top_k(scores, k, exclude=returned)

    # -- features -------------------------------------------------------------------------------------------
    def _candidates(self, s: _Signals, customers: np.ndarray, now: np.ndarray) -> Candidates:
        parts = []
        chunk = max(16, int(3e6 // max(s.b.n_items, 1)))
        for lo in range(0, len(customers), chunk):
            c = self._chunk(s, customers[lo : lo + chunk], now[lo : lo + chunk])
            c.customers += lo
            parts.append(c)
        return Candidates(
            np.concatenate([p.customers for p in parts]) if parts else np.zeros(0, np.int64),
            np.concatenate([p.items for p in parts]) if parts else np.zeros(0, np.int64),
            np.vstack([p.features for p in parts]) if parts else np.zeros((0, len(FEATURES))),
        )

    def _chunk(self, s: _Signals, cust: np.ndarray, now: np.ndarray) -> Candidates:
        n_items = s.b.n_items
        own = s.tifu.vectors[cust].toarray()
        neigh = s.tifu.neighbour_mean(cust).toarray() if len(s.tifu.pool) else np.zeros_like(own)
        knn = (s.tifu.vectors[cust] @ s.sim).toarray()
        knn_last = (s.in_last[cust] @ s.sim).toarray()
        pop4 = recent_popularity(s.cum, s.start, now, 4)
        pop1 = recent_popularity(s.cum, s.start, now, 1)
        mask = np.zeros((len(cust), n_items), bool)
        rows = np.arange(len(cust))[:, None]
        for arr, n in (
            (own, self.own_cap),
            (neigh, self.extra),
            (knn, self.extra),
            (knn_last, self.extra // 2),
            (pop4, self.extra // 2),
        ):
            idx = top_k(arr, n)
            good = np.take_along_axis(arr, idx, axis=1) > 0
            mask[np.broadcast_to(rows, idx.shape)[good], idx[good]] = True
        r, i = np.nonzero(mask)
        cu = cust[r]
        cnt = np.asarray(s.counts[cu, i]).ravel()
        last = np.asarray(s.last[cu, i]).ravel()
        first = np.asarray(s.first[cu, i]).ravel()
        bought = cnt > 0
        days_since = np.where(bought, now[r] - last, np.nan)
        own_cycle = np.where(cnt >= 2, (last - first) / np.maximum(cnt - 1, 1), np.nan)
        item_cycle = s.stats.interval_days[i]
        n_orders = s.n_orders[cu].astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            due_own, due_item = days_since / own_cycle, days_since / item_cycle
        feats = np.column_stack(
            [
                cnt,
                cnt / np.maximum(n_orders, 1),
                own[r, i],
                neigh[r, i],
                knn[r, i],
                knn_last[r, i],
                days_since,
                own_cycle,
                due_own,
                item_cycle,
                due_item,
                s.stats.repeat_rate[i],
                s.pop[i],
                np.log1p(pop4[r, i]),
                np.log1p(pop1[r, i]),
                np.asarray(s.in_last[cu, i]).ravel(),
                np.asarray(s.in_last3[cu, i]).ravel(),
                n_orders,
                now[r] - s.last_order_time[cu],
                s.basket_size[cu],
                s.repeat_share[cu],
            ]
        ).astype(np.float32)
        feats[~np.isfinite(feats)] = np.nan
        return Candidates(r.astype(np.int64), i.astype(np.int64), feats)
