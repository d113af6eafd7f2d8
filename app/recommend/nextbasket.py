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

What ``fit`` produces is a :class:`Ranker`: the shop's signals and the boosters, the object the storefront's
personal lists are computed with (``app.recommend.personal``) and that is stored per shop
(``app.recommend.ranker_io``). A shop too small to learn from gets the same candidates scored without a model
(``kind = "untrained"``: TIFU score, then popularity); a shop without orders ranks by popularity alone.
Items the customer returned (net quantity <= 0) are never recommended.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.special import expit

from app.recommend.nextbasket_features import FEATURES, Candidates, candidates
from app.recommend.nextbasket_state import CustomerSignals, ShopSignals
from app.recommend.popularity import item_popularity
from app.recommend.topk import sparse_top_k
from app.recommend.transactions import Baskets

# A shop trains its ranker once it has this many customers with a next order to learn from and this many orders;
# below, its lists come from the untrained scoring of the same candidates (``kind = "untrained"``).
MIN_TRAIN_CUSTOMERS = 30
MIN_TRAIN_ORDERS = 200
# A shop's ranker is retrained nightly, and sooner once the orders that arrived after its last training order
# reach 10 % of what it was trained on (at least 25; the first order of a shop trained on none), but not within
# 10 minutes of its last training: a busy shop reaches 25 new orders in seconds, and each training rewrites every
# customer's lists (the customers who ordered meanwhile are refreshed one by one in the meantime).
RETRAIN_SHARE = 0.10
RETRAIN_MIN_NEW = 25
RETRAIN_MIN_INTERVAL_S = 600.0


def retrain_threshold(trained_orders: int) -> int:
    """New orders that make a ranker trained on ``trained_orders`` orders due for retraining."""
    if trained_orders <= 0:
        return 1
    return max(RETRAIN_MIN_NEW, int(np.ceil(RETRAIN_SHARE * trained_orders)))


def retrain_wait(trained_orders: int, new_orders: int, since_training_s: float | None = None) -> float | None:
    """Seconds until a ranker trained on ``trained_orders`` orders, ``since_training_s`` seconds ago (None:
    unknown), is due for retraining now that ``new_orders`` arrived after its last one: 0 for now, None while
    too few arrived. A shop trained on no order retrains at its first, whenever that is."""
    if new_orders < retrain_threshold(trained_orders):
        return None
    if trained_orders <= 0 or since_training_s is None:
        return 0.0
    return max(0.0, RETRAIN_MIN_INTERVAL_S - since_training_s)


@dataclass
class Ranker:
    """A shop's fitted next-basket ranker: its signals, its boosters (none when untrained) and why."""

    kind: str  # "ranker" | "untrained" | "popularity"
    popular: np.ndarray  # orders per item: ties and fill-ins
    shop: ShopSignals | None = None  # None: no orders yet
    boosters: list = field(default_factory=list)  # LightGBM boosters, scores averaged
    void: np.ndarray = field(default_factory=lambda: np.zeros(len(FEATURES), bool))  # features set to 0
    own_cap: int = 150
    extra: int = 25
    why: str = ""  # why the shop gets this kind (``kind != "ranker"``)

    @property
    def items(self) -> np.ndarray:
        return self.shop.items if self.shop is not None else np.zeros(0, str)

    @property
    def catalogue(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
        """(items, titles, product type codes): index a customer's orders in this item space with it."""
        return (self.shop.items, self.shop.titles, self.shop.categories) if self.shop is not None else None

    def customers(self, baskets: Baskets) -> CustomerSignals | None:
        """The customers' own signals, for ``baskets`` in this ranker's item space."""
        return CustomerSignals(baskets, self.shop) if self.shop is not None else None

    def for_serving(self) -> Ranker:
        """What is stored: the same ranker for times at or after its last training order."""
        if self.shop is None:
            return self
        return Ranker(**{**self.__dict__, "shop": self.shop.for_serving()})

    def score(self, cs: CustomerSignals, rows: np.ndarray, now: np.ndarray) -> tuple[Candidates, np.ndarray]:
        """The candidates of customers ``rows`` (of ``cs``) at ``now`` and their scores (higher first)."""
        assert self.shop is not None
        cands = candidates(self.shop, cs, rows, now, self.own_cap, self.extra)
        if self.boosters and len(cands.items):
            x = cands.features.copy()
            x[:, self.void] = 0.0
            return cands, expit(np.mean([b.predict(x) for b in self.boosters], axis=0))
        f = cands.features
        return cands, f[:, FEATURES.index("tifu_score")] + 1e-3 * f[:, FEATURES.index("popularity")]

    def rank(
        self, cs: CustomerSignals | None, rows: np.ndarray, now: np.ndarray, k: int
    ) -> tuple[np.ndarray, sp.csr_matrix, Candidates | None, np.ndarray]:
        """Top ``k`` items per customer: candidates above everything else, then what sells; a customer without
        orders gets the best sellers (the ranker learned from customers with a history); never an item the
        customer returned. Returns (items, the candidates' scores as a matrix, the candidates, their scores)."""
        rows, now = np.asarray(rows, np.int64), np.asarray(now, np.float64)
        popular = self.popular.astype(np.float64)
        if self.shop is None or cs is None:
            top = np.argsort(-popular, kind="stable")[:k]
            return np.tile(top, (len(rows), 1)), sp.csr_matrix((len(rows), len(popular))), None, np.zeros(0)
        cands, p = self.score(cs, rows, now)
        known = cs.n_orders[rows][cands.rows] > 0
        scores = sp.csr_matrix(
            (1.0 + np.nan_to_num(p[known]), (cands.rows[known], cands.items[known])),
            shape=(len(rows), self.shop.n_items),
        )
        returned = cs.returned[rows].tocsr()
        scores = scores - scores.multiply(returned > 0)
        return sparse_top_k(scores, k, popular, exclude=returned), scores.tocsr(), cands, p


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
        min_customers: int = MIN_TRAIN_CUSTOMERS,
        min_orders: int = MIN_TRAIN_ORDERS,
    ) -> None:
        self.n_neighbors, self.knn_k, self.own_cap, self.extra = n_neighbors, knn_k, own_cap, extra
        self.train_splits, self.negatives, self.bags, self.seed = train_splits, negatives, bags, seed
        self.min_customers, self.min_orders = min_customers, min_orders
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
        """Fit on ``baskets``; the result is ``self.ranker`` (``recommend`` ranks the same customers)."""
        self.history = baskets
        self.ranker = self.train(baskets)
        self._customers = self.ranker.customers(baskets)
        return self

    def untrained(self, baskets: Baskets, why: str) -> Ranker:
        """The fallback without training: the same candidates, scored by TIFU, then popularity."""
        popular = item_popularity(baskets)
        if not baskets.n_orders:  # a new shop: popularity (all zero) is the only signal until orders come
            return Ranker("popularity", popular, why="the shop has no orders yet")
        return Ranker(
            "untrained", popular, self._shop(baskets), own_cap=self.own_cap, extra=self.extra, why=why
        )

    def train(self, baskets: Baskets) -> Ranker:
        """The shop's :class:`Ranker` from its history: trained when the shop is large enough."""
        base = self.untrained(baskets, "")
        if base.shop is None:
            return base
        popular, shop = base.popular, base.shop
        learners = int((baskets.orders_per_customer >= 2).sum())
        if learners < self.min_customers or baskets.n_orders < self.min_orders:
            base.why = (
                f"too little history to learn from: {learners} customers with a repeat order and "
                f"{baskets.n_orders} orders (it learns from {self.min_customers} and {self.min_orders})"
            )
            return base
        x, y, query, bag = self.training_rows(baskets)
        void = np.isnan(x).all(axis=0) if len(x) else np.zeros(len(FEATURES), bool)
        x[:, void] = 0.0  # features a shop lacks (no product types, no repeat buyers yet) are constant
        boosters = []
        for j in range(self.bags):
            rows = y | (bag == j)
            if y[rows].any() and not y[rows].all():
                boosters.append(_fit_ranker(x[rows], y[rows], query[rows], self.seed + j))
        if not boosters:
            base.why = "no next order in the history's candidates to learn from"
            return base
        return Ranker("ranker", popular, shop, boosters, void, self.own_cap, self.extra)

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
            shop = self._shop(history)
            cands = candidates(
                shop, CustomerSignals(history, shop), split.customers, split.times, self.own_cap, self.extra
            )
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

    def _shop(self, baskets: Baskets) -> ShopSignals:
        return ShopSignals(baskets, n_neighbors=self.n_neighbors, knn_k=self.knn_k)

    # -- ranking the customers it was fitted on -------------------------------------------------------------
    @property
    def models(self) -> list:
        return self.ranker.boosters

    def recommend(self, customers: np.ndarray, now: np.ndarray, k: int = 10) -> np.ndarray:
        """Top ``k`` item indices per customer (indices of the fitted baskets), as of time ``now`` (days)."""
        return self.ranker.rank(self._customers, customers, now, k)[0]


RANKER = {
    "objective": "lambdarank",
    "lambdarank_truncation_level": 20,
    "learning_rate": 0.05,
    "n_estimators": 400,
    "num_leaves": 31,
    "min_child_samples": 50,
    "verbose": -1,
    # the same model from the same data on any machine: the backtest measures what a shop is served
    "deterministic": True,
    "force_row_wise": True,
}


def _fit_ranker(x: np.ndarray, y: np.ndarray, query: np.ndarray, seed: int):
    """A LightGBM LambdaRank booster over queries (rows of one query are contiguous in ``query`` order)."""
    import lightgbm as lgb  # heavy: only training needs it (a stored booster is loaded by ranker_io)

    starts = np.flatnonzero(np.r_[True, query[1:] != query[:-1]])
    sizes = np.diff(np.r_[starts, len(query)])
    # One thread: a worker shares its machine with other workers, and OpenMP threads that wait on a busy CPU
    # spin (measured on the shared 2-core box: 2 threads took 5-8x the wall time of 1). ``deterministic``
    # makes the model the same whatever the thread count.
    model = lgb.LGBMRanker(**RANKER, random_state=seed, n_jobs=1)
    return model.fit(x, y.astype(np.int32), group=sizes).booster_
