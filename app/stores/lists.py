"""One shop's recommendation lists: the plain ``ShopData`` the list computation reads (catalogue cards,
purchase history net of returns, reviews, interests, merchant rules, product vectors), and the upsert of the
computed lists into ``recommendation_list``. No commits.

Invariant of ``write_lists``: after a refresh of some scopes, the stored rows of those scopes are exactly the
computed ones (new rows added, changed rows rewritten, rows no longer produced deleted); other scopes are
untouched, so a one-customer refresh never reads or rewrites another shopper's lists.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import numpy as np
from sqlmodel import Session, select

from app.models.base import utcnow
from app.models.commerce import Order, OrderLine, Product, Refund, RefundLine
from app.models.feedback import ProductReview
from app.models.serving import RecommendationList
from app.profiles.feedback import DISLIKED_MAX
from app.recommend.lists import DAY, ListSpec, ShopData
from app.recommend.transactions import build_baskets
from app.stores.catalog import product_cards, shop_currency, stored_vectors
from app.stores.interests import load_interests
from app.stores.merchant_rules import load_rules


def _product_text(p: Product) -> str:
    body = re.sub(r"<[^>]+>", " ", p.body_html or "")
    return " ".join(x for x in (p.title, p.product_type, p.vendor, p.tags, body) if x)


def load_shop_data(session: Session, shop_id: int, *, with_content: bool = True) -> ShopData:
    """The shop's catalogue and purchase history; ``with_content=False`` skips the product texts and vectors
    (only the per-product similar lists use them, and a one-customer refresh computes none)."""
    products = session.exec(
        select(Product).where(Product.shop_id == shop_id, Product.deleted_at.is_(None))
    ).all()
    currency = shop_currency(session, shop_id)
    cards = product_cards(session, shop_id, [p.shopify_id for p in products], currency)
    texts = {p.shopify_id: _product_text(p) for p in products} if with_content else {}
    types = {p.shopify_id: p.product_type or "" for p in products}
    vectors = stored_vectors(session, shop_id) if with_content else None
    created = {
        p.shopify_id: (p.shopify_created_at or p.published_at or utcnow()).timestamp() for p in products
    }
    rows = session.exec(
        select(
            Order.customer_shopify_id,
            Order.shopify_id,
            Order.processed_at,
            OrderLine.product_shopify_id,
            OrderLine.quantity,
            OrderLine.title,
        )
        .join(
            OrderLine, (OrderLine.shop_id == Order.shop_id) & (OrderLine.order_shopify_id == Order.shopify_id)
        )
        .where(
            Order.shop_id == shop_id,
            Order.cancelled_at.is_(None),
            Order.test.is_(False),
            OrderLine.product_shopify_id.is_not(None),
            OrderLine.quantity > 0,
        )
    ).all()
    returns = session.exec(
        select(
            Order.customer_shopify_id,
            Order.shopify_id,
            Refund.processed_at,
            RefundLine.product_shopify_id,
            RefundLine.quantity,
        )
        .join(
            Refund,
            (Refund.shop_id == RefundLine.shop_id) & (Refund.shopify_id == RefundLine.refund_shopify_id),
        )
        .join(
            Order, (Order.shop_id == RefundLine.shop_id) & (Order.shopify_id == RefundLine.order_shopify_id)
        )
        .where(RefundLine.shop_id == shop_id, RefundLine.product_shopify_id.is_not(None))
    ).all()
    disliked = load_disliked(session, shop_id)
    extras = _merchandising(session, shop_id)
    if not rows:
        return ShopData(
            cards, texts, created, None, types=types, vectors=vectors, **extras, disliked=disliked
        )
    cust, oid, times, pid, qty, titles = [], [], [], [], [], []
    for c, o, at, p, q, t in rows:
        cust.append(str(c) if c else f"order:{o}")  # guest orders still teach co-purchase
        oid.append(str(o))
        times.append((at or utcnow()).timestamp() / DAY)
        pid.append(str(p))
        qty.append(q)
        titles.append(cards.get(p, {}).get("title") or t or str(p))
    for c, o, at, p, q in returns:
        if not c or not q:
            continue
        cust.append(str(c))
        oid.append(f"refund:{o}")
        times.append((at or utcnow()).timestamp() / DAY)
        pid.append(str(p))
        qty.append(-abs(q))
        titles.append(cards.get(p, {}).get("title") or str(p))
    baskets = build_baskets(
        np.array(cust), np.array(oid), np.array(times), np.array(pid), np.array(qty), np.array(titles)
    )
    index = {int(c): i for i, c in enumerate(baskets.customers) if not str(c).startswith("order:")}
    return ShopData(
        cards, texts, created, baskets, index, types=types, vectors=vectors, **extras, disliked=disliked
    )


def load_disliked(session: Session, shop_id: int) -> dict[int, set[str]]:
    """Customer -> products they rated 1-2 stars (imported reviews): a soft return for the blender."""
    out: dict[int, set[str]] = {}
    for cid, pid in session.exec(
        select(ProductReview.customer_shopify_id, ProductReview.product_shopify_id).where(
            ProductReview.shop_id == shop_id, ProductReview.rating <= DISLIKED_MAX
        )
    ).all():
        out.setdefault(int(cid), set()).add(str(pid))
    return out


def _merchandising(session: Session, shop_id: int) -> dict[str, Any]:
    """The shop's inferred interests and the merchant's pins and excludes, as ``ShopData`` fields."""
    pins, excludes = load_rules(session, shop_id)
    return {"interests": load_interests(session, shop_id), "pins": pins, "excludes": excludes}


def _hash(items: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(items, sort_keys=True, default=str).encode()).hexdigest()[:64]


def write_lists(
    session: Session, shop_id: int, specs: list[ListSpec], *, replace_scopes: dict[str, set[str] | None]
) -> int:
    """Upsert ``specs``; delete this shop's rows in ``replace_scopes`` (scope → subjects, None = all)
    that the new computation no longer produces."""
    now = utcnow()
    query = select(RecommendationList).where(RecommendationList.shop_id == shop_id)
    scopes = {spec.scope for spec in specs} | set(replace_scopes)
    if all(replace_scopes.get(scope, set()) is not None for scope in scopes):
        # a partial refresh (one customer's lists): read only the rows it may touch, not the whole shop's
        subjects = {spec.subject for spec in specs}
        for subject_set in replace_scopes.values():
            subjects |= subject_set or set()
        query = query.where(
            RecommendationList.scope.in_(scopes),  # type: ignore[attr-defined]
            RecommendationList.subject.in_(subjects),  # type: ignore[attr-defined]
        )
    existing = session.exec(query).all()
    by_key = {(r.scope, r.subject, r.placement): r for r in existing}
    fresh = set()
    for spec in specs:
        key = (spec.scope, spec.subject, spec.placement)
        fresh.add(key)
        row = by_key.get(key) or RecommendationList(
            shop_id=shop_id,
            scope=spec.scope,
            subject=spec.subject,
            placement=spec.placement,
            strategy=spec.strategy,
        )
        row.strategy, row.items, row.inputs_hash, row.computed_at = (
            spec.strategy,
            spec.items,
            _hash(spec.items),
            now,
        )
        session.add(row)
    for key, row in by_key.items():
        subjects = replace_scopes.get(key[0], set())
        if key not in fresh and key[0] in replace_scopes and (subjects is None or key[1] in subjects):
            session.delete(row)
    return len(specs)
