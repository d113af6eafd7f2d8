"""Interest names a merchant would accept (issue 21): unique per shop, in the merchant's own vocabulary, and on
the Instacart sample sharing a word with the dominant aisle of the interest's products."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from app.backtest.interest_names import TARGET, evaluate, load_instacart, name_agreement
from app.demo.sample import load_transactions, product_type
from app.recommend.interest_terms import CatalogueItem, vocabulary
from app.recommend.interests import infer_interests
from tests.conftest import DATA, needs_shared

AISLES = {
    "fresh fruits": ("produce", ["Banana", "Organic apple", "Lemon", "Strawberries", "Blueberries", "Mango"]),
    "fresh vegetables": ("produce", ["Broccoli", "Carrots", "Spinach", "Cucumber", "Kale", "Red onion"]),
    "yogurt": ("dairy eggs", ["Greek yogurt", "Vanilla yogurt", "Skyr", "Kefir drink", "Strawberry yogurt"]),
    "packaged cheese": ("dairy eggs", ["Cheddar", "Mozzarella", "Swiss slices", "Parmesan", "Feta"]),
    "paper goods": (
        "household",
        ["Paper towels", "Toilet tissue", "Napkins", "Facial tissue", "Paper plates"],
    ),
}


def _grocer() -> tuple[pd.DataFrame, sp.csr_matrix]:
    """A small grocer: aisles bought together, departments spanning two aisles each."""
    rows = [
        {"product_name": name, "aisle": aisle, "department": dept}
        for aisle, (dept, names) in AISLES.items()
        for name in names
    ]
    products = pd.DataFrame(rows, index=range(1, len(rows) + 1))
    cols_of = {a: np.flatnonzero(products["aisle"].values == a) for a in AISLES}
    rng = np.random.default_rng(1)
    r, c = [], []
    for order in range(200):
        for col in rng.choice(cols_of[list(AISLES)[order % len(AISLES)]], 3, replace=False):
            r.append(order)
            c.append(col)
    return products, sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(200, len(products)))


def test_names_follow_the_aisle_not_the_department():
    products, matrix = _grocer()
    result = evaluate(products, matrix, "aisle-type")
    assert result["unique_names"] and result["from_vocabulary"] == 1.0
    assert result["agreement"] >= TARGET, result["rows"]


def test_broad_phrases_lose_to_the_one_a_cluster_owns():
    # tags say "household" on everything of two groups; collections say which one: the collection names it
    items = [CatalogueItem(f"t{i}", f"Towel {i}", "", ("household",), ("paper goods",)) for i in range(6)]
    items += [CatalogueItem(f"s{i}", f"Soap {i}", "", ("household",), ("soap",)) for i in range(6)]
    rows = [(o, (o % 6) + (6 if o % 2 else 0)) for o in range(60)]
    rows += [(o, ((o + 1) % 6) + (6 if o % 2 else 0)) for o in range(60)]
    matrix = sp.csr_matrix((np.ones(len(rows)), tuple(zip(*rows, strict=True))), shape=(60, 12))
    names = sorted(i.name for i in infer_interests(items, None, matrix))
    assert names == ["paper goods", "soap"]


def test_clusters_without_vocabulary_are_numbered_apart():
    items = [CatalogueItem(f"p{i}", f"Item {i}") for i in range(10)]
    rows = [
        (o, c) for o in range(60) for c in ((o % 5, (o + 1) % 5) if o % 2 else (5 + o % 5, 5 + (o + 2) % 5))
    ]
    matrix = sp.csr_matrix((np.ones(len(rows)), tuple(zip(*rows, strict=True))), shape=(60, 10))
    names = [i.name for i in infer_interests(items, np.ones((10, 4)), matrix)]
    assert len(names) >= 2 and len(set(names)) == len(names), names


def test_demo_sample_names_are_unique_and_the_merchants():
    df = load_transactions()
    df = df[df["quantity"] > 0]
    titles = df.groupby("product_id")["product_title"].last().str.strip().str.title()
    items = [CatalogueItem(pid, t, product_type(t), (product_type(t).lower(),)) for pid, t in titles.items()]
    interests = infer_interests(items)
    names = [i.name for i in interests]
    assert len(names) >= 3 and len(set(names)) == len(names)
    phrases = {p for item in items for p in vocabulary(item)}
    assert set(names) <= phrases, names


@pytest.mark.slow
@pytest.mark.backtest
@pytest.mark.shared_data
@needs_shared(DATA / "instacart_sample")
def test_instacart_interest_names_share_a_word_with_the_dominant_aisle():
    products, matrix = load_instacart(DATA / "instacart_sample")
    result = evaluate(products, matrix, "aisle-type")
    assert result["unique_names"] and result["from_vocabulary"] == 1.0
    assert result["agreement"] >= TARGET
    assert name_agreement([], {})["agreement"] is None
