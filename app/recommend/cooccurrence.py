"""Item-to-item neighbours: cosine item-kNN and frequently-bought-together with lift, confidence, time decay."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from app.recommend.transactions import Baskets


def prune_top_k(sim: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep each row's ``k`` largest entries."""
    sim = sim.tocsr()
    sim.eliminate_zeros()
    indptr, indices, data = sim.indptr, sim.indices, sim.data
    lengths = np.diff(indptr)
    if not len(lengths) or lengths.max() <= k:
        return sim
    keep = np.ones(len(data), bool)
    for r in np.flatnonzero(lengths > k):
        lo, hi = indptr[r], indptr[r + 1]
        drop = np.argpartition(-data[lo:hi], k - 1)[k:]
        keep[lo + drop] = False
    row_of = np.repeat(np.arange(len(lengths)), lengths)
    new_ptr = np.concatenate([[0], np.cumsum(np.bincount(row_of[keep], minlength=len(lengths)))])
    return sp.csr_matrix((data[keep].astype(np.float32), indices[keep], new_ptr), shape=sim.shape)


def cosine_item_knn(
    interactions: sp.csr_matrix, k: int = 100, shrink: float = 0.0, block: int = 2048
) -> sp.csr_matrix:
    """Item x item cosine similarity over the rows of ``interactions`` (users or orders), top ``k`` per item."""
    x = interactions.tocsc().astype(np.float32)
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0)).ravel())
    xt = x.T.tocsr()
    parts = []
    for lo in range(0, x.shape[1], block):
        hi = min(lo + block, x.shape[1])
        co = (xt[lo:hi] @ x).tocsr()
        rows = np.repeat(np.arange(hi - lo), np.diff(co.indptr))
        co.data = co.data / (norms[lo:hi][rows] * norms[co.indices] + shrink + 1e-9)
        parts.append(prune_top_k(co, k))
    return sp.vstack(parts).tocsr() if parts else sp.csr_matrix((0, 0))


class ItemKNN:
    """Item-based CF baseline: score = customer's item counts x top-k cosine item similarity."""

    name = "item_knn"

    def __init__(self, k: int = 100, shrink: float = 10.0) -> None:
        self.k, self.shrink = k, shrink

    def fit(self, baskets: Baskets) -> ItemKNN:
        self.counts = baskets.counts()
        binary = self.counts.copy()
        binary.data[:] = 1.0
        self.sim = cosine_item_knn(binary, self.k, self.shrink)
        return self

    def with_k(self, k: int) -> ItemKNN:
        """The same model keeping only the ``k`` best neighbours per item (``k`` <= the fitted ``k``)."""
        other = ItemKNN(k, self.shrink)
        other.counts, other.sim = self.counts, prune_top_k(self.sim, k)
        return other

    def score_sparse(self, customers: np.ndarray, now: np.ndarray) -> sp.csr_matrix:
        return (self.counts[customers] @ self.sim).tocsr()

    def score(self, customers: np.ndarray, now: np.ndarray) -> np.ndarray:
        return self.score_sparse(customers, now).toarray()


@dataclass
class Association:
    """One rule "bought ``antecedent`` -> also buys ``consequent``" with its strength."""

    antecedent: int
    consequent: int
    support: float
    confidence: float
    lift: float


class BoughtTogether:
    """Frequently-bought-together from baskets: time-decayed co-occurrence, confidence and lift.

    Each order weighs 0.5 ** (age / half_life_days) so that what sells together now counts more.
    """

    def __init__(
        self, half_life_days: float | None = 180.0, min_support: float = 2.0, top_k: int = 50
    ) -> None:
        self.half_life_days, self.min_support, self.top_k = half_life_days, min_support, top_k

    def fit(self, baskets: Baskets, now: float | None = None) -> BoughtTogether:
        b = baskets.binary()
        if self.half_life_days is None or not baskets.n_orders:
            w = np.ones(baskets.n_orders, np.float32)
        else:
            ref = baskets.order_time.max() if now is None else now
            w = (0.5 ** (np.maximum(ref - baskets.order_time, 0) / self.half_life_days)).astype(np.float32)
        wb = sp.diags(w) @ b
        self.n = float(w.sum()) or 1.0
        self.item_support = np.asarray(wb.sum(axis=0)).ravel()
        co = (b.T @ wb).tocsr()
        co.setdiag(0)
        co.eliminate_zeros()
        co.data[co.data < self.min_support * (w.max() if len(w) else 1.0) * 0.999] = 0
        co.eliminate_zeros()
        self.co = prune_top_k(co, self.top_k)
        return self

    def rules(self, item: int, k: int = 10) -> list[Association]:
        """Best consequents of ``item`` by lift x confidence."""
        row = self.co[item]
        if not row.nnz:
            return []
        both = row.data
        conf = both / max(self.item_support[item], 1e-9)
        lift = conf / np.maximum(self.item_support[row.indices] / self.n, 1e-12)
        order = np.argsort(-(conf * np.log1p(lift)))[:k]
        return [
            Association(item, int(row.indices[j]), float(both[j] / self.n), float(conf[j]), float(lift[j]))
            for j in order
        ]

    def for_basket(self, items: list[int], k: int = 10) -> list[tuple[int, float, int]]:
        """Items to add to a basket: (item, score, the basket item that suggests it), best first."""
        best: dict[int, tuple[float, int]] = {}
        basket = set(items)
        for src in items:
            for rule in self.rules(src, k=3 * k):
                if rule.consequent in basket:
                    continue
                s = rule.confidence * np.log1p(rule.lift)
                if s > best.get(rule.consequent, (0.0, -1))[0]:
                    best[rule.consequent] = (s, src)
        ranked = sorted(best.items(), key=lambda kv: -kv[1][0])[:k]
        return [(i, s, src) for i, (s, src) in ranked]
