"""Per-shop use-case inference: worker jobs that find and store the shop's interests (``shop_interest``).

- ``infer_for_shop(shop_id)``: loads the live catalogue (title, type, tags), the stored product vectors and the
  order × product incidence, calls ``app.recommend.usecases.infer_interests`` and rewrites the shop's
  ``shop_interest`` rows. When the interests changed it queues the shop's recommendation refresh, whose
  personal reasons name them ("For your interest in coffee").
- ``infer_all_shops()``: nightly, one job per installed shop (co-purchase drifts with new orders); the
  catalogue embedding job queues one whenever it changed a vector.
- ``load_interests(session, shop_id)``: the stored interests as plain data, for the list refresh and the admin.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp
from sqlmodel import Session, delete, select

from app.catalog.text import normalise_tags
from app.config import Settings, get_settings
from app.db import after_commit, get_engine, session_scope
from app.jobs.catalog import live_products
from app.models.base import utcnow
from app.models.commerce import Order, OrderLine
from app.models.merchandising import ShopInterest
from app.models.shop import Shop
from app.queue import enqueue
from app.recommend.usecases import CatalogueItem, Interest, infer_interests

log = logging.getLogger(__name__)

JOB = "app.jobs.interests.infer_for_shop"
RECS_JOB = "app.jobs.recommendations.refresh_for_shop"
MIN_VECTOR_COVERAGE = 0.9  # below this share of embedded products, cluster on TF-IDF of the text instead


def job_id(shop_id: int) -> str:
    return f"interests-shop-{shop_id}"


def gather(
    session: Session, shop_id: int
) -> tuple[list[CatalogueItem], np.ndarray | None, sp.csr_matrix | None]:
    """The shop's live products, their stored vectors (when nearly all have one) and orders × products."""
    from app.jobs.recommendations import stored_vectors

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


def infer_for_shop(shop_id: int, settings: Settings | None = None) -> int:
    """Worker job: recompute and store the shop's interests. Returns how many it found."""
    settings = settings or get_settings()
    with Session(get_engine(settings.database_url), expire_on_commit=False) as session:
        items, vectors, order_item = gather(session, shop_id)
        found = infer_interests(items, vectors, order_item)
        old = session.exec(select(ShopInterest).where(ShopInterest.shop_id == shop_id)).all()
        new = [_row(shop_id, interest) for interest in found]
        changed = _signature(old) != _signature(new)
        if changed:
            session.exec(delete(ShopInterest).where(ShopInterest.shop_id == shop_id))  # type: ignore[call-overload]
            session.add_all(new)
            after_commit(
                session,
                lambda: enqueue(
                    settings.redis_url, RECS_JOB, shop_id, queue="low", job_id=f"recs-shop-{shop_id}"
                ),
            )
        session.commit()
    log.info("interests: shop %s, %s found (%s)", shop_id, len(found), "changed" if changed else "unchanged")
    return len(found)


def enqueue_infer(settings: Settings, shop_id: int) -> bool:
    return enqueue(settings.redis_url, JOB, shop_id, queue="low", job_id=job_id(shop_id))


def infer_all_shops() -> int:
    """Nightly: queue an inference for every installed shop (low queue). Returns how many."""
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        shops = session.exec(
            select(Shop.id).where(Shop.access_token_enc.is_not(None), Shop.uninstalled_at.is_(None))  # type: ignore[union-attr]
        ).all()
    return sum(enqueue_infer(settings, shop_id) for shop_id in shops)


def load_interests(session: Session, shop_id: int) -> list[Interest]:
    """The shop's stored interests, biggest first."""
    rows = session.exec(select(ShopInterest).where(ShopInterest.shop_id == shop_id)).all()
    out = [
        Interest(r.key, r.name, list(r.terms), list(r.product_ids), r.score, list(r.sources)) for r in rows
    ]
    return sorted(out, key=lambda i: (-len(i.product_ids), i.key))
