"""One shop's interests (``shop_interest``): the data they are inferred from (live catalogue, stored vectors,
order × product incidence), and reading and replacing the stored interests. No commits."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sqlmodel import Session, delete, select

from app.catalog.text import normalise_tags
from app.models.base import utcnow
from app.models.commerce import Order, OrderLine
from app.models.merchandising import ShopInterest
from app.recommend.interests import CatalogueItem, Interest
from app.stores.catalog import live_products, stored_vectors

MIN_VECTOR_COVERAGE = 0.9  # below this share of embedded products, cluster on TF-IDF of the text instead


def gather(
    session: Session, shop_id: int
) -> tuple[list[CatalogueItem], np.ndarray | None, sp.csr_matrix | None]:
    """The shop's live products, their stored vectors (when nearly all have one) and orders × products."""
    products = sorted(live_products(session, shop_id), key=lambda p: p.shopify_id)
    items = [
        CatalogueItem(str(p.shopify_id), p.title or "", p.product_type or "", normalise_tags(p.tags))
        for p in products
    ]
    vectors = None
    stored = stored_vectors(session, shop_id)
    if stored is not None:
        row_of = {pid: r for r, pid in enumerate(stored[0])}
        have = [i for i in items if int(i.product_id) in row_of]
        if items and len(have) >= MIN_VECTOR_COVERAGE * len(items):
            items = have
            vectors = stored[1][[row_of[int(i.product_id)] for i in items]]
    col_of = {int(i.product_id): c for c, i in enumerate(items)}
    lines = session.exec(
        select(OrderLine.order_shopify_id, OrderLine.product_shopify_id)
        .join(Order, (Order.shop_id == OrderLine.shop_id) & (Order.shopify_id == OrderLine.order_shopify_id))
        .where(
            OrderLine.shop_id == shop_id,
            OrderLine.product_shopify_id.is_not(None),  # type: ignore[union-attr]
            Order.cancelled_at.is_(None),  # type: ignore[union-attr]
            Order.test.is_(False),  # type: ignore[attr-defined]
        )
    ).all()
    pairs = [(o, col_of[p]) for o, p in lines if p in col_of]
    if not pairs:
        return items, vectors, None
    order_row: dict[int, int] = {}
    rows = [order_row.setdefault(o, len(order_row)) for o, _ in pairs]
    matrix = sp.csr_matrix(
        (np.ones(len(pairs)), (rows, [c for _, c in pairs])), shape=(len(order_row), len(items))
    )
    matrix.data[:] = 1.0  # a product twice in one order counts once
    return items, vectors, matrix


def _row(shop_id: int, interest: Interest) -> ShopInterest:
    d = interest.as_dict()
    return ShopInterest(
        shop_id=shop_id,
        key=d["key"],
        name=d["name"][:120],
        terms=d["terms"],
        product_ids=d["product_ids"],
        size=d["size"],
        score=d["score"],
        sources=d["sources"],
        computed_at=utcnow(),
    )


def _signature(rows) -> list[tuple]:
    return sorted((r.key, r.name, tuple(r.product_ids)) for r in rows)


def replace_interests(session: Session, shop_id: int, found: list[Interest]) -> bool:
    """Store ``found`` as the shop's interests; returns whether they changed (same interests: no write)."""
    old = session.exec(select(ShopInterest).where(ShopInterest.shop_id == shop_id)).all()
    new = [_row(shop_id, interest) for interest in found]
    if _signature(old) == _signature(new):
        return False
    session.exec(delete(ShopInterest).where(ShopInterest.shop_id == shop_id))  # type: ignore[call-overload]
    session.add_all(new)
    return True


def load_interests(session: Session, shop_id: int) -> list[Interest]:
    """The shop's stored interests, biggest first."""
    rows = session.exec(select(ShopInterest).where(ShopInterest.shop_id == shop_id)).all()
    out = [
        Interest(r.key, r.name, list(r.terms), list(r.product_ids), r.score, list(r.sources)) for r in rows
    ]
    return sorted(out, key=lambda i: (-len(i.product_ids), i.key))
