"""Product-to-product similarity: the embedding's cosine plus a weighted word TF-IDF cosine (a hybrid score).

The sentence embedding knows that "oat milk" is near "almond milk"; exact shared words (a brand, a line, a
flavour) are what a bag-of-words sees best. The score of a pair is

    cos(embedding_a, embedding_b) + LEXICAL_WEIGHT × cos(tfidf_a, tfidf_b)

with TF-IDF over the same product text as the embedding (word unigrams, sublinear tf, rows of unit length,
fitted on the shop's own catalogue). ``LEXICAL_WEIGHT`` was picked on the validation queries of
``attune backtest similarity`` (never on its test queries); see ``benchmarks/similarity.md``. The
recommendation lists (``app.recommend.lists``) and the backtest both go through :class:`HybridIndex`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from app.catalog.index import Neighbour, SimilarityIndex, top_k_rows

LEXICAL_WEIGHT = 0.3
WEIGHT_GRID: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
CHUNK = 512


def lexical_matrix(texts: Sequence[str]) -> sp.csr_matrix:
    """Word TF-IDF rows (unit length) of ``texts``; an empty catalogue or vocabulary gives zero rows."""
    # imported here, not at the top: scikit-learn takes ~0.8 s to import and only this function needs it
    from sklearn.feature_extraction.text import TfidfVectorizer  # heavy: optional, slow to import

    try:
        return TfidfVectorizer(sublinear_tf=True, dtype=np.float32).fit_transform(list(texts)).tocsr()
    except ValueError:  # no words at all
        return sp.csr_matrix((len(texts), 1), dtype=np.float32)


def combine(dense: np.ndarray, lexical: np.ndarray, weight: float) -> np.ndarray:
    """The hybrid score from its two parts (same shapes)."""
    return dense + np.float32(weight) * lexical if weight else dense.copy()


class HybridIndex:
    """Exact hybrid nearest neighbours over one catalogue: a :class:`SimilarityIndex` (its vectors, centering
    and unavailable products) plus one lexical row per product, in the index's order."""

    def __init__(
        self, index: SimilarityIndex, lexical: sp.csr_matrix, weight: float = LEXICAL_WEIGHT
    ) -> None:
        if lexical.shape[0] != len(index):
            raise ValueError("one lexical row per indexed product")
        self.index = index
        self.lexical = sp.csr_matrix(lexical, dtype=np.float32)
        self._lexical_t = self.lexical.T.tocsr()
        self.weight = float(weight)

    @classmethod
    def build(
        cls,
        product_ids: Sequence[int],
        vectors: np.ndarray,
        texts: Sequence[str],
        *,
        weight: float = LEXICAL_WEIGHT,
        **index_options,
    ) -> HybridIndex:
        return cls(SimilarityIndex(product_ids, vectors, **index_options), lexical_matrix(texts), weight)

    def parts(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(embedding cosine, lexical cosine) of the products at ``positions`` against every product."""
        dense = self.index.vectors[positions] @ self.index.vectors.T
        lexical = (self.lexical[positions] @ self._lexical_t).toarray()
        return dense, lexical

    def neighbour_positions(
        self, positions: np.ndarray, k: int, *, weights: Sequence[float] | None = None
    ) -> dict[float, tuple[np.ndarray, np.ndarray]]:
        """Top-k (positions, scores) per query position, for each weight (default: this index's); a product is
        never its own neighbour and unavailable products are never returned. Missing slots hold -1."""
        weights = [self.weight] if weights is None else list(weights)
        positions = np.asarray(positions, dtype=np.int64)
        out = {
            w: (np.full((len(positions), k), -1, np.int64), np.full((len(positions), k), -np.inf, np.float32))
            for w in weights
        }
        mask = self.index._mask
        for start in range(0, len(positions), CHUNK):
            q = positions[start : start + CHUNK]
            dense, lexical = self.parts(q)
            for w in weights:
                scores = combine(dense, lexical, w)
                scores[:, mask] = -np.inf
                scores[np.arange(len(q)), q] = -np.inf
                idx, val = top_k_rows(scores, k)
                out[w][0][start : start + len(q)] = idx
                out[w][1][start : start + len(q)] = val
        return out

    def similar_items_batch(self, product_ids: Sequence[int], k: int = 10) -> list[list[Neighbour]]:
        """The ``k`` most similar products to each of ``product_ids`` (an unknown id gets an empty list), with
        scores divided by ``1 + weight`` so they stay within [-1, 1] like a cosine."""
        pos_of = self.index._pos
        known = [(i, pos_of[int(p)]) for i, p in enumerate(product_ids) if int(p) in pos_of]
        result: list[list[Neighbour]] = [[] for _ in product_ids]
        if not known:
            return result
        idx, val = self.neighbour_positions(np.array([p for _, p in known]), k)[self.weight]
        for row, (i, _) in enumerate(known):
            result[i] = [
                Neighbour(int(self.index.ids[j]), float(s) / (1.0 + self.weight))
                for j, s in zip(idx[row], val[row], strict=True)
                if j >= 0
            ]
        return result
