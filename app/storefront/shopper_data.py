"""Reads (and the wishlist write) behind the app proxy that are not precomputed lists.

Product cards, reorder permalinks net of returns, active nudges, the signed-in customer's recent messages,
wishlists, semantic search over the product index. Every query is scoped by ``shop_id``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.catalog.search import search_shop
from app.catalog.stock import variant_stock
from app.models.commerce import Order, OrderLine, Product, ProductVariant, RefundLine
from app.models.messaging import ConversationMessage
from app.models.serving import Nudge, WishlistItem
from app.storefront.cache import ServingStore
from app.stores.catalog import product_cards


class NotYours(LookupError):
    """The order exists but belongs to another customer."""


# --- semantic search --------------------------------------------------------------------------


def search_products(
    store: ServingStore, shop_id: int, query: str, limit: int, *, sold_out_best: bool = False
) -> list[dict[str, Any]]:
    """Products nearest to the query text in the shop's product index, in stock, with a reason.

    ``sold_out_best`` (the support assistant's answers): when the nearest product is sold out it comes first,
    marked ``sold_out`` with ``notify``, its sold-out variants a shopper may ask to be told about, before the
    ``limit`` in-stock ones."""
    hits = search_shop(store.database_url, shop_id, query, k=limit * 3, sold_out=sold_out_best)
    with store.session() as s:
        cards = product_cards(s, shop_id, [pid for pid, _ in hits])
        out = []
        for pid, score in hits:
            card = cards.get(pid)
            if card is None:
                continue
            if not card["available"]:
                if sold_out_best and not out and (notify := sold_out_variants(s, shop_id, pid)):
                    out.append({**card, "sold_out": True, "notify": notify, "score": round(float(score), 4)})
                    limit += 1
                sold_out_best = False  # only the best match, never a sold-out one further down
                continue
            sold_out_best = False
            out.append({**card, "score": round(float(score), 4), "reason": f"Matches “{query[:60]}”"})
            if len(out) >= limit:
                break
    return out


def sold_out_variants(s: Session, shop_id: int, product_id: int) -> list[dict[str, Any]]:
    """The product's variants that are tracked and out of stock (those a "notify me" accepts), in order."""
    variants = s.exec(
        select(ProductVariant)
        .where(ProductVariant.shop_id == shop_id, ProductVariant.product_shopify_id == product_id)
        .order_by(ProductVariant.position, ProductVariant.shopify_id)
    ).all()
    units = variant_stock(s, shop_id, variants)
    return [
        {"variant_id": v.shopify_id, "title": v.title or "Default Title"}
        for v in variants
        if units.get(v.shopify_id) is not None and units[v.shopify_id] <= 0
    ]


# --- reorder ----------------------------------------------------------------------------------


def reorder_links(
    store: ServingStore, shop_id: int, customer_id: int, order_id: int | None, *, limit: int = 3
) -> list[dict[str, Any]]:
    """Cart permalinks (``/cart/VARIANT:QTY,…``) for the customer's past orders, net of returns.

    Raises ``NotYours`` when ``order_id`` is someone else's order.
    """
    with store.session() as s:
        query = select(Order).where(Order.shop_id == shop_id)
        if order_id is not None:
            order = s.exec(query.where(Order.shopify_id == order_id)).first()
            if order is None:
                return []
            if order.customer_shopify_id != customer_id:
                raise NotYours(order_id)
            orders = [order]
        else:
            orders = s.exec(
                query.where(Order.customer_shopify_id == customer_id, Order.cancelled_at.is_(None))
                .order_by(Order.processed_at.desc(), Order.shopify_id.desc())
                .limit(limit * 2)
            ).all()
        order_ids = [o.shopify_id for o in orders]
        if not order_ids:
            return []
        lines = s.exec(
            select(OrderLine)
            .where(OrderLine.shop_id == shop_id, OrderLine.order_shopify_id.in_(order_ids))
            .order_by(OrderLine.order_shopify_id, OrderLine.shopify_id)
        ).all()
        refunded: Counter[int] = Counter()
        for line_id, qty in s.exec(
            select(RefundLine.order_line_shopify_id, RefundLine.quantity).where(
                RefundLine.shop_id == shop_id, RefundLine.order_shopify_id.in_(order_ids)
            )
        ).all():
            refunded[line_id] += qty
        variant_ids = {ln.variant_shopify_id for ln in lines if ln.variant_shopify_id}
        live = set(
            s.exec(
                select(ProductVariant.shopify_id)
                .join(
                    Product,
                    (Product.shop_id == ProductVariant.shop_id)
                    & (Product.shopify_id == ProductVariant.product_shopify_id),
                )
                .where(
                    ProductVariant.shop_id == shop_id,
                    ProductVariant.shopify_id.in_(variant_ids or {0}),
                    Product.deleted_at.is_(None),
                )
            ).all()
        )
    by_order: dict[int, list[OrderLine]] = defaultdict(list)
    for ln in lines:
        by_order[ln.order_shopify_id].append(ln)
    out = []
    for o in orders:
        qty: Counter[int] = Counter()
        titles: dict[int, str] = {}
        products: dict[int, int | None] = {}
        for ln in by_order.get(o.shopify_id, []):
            keep = ln.quantity - refunded[ln.shopify_id]
            if keep > 0 and ln.variant_shopify_id in live:
                qty[ln.variant_shopify_id] += keep
                titles[ln.variant_shopify_id] = ln.title or ""
                products[ln.variant_shopify_id] = ln.product_shopify_id
        if not qty:
            continue
        out.append(
            {
                "order_id": o.shopify_id,
                "name": o.name or f"#{o.shopify_id}",
                "placed_at": o.processed_at.isoformat() if o.processed_at else None,
                "items": [
                    {"variant_id": v, "product_id": products[v], "title": titles[v], "quantity": q}
                    for v, q in qty.items()
                ],
                "permalink": "/cart/" + ",".join(f"{v}:{q}" for v, q in qty.items()),
            }
        )
        if len(out) >= limit:
            break
    return out


# --- nudges -----------------------------------------------------------------------------------


def active_nudges(
    store: ServingStore, shop_id: int, customer_id: int | None, client_id: str | None, *, limit: int = 3
) -> list[dict[str, Any]]:
    """Nudges for this shopper (or for everyone), live now, highest priority first.

    ``customer_id`` must be the proxy's signed ``logged_in_customer_id``. A nudge that names a customer is
    personal: it is shown only to that signed-in customer, never on the strength of a ``client_id`` (which the
    browser chooses), even when the nudge also names that client. A client id sees only what was addressed
    to the browser alone.

    Reads ``Nudge``, the on-site channel's message table (written by the outbox relay's on-site channel).
    """
    now = datetime.now(UTC)
    audience = [(Nudge.customer_id.is_(None)) & (Nudge.client_id.is_(None))]
    if customer_id:
        audience.append(Nudge.customer_id == customer_id)
    if client_id:
        audience.append((Nudge.client_id == client_id) & Nudge.customer_id.is_(None))
    with store.session() as s:
        rows = s.exec(
            select(Nudge)
            .where(
                Nudge.shop_id == shop_id,
                or_(*audience),
                Nudge.dismissed_at.is_(None),
                or_(Nudge.starts_at.is_(None), Nudge.starts_at <= now),
                or_(Nudge.expires_at.is_(None), Nudge.expires_at > now),
            )
            .order_by(Nudge.priority.desc(), Nudge.created_at.desc())
            .limit(limit)
        ).all()
    return [
        {
            "id": n.id,
            "kind": n.kind,
            "text": n.text,
            # Same-origin paths only: a nudge never sends the shopper off the shop.
            "url": n.url if n.url and n.url.startswith("/") and not n.url.startswith("//") else None,
            "reason": n.reason,
        }
        for n in rows
    ]


# --- the signed-in customer's messages ----------------------------------------------------------


def customer_messages(
    store: ServingStore, shop_id: int, customer_id: int, *, limit: int = 5
) -> list[dict[str, Any]]:
    """The customer's recent messages in their one conversation, newest first: what the shop sent them (on any
    channel, once sent) and what they wrote. Only ever called for the app proxy's signed customer."""
    with store.session() as s:
        rows = s.exec(
            select(ConversationMessage)
            .where(
                ConversationMessage.shop_id == shop_id,
                ConversationMessage.shopper_key == f"customer:{customer_id}",
                or_(ConversationMessage.direction == "in", ConversationMessage.status == "sent"),
            )
            .order_by(ConversationMessage.created_at.desc(), ConversationMessage.id.desc())
            .limit(limit)
        ).all()
    return [
        {
            "direction": m.direction,
            "channel": m.channel,
            "summary": m.summary,
            "at": (m.updated_at if m.direction == "out" else m.created_at).isoformat(),
        }
        for m in rows
    ]


# --- wishlist ---------------------------------------------------------------------------------


def wishlist(store: ServingStore, shop_id: int, owner: str) -> list[dict[str, Any]]:
    with store.session() as s:
        rows = s.exec(
            select(WishlistItem)
            .where(WishlistItem.shop_id == shop_id, WishlistItem.owner == owner)
            .order_by(WishlistItem.created_at.desc())
        ).all()
    return [
        {"product_id": r.product_id, "variant_id": r.variant_id, "saved_at": r.created_at.isoformat()}
        for r in rows
    ]


def save_wishlist_item(
    store: ServingStore, shop_id: int, owner: str, product_id: int, variant_id: int | None
) -> bool | None:
    """True when saved now, False when it was already saved, None when the shop has no such product."""
    with store.session() as s:
        exists = s.exec(
            select(Product.id).where(
                Product.shop_id == shop_id, Product.shopify_id == product_id, Product.deleted_at.is_(None)
            )
        ).first()
        if exists is None:
            return None
        already = s.exec(
            select(WishlistItem.id).where(
                WishlistItem.shop_id == shop_id,
                WishlistItem.owner == owner,
                WishlistItem.product_id == product_id,
            )
        ).first()
        if already is not None:
            return False
        s.add(WishlistItem(shop_id=shop_id, owner=owner, product_id=product_id, variant_id=variant_id))
        try:
            s.commit()
        except IntegrityError:
            s.rollback()
            return False
    return True
