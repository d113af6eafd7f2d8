"""Use-case inference (``app.recommend.interests``): obvious clusters are found and get sensible names."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from app.embedding import HashingEmbedder
from app.recommend.interests import CatalogueItem, infer_interests, interest_of, shopper_interests

OUTDOOR = [
    ("Two-person dome tent", "Camping", ["outdoor", "camping"]),
    ("Down sleeping bag", "Camping", ["outdoor", "camping"]),
    ("Trekking poles", "Hiking", ["outdoor", "hiking"]),
    ("Waterproof hiking boots", "Hiking", ["outdoor", "hiking"]),
    ("Camping stove", "Camping", ["outdoor", "camping"]),
    ("Headlamp 300 lumen", "Camping", ["outdoor"]),
]
COFFEE = [
    ("Espresso beans 1kg", "Coffee", ["coffee", "beans"]),
    ("Burr coffee grinder", "Coffee", ["coffee", "brewing"]),
    ("Pour-over coffee dripper", "Coffee", ["coffee", "brewing"]),
    ("Decaf coffee beans", "Coffee", ["coffee", "beans"]),
    ("Milk frother", "Coffee", ["coffee"]),
]
BABY = [
    ("Newborn diapers", "Baby", ["baby", "nappies"]),
    ("Baby wipes", "Baby", ["baby"]),
    ("Organic cotton onesie", "Baby", ["baby", "clothing"]),
    ("Baby bottle set", "Baby", ["baby", "feeding"]),
    ("Teething ring", "Baby", ["baby"]),
]
GROUPS = {"outdoor": OUTDOOR, "coffee": COFFEE, "baby": BABY}


def _catalogue() -> tuple[list[CatalogueItem], dict[str, str]]:
    items, group_of = [], {}
    for group, rows in GROUPS.items():
        for i, (title, ptype, tags) in enumerate(rows):
            pid = f"{group}-{i}"
            items.append(CatalogueItem(pid, title, ptype, tags))
            group_of[pid] = group
    return items, group_of


def _orders(items: list[CatalogueItem], group_of: dict[str, str], seed: int = 0) -> sp.csr_matrix:
    """Orders that mix products of one group only (obvious co-purchase clusters)."""
    rng = np.random.default_rng(seed)
    by_group: dict[str, list[int]] = {}
    for col, item in enumerate(items):
        by_group.setdefault(group_of[item.product_id], []).append(col)
    rows, cols = [], []
    for order in range(90):
        members = by_group[list(GROUPS)[order % 3]]
        for col in rng.choice(members, size=3, replace=False):
            rows.append(order)
            cols.append(col)
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(90, len(items)))


def _check(interests, group_of):
    assert len(interests) == 3
    for interest in interests:
        groups = {group_of[p] for p in interest.product_ids}
        assert len(groups) == 1, (interest.name, interest.product_ids)
        assert len(interest.product_ids) >= 4
    names = {group_of[i.product_ids[0]]: i.name for i in interests}
    assert "camping" in names["outdoor"] or "outdoor" in names["outdoor"] or "hiking" in names["outdoor"]
    assert names["coffee"] == "coffee"
    assert names["baby"] == "baby"
    return names


def test_content_only_clusters_are_found_and_named():
    items, group_of = _catalogue()
    interests = infer_interests(items)
    names = _check(interests, group_of)
    assert names["outdoor"] in {"outdoor & camping", "camping & outdoor", "outdoor & hiking", "outdoor"}
    assert all(i.sources == ["content"] for i in interests)


def test_embeddings_and_co_purchase_together():
    items, group_of = _catalogue()
    vectors = HashingEmbedder().embed([f"{i.title}. Type: {i.product_type}" for i in items])
    interests = infer_interests(items, vectors, _orders(items, group_of))
    _check(interests, group_of)
    assert all(i.sources == ["content", "co-purchase"] for i in interests)
    d = interests[0].as_dict()
    assert set(d) >= {"key", "name", "terms", "product_ids", "size", "score"} and d["size"] == len(
        d["product_ids"]
    )


def test_co_purchase_separates_what_text_cannot():
    # titles say nothing: only the orders tell the two groups apart
    items = [CatalogueItem(f"p{i}", f"Item {i}") for i in range(10)]
    rows, cols = [], []
    for order in range(60):
        group = range(0, 5) if order % 2 else range(5, 10)
        for col in np.random.default_rng(order).choice(list(group), 2, replace=False):
            rows.append(order)
            cols.append(col)
    matrix = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(60, 10))
    interests = infer_interests(items, np.ones((10, 4)), matrix)
    found = sorted(sorted(i.product_ids) for i in interests)
    assert found == [[f"p{i}" for i in range(5)], [f"p{i}" for i in range(5, 10)]]


def test_small_catalogues_and_shopper_interests():
    assert infer_interests([CatalogueItem("a", "A"), CatalogueItem("b", "B")]) == []
    items, group_of = _catalogue()
    interests = infer_interests(items)
    of = interest_of(interests)
    assert of["coffee-0"].name == "coffee"
    mine = shopper_interests(["coffee-0", "coffee-1", "baby-0", "missing"], interests)
    assert [(i.name, n) for i, n in mine] == [("coffee", 2)]


def test_big_catalogues_choose_k_on_a_sample(monkeypatch):
    import app.recommend.interests as interests

    monkeypatch.setattr(interests, "EXACT_SILHOUETTE", 12)  # the sampled path, on the small catalogue
    items, group_of = _catalogue()
    _check(infer_interests(items), group_of)
