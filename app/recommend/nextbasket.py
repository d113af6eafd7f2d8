"""Attune's next-basket recommender: candidates from several signals, ranked by a model learned per shop.

Candidates for a customer: their own purchases (the TIFU time-decayed repeat vector), items of their nearest
customers (TIFU user-kNN), items similar to what they buy (cosine item-kNN), best sellers of their product types
and what sells now (the four weeks, and the seven days, before the order). LightGBM LambdaRank models rank each
customer's candidates from those signals plus repurchase timing (days and orders since the customer last bought it
vs its usual cycle, the item's repeat rate = consumable or one-off, the customer's own repeat share) and popularity
trends (see ``nextbasket_features``).

The ranker learns from the shop's own history only: ``fit`` holds out each customer's last order, then the one
before, … (``train_splits`` of them), each time computing the features from the orders before the label. Each of
``bags`` rankers sees every positive and its own disjoint sample of the negative candidates; their scores are
averaged (bagging: one ranker's top 10 moves with its negative sample). So ``fit`` never looks past the data it
is given.
Items the customer returned (net quantity <= 0) are never recommended.
"""

from __future__ import annotations

import os

import numpy as np
import scipy.sparse as sp
from scipy.special import expit

from app.recommend.nextbasket_features import FEATURES, Candidates, Signals
from app.recommend.popularity import item_popularity
from app.recommend.transactions import Baskets, sparse_top_k, top_k


class NextBasketRecommender:
    """Blended next-basket recommender (one configuration for every shop; the ranker is learned per shop)."""

    name = "attune"

    def __init__(
        self,
        n_neighbors: int = 300,
        knn_k: int = 50,
        own_cap: int = 150,
        extra: int = 25,
        train_splits: int = 6,
        negatives: float = 0.2,
        bags: int = 3,
        seed: int = 7,
    ) -> None:
        self.n_neighbors, self.knn_k, self.own_cap, self.extra = n_neighbors, knn_k, own_cap, extra
        self.train_splits, self.negatives, self.bags, self.seed = train_splits, negatives, bags, seed
        if bags < 1 or not 0.0 < negatives * bags <= 1.0:
            raise ValueError(
                "each of the bags needs its own share of the negatives: 0 < negatives * bags <= 1"
            )

    def params(self) -> dict:
        return {
            "n_neighbors": self.n_neighbors,
            "knn_k": self.knn_k,
            "own_cap": self.own_cap,
            "extra": self.extra,
            "train_splits": self.train_splits,
            "negatives": self.negatives,
            "bags": self.bags,
            "ranker": "lightgbm lambdarank",
        }

    # -- training -------------------------------------------------------------------------------------------
    def fit(self, baskets: Baskets) -> NextBasketRecommender:
        self.models: list = []
        self.popular = item_popularity(baskets)
        self.signals = None
        if not baskets.n_orders:  # a new shop: popularity (all zero) is the only signal until orders come
            return self
        x, y, query, bag = self.training_rows(baskets)
        self.void = np.isnan(x).all(axis=0) if len(x) else np.zeros(len(FEATURES), bool)
        x[:, self.void] = 0.0  # features a shop lacks (no product types, no repeat buyers yet) are constant
        for j in range(self.bags):
            rows = y | (bag == j)
            if y[rows].any() and not y[rows].all():
                self.models.append(_fit_ranker(x[rows], y[rows], query[rows], self.seed + j))
        self.signals = self._signals(baskets)
        return self

    def training_rows(self, baskets: Baskets) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Features, labels, query ids and bag numbers from the last ``train_splits`` orders of each customer,
        each predicted from the orders before it. A query is one customer at one split. Every positive goes to
        every bag; each bag gets its own, disjoint ``negatives`` share of the other candidates (-1: none)."""
        rng = np.random.default_rng(self.seed)
        xs, ys, qs, bs = [], [], [], []
        history, base = baskets, 0
        for _ in range(self.train_splits):
            history, split = history.split_last()
            if not history.n_orders or not len(split.customers):
                break
            cands = self._signals(history).candidates(split.customers, split.times, self.own_cap, self.extra)
            label = np.asarray(split.targets[cands.rows, cands.items]).ravel() > 0
            draw = rng.random(len(label))
            bag = np.where(draw < self.negatives * self.bags, (draw // self.negatives).astype(np.int64), -1)
            keep = label | (bag >= 0)
            xs.append(cands.features[keep])
            ys.append(label[keep])
            qs.append(base + cands.rows[keep])
            bs.append(bag[keep])
            base += len(split.customers)
        if not xs:
            empty = np.zeros(0, np.int64)
            return np.zeros((0, len(FEATURES)), np.float32), np.zeros(0, bool), empty, empty
        return np.vstack(xs), np.concatenate(ys), np.concatenate(qs), np.concatenate(bs)

    def _signals(self, baskets: Baskets) -> Signals:
        return Signals(baskets, n_neighbors=self.n_neighbors, knn_k=self.knn_k)

    # -- serving --------------------------------------------------------------------------------------------
    def recommend(self, customers: np.ndarray, now: np.ndarray, k: int = 10) -> np.ndarray:
        """Top ``k`` item indices per customer (rows), as of time ``now`` (days) per customer."""
        customers, now = np.asarray(customers), np.asarray(now, dtype=np.float64)
        if self.signals is None:
            return np.tile(top_k(self.popular[None, :], k), (len(customers), 1))
        s = self.signals
        cands: Candidates = s.candidates(customers, now, self.own_cap, self.extra)
        if self.models and len(cands.items):
            x = cands.features
            x[:, self.void] = 0.0
            p = expit(np.mean([m.predict(x) for m in self.models], axis=0))
        else:
            p = (
                cands.features[:, FEATURES.index("tifu_score")]
                + 1e-3 * cands.features[:, FEATURES.index("popularity")]
            )
        # candidates above everything else, then what sells; a customer without orders gets the best sellers
        # (the ranker learned from customers with a history); never an item the customer returned
        known = s.n_orders[customers][cands.rows] > 0
        scores = sp.csr_matrix(
            (1.0 + np.nan_to_num(p[known]), (cands.rows[known], cands.items[known])),
            shape=(len(customers), s.b.n_items),
        )
        returned = s.returned[customers].tocsr()
        scores = scores - scores.multiply(returned > 0)
        popular = self.popular.astype(np.float64).copy()
        out = sparse_top_k(scores, k, popular, exclude=returned)
        return out


RANKER = {
    "objective": "lambdarank",
    "lambdarank_truncation_level": 20,
    "learning_rate": 0.05,
    "n_estimators": 400,
    "num_leaves": 31,
    "min_child_samples": 50,
    "verbose": -1,
}


def _fit_ranker(x: np.ndarray, y: np.ndarray, query: np.ndarray, seed: int):
    """A LightGBM LambdaRank model over queries (rows of one query are contiguous in ``query`` order)."""
    import lightgbm as lgb  # heavy: LightGBM (ml extra), only when training

    starts = np.flatnonzero(np.r_[True, query[1:] != query[:-1]])
    sizes = np.diff(np.r_[starts, len(query)])
    threads = min(4, os.cpu_count() or 1)
    return lgb.LGBMRanker(**RANKER, random_state=seed, n_jobs=threads).fit(x, y.astype(np.int32), group=sizes)
