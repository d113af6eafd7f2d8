"""Sparse top-k helpers of the recommenders: the best columns per row of dense or sparse scores (ties and gaps
filled by popularity), and vectorised lookups of (row, column) pairs in a sparse matrix."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def top_k(scores: np.ndarray, k: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """Indices of the ``k`` best columns per row of a dense score matrix, best first (-inf = excluded)."""
    scores = np.array(scores, dtype=np.float64, copy=True)
    if exclude is not None:
        scores[exclude] = -np.inf
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def row_top_k(matrix: sp.csr_matrix, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, col) of each row's ``k`` largest positive entries of a sparse matrix, rows in order, best first."""
    m = matrix.tocsr()
    ptr, idx, data = m.indptr, m.indices, m.data
    rows, cols = [], []
    for r in range(m.shape[0]):
        lo, hi = ptr[r], ptr[r + 1]
        if hi == lo:
            continue
        d = data[lo:hi]
        if hi - lo > k:
            part = np.argpartition(-d, k - 1)[:k]
            part = part[np.argsort(-d[part], kind="stable")]
        else:
            part = np.argsort(-d, kind="stable")
        part = part[d[part] > 0]
        rows.append(np.full(len(part), r, np.int64))
        cols.append(idx[lo:hi][part].astype(np.int64))
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(rows), np.concatenate(cols)


def sparse_top_k(
    scores: sp.csr_matrix, k: int, popular: np.ndarray, exclude: sp.csr_matrix | None = None
) -> np.ndarray:
    """Top ``k`` per row of sparse positive scores, ties and missing places filled by ``popular`` (best first);
    the nonzero columns of ``exclude``'s row are never filled in (-1 pads a row that runs out of items)."""
    k = min(k, s_cols := scores.shape[1])
    if s_cols == 0:
        return np.zeros((scores.shape[0], 0), np.int64)
    s = scores.tocsr().astype(np.float64)
    s.data = s.data + 1e-9 * popular[s.indices] / max(float(popular.max()), 1.0)
    rows, cols = row_top_k(s, k)
    excl = exclude.tocsr() if exclude is not None else None
    width = 2 * k + (int(np.diff(excl.indptr).max()) if excl is not None and excl.shape[0] else 0)
    fill = np.argsort(-popular, kind="stable")[:width]
    out = np.full((s.shape[0], k), -1, np.int64)
    starts = np.searchsorted(rows, np.arange(s.shape[0] + 1))
    for r in range(s.shape[0]):
        mine = cols[starts[r] : starts[r + 1]]
        if len(mine) < k:
            skip = (
                mine
                if excl is None
                else np.concatenate([mine, excl.indices[excl.indptr[r] : excl.indptr[r + 1]]])
            )
            extra = fill[~np.isin(fill, skip)][: k - len(mine)]
            mine = np.concatenate([mine, extra])
        out[r, : min(k, len(mine))] = mine[:k]
    return out


class SparseLookup:
    """Vectorised ``matrix[rows, cols]`` for a CSR matrix (0 where absent), via sorted linear keys."""

    def __init__(self, matrix: sp.csr_matrix) -> None:
        m = matrix.tocsr()
        m.sum_duplicates()
        m.sort_indices()
        self.n_cols = m.shape[1]
        rows = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))
        self.keys = rows * self.n_cols + m.indices
        self.values = m.data

    def __call__(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        q = rows.astype(np.int64) * self.n_cols + cols
        pos = np.searchsorted(self.keys, q)
        pos = np.minimum(pos, max(len(self.keys) - 1, 0))
        if not len(self.keys):
            return np.zeros(len(q))
        found = self.keys[pos] == q
        return np.where(found, self.values[pos], 0.0)
