"""TIFU-KNN (Hu, He, Gao & Zhang, SIGIR 2020): temporal item-frequency user vectors + user kNN.

Implemented from the paper and its reference code (same grouping and decay as ``cornac.models.TIFUKNN``), with
sparse matrices: each history basket is a 0/1 vector weighted ``within_decay ** (baskets after it)``; baskets are
split into ``n_groups`` consecutive groups that are averaged, group ``g`` weighted ``group_decay ** (n_groups-1-g)``,
and the sum divided by the number of groups. Prediction = ``alpha`` x own vector + (1 - ``alpha``) x the mean of
the ``n_neighbors`` nearest user vectors (Euclidean, the user included, as in the reference code).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from app.recommend.transactions import Baskets


def tifu_order_weights(
    n_per_customer: np.ndarray,
    position: np.ndarray,
    customer: np.ndarray,
    within_decay: float,
    group_decay: float,
    n_groups: int,
) -> np.ndarray:
    """Weight of each order (given its customer's order count and its 0-based position) in the user vector."""
    n = n_per_customer[customer].astype(np.int64)
    p = position.astype(np.int64)
    g_count = n_groups
    base = np.maximum(n // g_count, 1)
    extra = n - base * g_count
    small = n < g_count
    split_at = (g_count - extra) * base
    group = np.where(p < split_at, p // base, (g_count - extra) + (p - split_at) // (base + 1))
    size = np.where(p < split_at, base, base + 1)
    group = np.where(small, p, group)
    size = np.where(small, 1, size)
    real_groups = np.where(small, n, g_count)
    w = within_decay ** (n - 1 - p) * group_decay ** (g_count - 1 - group) / size / np.maximum(real_groups, 1)
    return w.astype(np.float64)


def user_vectors(baskets: Baskets, within_decay: float, group_decay: float, n_groups: int) -> sp.csr_matrix:
    w = tifu_order_weights(
        baskets.orders_per_customer,
        baskets.order_position,
        baskets.order_customer,
        within_decay,
        group_decay,
        n_groups,
    )
    return (baskets.customer_indicator(w) @ baskets.binary()).tocsr()


class TIFUKNN:
    """TIFU-KNN baseline with the paper's hyperparameters as defaults."""

    name = "tifu_knn"

    def __init__(
        self,
        n_neighbors: int = 300,
        within_decay: float = 0.9,
        group_decay: float = 0.7,
        alpha: float = 0.7,
        n_groups: int = 7,
    ) -> None:
        self.n_neighbors, self.within_decay, self.group_decay = n_neighbors, within_decay, group_decay
        self.alpha, self.n_groups = alpha, n_groups

    def fit(self, baskets: Baskets) -> TIFUKNN:
        self.vectors = user_vectors(baskets, self.within_decay, self.group_decay, self.n_groups)
        has = baskets.orders_per_customer > 0
        self.pool = np.flatnonzero(has)
        self.pool_vectors = self.vectors[self.pool]
        self.pool_sq = np.asarray(self.pool_vectors.multiply(self.pool_vectors).sum(axis=1)).ravel()
        return self

    def neighbours(self, customers: np.ndarray) -> np.ndarray:
        q = self.vectors[customers]
        q_sq = np.asarray(q.multiply(q).sum(axis=1)).ravel()
        d2 = q_sq[:, None] + self.pool_sq[None, :] - 2.0 * (q @ self.pool_vectors.T).toarray()
        k = min(self.n_neighbors, len(self.pool))
        idx = np.argpartition(d2, k - 1, axis=1)[:, :k]
        return self.pool[idx]

    def neighbour_mean(self, customers: np.ndarray) -> sp.csr_matrix:
        nb = self.neighbours(customers)
        k = nb.shape[1]
        rows = np.repeat(np.arange(len(customers)), k)
        agg = sp.csr_matrix(
            (np.full(rows.size, 1.0 / k), (rows, nb.ravel())), shape=(len(customers), self.vectors.shape[0])
        )
        return (agg @ self.vectors).tocsr()

    def parts(self, customers: np.ndarray) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """The customers' own vectors and the mean vectors of their neighbours (sparse)."""
        own = self.vectors[customers]
        if not len(self.pool):
            return own, sp.csr_matrix(own.shape)
        return own, self.neighbour_mean(customers)

    def score_sparse(self, customers: np.ndarray, now: np.ndarray) -> sp.csr_matrix:
        own, neigh = self.parts(customers)
        return (self.alpha * own + (1 - self.alpha) * neigh).tocsr()

    def score(self, customers: np.ndarray, now: np.ndarray) -> np.ndarray:
        return self.score_sparse(customers, now).toarray()
