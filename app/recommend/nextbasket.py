"""Attune's next-basket recommender: candidates from several signals, ranked by a model learned per shop.

Candidates for a customer: their own purchases (the TIFU time-decayed repeat vector), items of their nearest
customers (TIFU user-kNN), items similar to what they buy (cosine item-kNN) and what sells now (popularity of the
last four weeks). A gradient-boosted classifier scores each (customer, candidate) pair from those signals plus
repurchase timing (days and orders since the customer last bought it vs its usual cycle, the item's repeat rate =
consumable or one-off, the customer's own repeat share) and popularity trends (see ``nextbasket_features``).

The ranker learns from the shop's own history only: ``fit`` holds out each customer's last order, then the one
before, … (``train_splits`` of them), each time computing the features from the orders before the label, and
keeps every positive and a sample of the negative candidates. So ``fit`` never looks past the data it is given.
Items the customer returned (net quantity <= 0) are never recommended.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

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
        train_splits: int = 3,
        negatives: float = 0.2,
        seed: int = 7,
    ) -> None:
        self.n_neighbors, self.knn_k, self.own_cap, self.extra = n_neighbors, knn_k, own_cap, extra
        self.train_splits, self.negatives, self.seed = train_splits, negatives, seed

    def params(self) -> dict:
        return {
            "n_neighbors": self.n_neighbors,
            "knn_k": self.knn_k,
            "own_cap": self.own_cap,
            "extra": self.extra,
            "train_splits": self.train_splits,
            "negatives": self.negatives,
        }

    # -- training -------------------------------------------------------------------------------------------
    def fit(self, baskets: Baskets) -> NextBasketRecommender:
        from sklearn.ensemble import HistGradientBoostingClassifier

        self.model = None
        self.popular = item_popularity(baskets)
        self.signals = None
        if not baskets.n_orders:  # a new shop: popularity (all zero) is the only signal until orders come
            return self
        x, y, w = self.training_rows(baskets)
        self.void = np.isnan(x).all(axis=0) if len(x) else np.zeros(len(FEATURES), bool)
        x[:, self.void] = 0.0  # features a shop lacks (no product types, no repeat buyers yet) are constant
        if y.any() and not y.all():
            self.model = HistGradientBoostingClassifier(
                learning_rate=0.08,
                max_iter=250,
                max_leaf_nodes=31,
                min_samples_leaf=50,
                l2_regularization=1.0,
                early_stopping=True,
                validation_fraction=0.1,
                n_iter_no_change=15,
                random_state=self.seed,
            ).fit(x, y, sample_weight=w)
        self.signals = self._signals(baskets)
        return self

    def training_rows(self, baskets: Baskets) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Features, labels and weights from the last ``train_splits`` orders of each customer, each predicted
        from the orders before it; negatives are a random ``negatives`` share of the other candidates. A
        customer's rows weigh 1 / min(10, target size), as that customer's hits do in Recall@10 and NDCG@10."""
        rng = np.random.default_rng(self.seed)
        xs, ys, ws = [], [], []
        history = baskets
        for _ in range(self.train_splits):
            history, split = history.split_last()
            if not history.n_orders or not len(split.customers):
                break
            cands = self._signals(history).candidates(split.customers, split.times, self.own_cap, self.extra)
            label = np.asarray(split.targets[cands.rows, cands.items]).ravel() > 0
            keep = label | (rng.random(len(label)) < self.negatives)
            size = np.diff(split.targets.indptr)[cands.rows]
            xs.append(cands.features[keep])
            ys.append(label[keep])
            ws.append(1.0 / np.clip(size[keep], 1, 10))
        if not xs:
            return np.zeros((0, len(FEATURES)), np.float32), np.zeros(0, bool), np.zeros(0)
        w = np.concatenate(ws)
        return np.vstack(xs), np.concatenate(ys), w / w.mean()

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
        if self.model is not None and len(cands.items):
            x = cands.features
            x[:, self.void] = 0.0
            p = self.model.predict_proba(x)[:, 1]
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
