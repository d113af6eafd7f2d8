"""Per-shop similarity index over product vectors: exact top-k by dot product with NumPy.

Vectors are unit length, so the dot product is the cosine similarity. Queries run in chunks (one matrix
product per chunk, then ``argpartition`` for the k best and a sort of those k), so memory stays at
``chunk × catalogue`` floats. Exact search is the right tool at shop catalogue sizes: a 100k × 384 float32
matrix is 150 MB and one query is a 40-MFLOP matrix-vector product (a few ms); an approximate index would
add a build step and lose recall for no measurable gain here (see ``benchmarks/similarity.md``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from app.catalog.embedder import Embedder, l2_normalise

QUERY_CHUNK = 512


@dataclass(frozen=True, slots=True)
class Neighbour:
    product_id: int
    score: float


def top_k_rows(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the column indices and scores of the ``k`` highest finite scores, best first.

    Rows with fewer than ``k`` finite scores are padded with index -1 and score -inf.
    """
    n_rows, n_cols = scores.shape
    k_eff = min(k, n_cols)
    if k_eff <= 0:
        return np.full((n_rows, k), -1, dtype=np.int64), np.full((n_rows, k), -np.inf, dtype=np.float32)
    if k_eff < n_cols:
        part = np.argpartition(-scores, k_eff - 1, axis=1)[:, :k_eff]
    else:
        part = np.broadcast_to(np.arange(n_cols), (n_rows, n_cols))
    part_scores = np.take_along_axis(scores, part, axis=1)
    # best first; equal scores keep the lower column first so results are deterministic
    order = np.lexsort((part, -part_scores), axis=1)
    idx = np.take_along_axis(part, order, axis=1).astype(np.int64)
    val = np.take_along_axis(part_scores, order, axis=1).astype(np.float32)
    idx[~np.isfinite(val)] = -1
    if k_eff < k:
        pad = k - k_eff
        idx = np.pad(idx, ((0, 0), (0, pad)), constant_values=-1)
        val = np.pad(val, ((0, 0), (0, pad)), constant_values=-np.inf)
    return idx, val


class SimilarityIndex:
    """Exact nearest-neighbour search over one shop's product vectors.

    ``unavailable`` ids (out of stock, merchant excludes) are never returned; a query product is never
    its own neighbour. ``center=True`` subtracts the catalogue's mean vector before search (a cheap
    hubness reduction that helps on large catalogues; skipped below ``min_center_size`` items, where
    the mean is too noisy).
    """

    def __init__(
        self,
        product_ids: Sequence[int],
        vectors: np.ndarray,
        *,
        embedder: Embedder | None = None,
        unavailable: Iterable[int] = (),
        center: bool = False,
        min_center_size: int = 200,
    ) -> None:
        ids = np.asarray(product_ids, dtype=np.int64)
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != ids.shape[0]:
            raise ValueError("vectors must be a (len(product_ids), dim) matrix")
        if len(np.unique(ids)) != len(ids):
            raise ValueError("product_ids must be unique")
        self.ids = ids
        self.dim = vectors.shape[1]
        self.embedder = embedder
        self.mean = (
            vectors.mean(axis=0) if center and len(ids) >= min_center_size else np.zeros(self.dim, np.float32)
        )
        self.vectors = l2_normalise(vectors - self.mean)
        self._pos = {int(pid): i for i, pid in enumerate(ids)}
        self._mask = np.zeros(len(ids), dtype=bool)  # True = never return
        self.set_unavailable(unavailable)

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, product_id: object) -> bool:
        return product_id in self._pos

    def set_unavailable(self, product_ids: Iterable[int]) -> None:
        """Replace the set of ids that are never returned (out of stock, excluded by the merchant)."""
        self._mask[:] = False
        self._mask[self._positions(product_ids)] = True

    def _positions(self, product_ids: Iterable[int]) -> np.ndarray:
        return np.fromiter((self._pos[int(p)] for p in product_ids if int(p) in self._pos), dtype=np.int64)

    def prepare_queries(self, vectors: np.ndarray) -> np.ndarray:
        """Raw query vectors (e.g. from the embedder) moved into the index's space."""
        return l2_normalise(np.asarray(vectors, dtype=np.float32) - self.mean)

    def query(
        self,
        queries: np.ndarray,
        k: int = 10,
        *,
        exclude: Iterable[int] = (),
        self_positions: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (product ids, scores) for each row of ``queries`` (already in index space), best first.

        ``exclude`` ids are dropped for every query; ``self_positions[i]`` (or -1) is dropped for query i.
        Missing slots hold id -1 and score -inf.
        """
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        mask = self._mask.copy()
        mask[self._positions(exclude)] = True
        out_ids = np.empty((len(queries), k), dtype=np.int64)
        out_scores = np.empty((len(queries), k), dtype=np.float32)
        for start in range(0, len(queries), QUERY_CHUNK):
            stop = min(start + QUERY_CHUNK, len(queries))
            scores = queries[start:stop] @ self.vectors.T
            scores[:, mask] = -np.inf
            if self_positions is not None:
                rows = np.arange(stop - start)
                own = self_positions[start:stop]
                scores[rows[own >= 0], own[own >= 0]] = -np.inf
            idx, val = top_k_rows(scores, k)
            out_ids[start:stop] = np.where(idx >= 0, self.ids[np.maximum(idx, 0)], -1)
            out_scores[start:stop] = val
        return out_ids, out_scores

    def similar_items_batch(
        self, product_ids: Sequence[int], k: int = 10, *, exclude: Iterable[int] = ()
    ) -> list[list[Neighbour]]:
        """Nearest products to each of ``product_ids`` (an unknown id gets an empty list)."""
        positions = np.array([self._pos.get(int(p), -1) for p in product_ids], dtype=np.int64)
        queries = np.zeros((len(positions), self.dim), dtype=np.float32)
        known = positions >= 0
        queries[known] = self.vectors[positions[known]]
        ids, scores = self.query(queries, k, exclude=exclude, self_positions=positions)
        return [_neighbours(ids[i], scores[i]) if known[i] else [] for i in range(len(positions))]

    def similar_items(self, product_id: int, k: int = 10, *, exclude: Iterable[int] = ()) -> list[Neighbour]:
        """The ``k`` products most similar to ``product_id``, best first, never itself or an unavailable one."""
        return self.similar_items_batch([product_id], k, exclude=exclude)[0]

    def search(self, query_text: str, k: int = 10, *, exclude: Iterable[int] = ()) -> list[Neighbour]:
        """Semantic search: products whose text is closest in meaning to ``query_text``."""
        if self.embedder is None:
            raise RuntimeError("this index was built without an embedder; pass embedder= to search")
        query = self.prepare_queries(self.embedder.embed([query_text]))
        ids, scores = self.query(query, k, exclude=exclude)
        return _neighbours(ids[0], scores[0])


def _neighbours(ids: np.ndarray, scores: np.ndarray) -> list[Neighbour]:
    return [Neighbour(int(i), float(s)) for i, s in zip(ids, scores, strict=True) if i >= 0]
