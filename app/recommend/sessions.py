"""Next-click recommenders for anonymous shoppers: session item-kNN, sequential and association rules.

Sessions are lists of item indices in click order. Everything is batched over many session prefixes at once
with sparse matrices (one prefix per row).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def _session_matrix(sessions: list[np.ndarray], n_items: int) -> sp.csr_matrix:
    rows = np.repeat(np.arange(len(sessions)), [len(s) for s in sessions])
    cols = np.concatenate(sessions) if sessions else np.zeros(0, np.int64)
    m = sp.csr_matrix((np.ones(len(cols), np.float32), (rows, cols)), shape=(len(sessions), n_items))
    m.data[:] = 1.0  # duplicates summed -> binary
    return m


def _prefix_vectors(prefixes: list[np.ndarray], n_items: int, decay: str) -> sp.csr_matrix:
    """One row per prefix; ``linear`` weighs the last click 1 and earlier ones less (V-SKNN), ``last`` only it."""
    rows, cols, vals = [], [], []
    for r, p in enumerate(prefixes):
        if decay == "last":
            rows.append(r)
            cols.append(p[-1])
            vals.append(1.0)
            continue
        n = len(p)
        w = np.maximum(1.0 - 0.1 * (n - 1 - np.arange(n)), 0.1)
        rows.extend([r] * n)
        cols.extend(p.tolist())
        vals.extend(w.tolist())
    m = sp.csr_matrix((vals, (rows, cols)), shape=(len(prefixes), n_items), dtype=np.float32)
    m.sum_duplicates()
    return m


class SessionKNN:
    """V-SKNN (Ludewig & Jannach 2018): the ``k`` most similar past sessions vote for their items.

    Similarity = dot product of the position-decayed prefix with the binary past session (divided by the
    session's length ** ``length_norm``); items are weighted by inverse document frequency ``** idf``.
    """

    name = "session_knn"

    def __init__(self, k: int = 100, idf: float = 1.0, length_norm: float = 0.5) -> None:
        self.k, self.idf, self.length_norm = k, idf, length_norm

    def fit(self, sessions: list[np.ndarray], n_items: int) -> SessionKNN:
        self.n_items = n_items
        self.sessions = _session_matrix(sessions, n_items)
        df = np.asarray(self.sessions.sum(axis=0)).ravel()
        self.item_idf = (np.log((len(sessions) + 1) / (df + 1)) + 1.0) ** self.idf
        lengths = np.asarray(self.sessions.sum(axis=1)).ravel()
        self.norm = 1.0 / np.maximum(lengths, 1.0) ** self.length_norm
        return self

    def score(self, prefixes: list[np.ndarray]) -> np.ndarray:
        q = _prefix_vectors(prefixes, self.n_items, "linear")
        sims = (q @ self.sessions.T).toarray() * self.norm[None, :]
        k = min(self.k, sims.shape[1])
        idx = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        vals = np.take_along_axis(sims, idx, axis=1)
        rows = np.repeat(np.arange(len(prefixes)), k)
        w = sp.csr_matrix((vals.ravel(), (rows, idx.ravel())), shape=sims.shape)
        return (w @ self.sessions).toarray() * self.item_idf[None, :]


class SequentialRules:
    """SR (Kamehkhosh et al. 2017): b after a in a session, within ``steps`` clicks, weighs 1 / distance."""

    name = "sequential_rules"

    def __init__(self, steps: int = 10) -> None:
        self.steps = steps

    def fit(self, sessions: list[np.ndarray], n_items: int) -> SequentialRules:
        src, dst, w = [], [], []
        for s in sessions:
            for d in range(1, min(self.steps, len(s) - 1) + 1):
                src.append(s[:-d])
                dst.append(s[d:])
                w.append(np.full(len(s) - d, 1.0 / d))
        cat = lambda xs: np.concatenate(xs) if xs else np.zeros(0)  # noqa: E731
        self.rules = sp.csr_matrix(
            (cat(w), (cat(src).astype(np.int64), cat(dst).astype(np.int64))), shape=(n_items, n_items)
        )
        self.rules.sum_duplicates()
        self.n_items = n_items
        return self

    def score(self, prefixes: list[np.ndarray]) -> np.ndarray:
        return self.rules[[int(p[-1]) for p in prefixes]].toarray()


class AssociationRules(SequentialRules):
    """AR: items that appear in the same session as the last click (any order, any distance)."""

    name = "association_rules"

    def fit(self, sessions: list[np.ndarray], n_items: int) -> AssociationRules:
        m = _session_matrix(sessions, n_items)
        self.rules = (m.T @ m).tocsr()
        self.rules.setdiag(0)
        self.rules.eliminate_zeros()
        self.n_items = n_items
        return self


class SessionHybrid:
    """Attune's anonymous-shopper recommender: V-SKNN votes blended with sequential rules (each row-normalised)."""

    name = "attune"

    def __init__(self, k: int = 100, rules_weight: float = 0.5, steps: int = 10) -> None:
        self.knn = SessionKNN(k=k)
        self.sr = SequentialRules(steps=steps)
        self.rules_weight = rules_weight

    def fit(self, sessions: list[np.ndarray], n_items: int) -> SessionHybrid:
        self.knn.fit(sessions, n_items)
        self.sr.fit(sessions, n_items)
        return self

    def score(self, prefixes: list[np.ndarray]) -> np.ndarray:
        a = self.knn.score(prefixes)
        b = self.sr.score(prefixes)
        a /= np.maximum(a.max(axis=1, keepdims=True), 1e-12)
        b /= np.maximum(b.max(axis=1, keepdims=True), 1e-12)
        return (1 - self.rules_weight) * a + self.rules_weight * b
