"""Per-shop similarity index: exact top-k, exclusions, batched queries and semantic search."""

from __future__ import annotations

import numpy as np
import pytest

from app.catalog.embedder import l2_normalise
from app.catalog.index import SimilarityIndex, top_k_rows
from tests import embedding_support

minilm = embedding_support.minilm  # the session-scoped fixture


def _random_index(n: int = 300, dim: int = 32, seed: int = 7) -> tuple[SimilarityIndex, np.ndarray]:
    rng = np.random.default_rng(seed)
    vectors = l2_normalise(rng.normal(size=(n, dim)))
    ids = np.arange(1000, 1000 + n) * 3  # ids unlike positions
    return SimilarityIndex(ids, vectors), vectors


def test_similar_items_are_the_exact_top_k_by_dot_product():
    index, vectors = _random_index()
    for pos in (0, 17, 299):
        scores = vectors @ vectors[pos]
        scores[pos] = -np.inf
        expected = [int(index.ids[i]) for i in np.argsort(-scores)[:10]]
        got = index.similar_items(int(index.ids[pos]), k=10)
        assert [n.product_id for n in got] == expected
        np.testing.assert_allclose([n.score for n in got], np.sort(scores)[::-1][:10], atol=1e-5)


def test_batched_queries_match_single_queries_across_chunks(monkeypatch):
    import app.catalog.index as index_module

    monkeypatch.setattr(index_module, "QUERY_CHUNK", 7)  # force many chunks
    index, _ = _random_index()
    ids = [int(i) for i in index.ids[::13]]
    batch = index.similar_items_batch(ids, k=5)
    single = [index.similar_items(i, k=5) for i in ids]
    assert [[n.product_id for n in nb] for nb in batch] == [[n.product_id for n in nb] for nb in single]
    np.testing.assert_allclose(
        [[n.score for n in nb] for nb in batch], [[n.score for n in nb] for nb in single], atol=1e-6
    )
    assert all(pid not in [n.product_id for n in nb] for pid, nb in zip(ids, batch, strict=True))


def test_unavailable_and_excluded_items_are_never_returned():
    index, _ = _random_index(n=50)
    query = int(index.ids[0])
    first = [n.product_id for n in index.similar_items(query, k=5)]
    index.set_unavailable(first[:2] + [999_999])  # unknown ids are ignored
    second = [n.product_id for n in index.similar_items(query, k=5)]
    assert not set(first[:2]) & set(second)
    assert second[:3] == first[2:]
    third = [n.product_id for n in index.similar_items(query, k=5, exclude=[second[0]])]
    assert second[0] not in third and not set(first[:2]) & set(third)
    index.set_unavailable([])
    assert [n.product_id for n in index.similar_items(query, k=5)] == first


def test_short_catalogues_return_what_there_is():
    index = SimilarityIndex([1, 2, 3], l2_normalise(np.eye(3, 4) + 0.1), unavailable=[3])
    assert [n.product_id for n in index.similar_items(1, k=10)] == [2]
    assert index.similar_items(42, k=10) == []
    assert len(index) == 3 and 2 in index and 42 not in index


def test_top_k_rows_pads_and_orders_ties_by_position():
    scores = np.array([[0.5, 0.9, 0.5, -np.inf]], dtype=np.float32)
    idx, val = top_k_rows(scores, 5)
    assert idx.tolist() == [[1, 0, 2, -1, -1]]
    assert val[0, :3].tolist() == [pytest.approx(0.9), 0.5, 0.5]


def test_bad_input_is_refused():
    with pytest.raises(ValueError):
        SimilarityIndex([1, 2], np.zeros((3, 4)))
    with pytest.raises(ValueError):
        SimilarityIndex([1, 1], np.ones((2, 4)))
    with pytest.raises(RuntimeError):
        SimilarityIndex([1], np.ones((1, 4))).search("anything")


CATALOGUE = {
    1: "Merino Wool Hiking Socks. Type: Socks. Tags: wool, outdoor",
    2: "Insulated Down Jacket. Type: Jacket. Warm winter jacket for the trail",
    3: "Fleece Beanie. Type: Hat. Tags: winter",
    4: "Espresso Machine. Type: Coffee maker. 15 bar pump",
    5: "Ceramic Coffee Mug. Type: Mug",
    6: "Yoga Mat. Type: Fitness",
    7: "Stainless Steel Chef Knife. Type: Kitchen",
    8: "Wireless Phone Charger. Type: Electronics",
    9: "Leather Hiking Boots. Type: Footwear. Waterproof, for trekking",
}


def test_semantic_search_and_similar_items_with_minilm(minilm):
    ids = list(CATALOGUE)
    index = SimilarityIndex(ids, minilm.embed(list(CATALOGUE.values())), embedder=minilm)
    hits = [n.product_id for n in index.search("something warm for hiking", k=3)]
    assert set(hits) <= {1, 2, 3, 9} and 2 in hits
    assert [n.product_id for n in index.search("coffee", k=2)] in ([4, 5], [5, 4])
    assert index.similar_items(4, k=1)[0].product_id == 5
    index.set_unavailable([2])
    assert 2 not in [n.product_id for n in index.search("warm winter jacket", k=3)]
