"""One customer's commerce records as the profile's plain records: orders with their lines, refunds, carts,
checkouts, reviews, support turns and wishlist items, and the cart/checkout tokens that stitch them to the
customer. Read-only but for ``stitch_orders`` (identity links and profile merges). No commits."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_
from sqlmodel import Session, select

from app.identity import customer_id_of, kind_of
from app.models.commerce import Cart, Checkout, Order, OrderLine, Product, ProductVariant, Refund, RefundLine
from app.models.feedback import ProductReview, SupportMessage
from app.models.serving import WishlistItem
from app.profiles.explicit import CartRec, CheckoutRec, OrderLineRec, OrderRec, RefundRec
from app.profiles.feedback import (
    ReviewRec,
    SupportTurnRec,
    WishlistRec,
)
from app.stores.identity import link_identifiers, members_of
from app.stores.profiles import merge_into


def _f(value: Any) -> float:
    return float(value) if value is not None else 0.0


def _tags(text: str | None) -> tuple[str, ...]:
    return tuple(t.strip()[:60] for t in (text or "").split(",") if t.strip())


def customer_orders(session: Session, shop_id: int, customer_id: int) -> list[Order]:
    return list(
        session.exec(
            select(Order).where(
                Order.shop_id == shop_id,
                Order.customer_shopify_id == customer_id,
                Order.test == False,  # noqa: E712
            )
        ).all()
    )


def order_record(o: Order, lines: list[OrderLineRec] | None = None) -> OrderRec:
    """An order row as the profile's record: ``total`` is ``total_price`` in shop money (after discounts,
    before returns; the refunds' money is taken off by ``app.profiles.explicit.net_spend``)."""
    return OrderRec(
        order_id=o.shopify_id,
        name=o.name,
        at=o.processed_at or o.shopify_created_at,
        currency=o.currency,
        total=_f(o.total_price),
        discounts=_f(o.total_discounts),
        cancelled=o.cancelled_at is not None,
        lines=lines or [],
    )


def refund_records(session: Session, shop_id: int, order_ids: list[int]) -> list[RefundRec]:
    """The refunds of these orders, each with the money it gave back and the units it returned."""
    if not order_ids:
        return []
    refunds = session.exec(
        select(Refund).where(Refund.shop_id == shop_id, Refund.order_shopify_id.in_(order_ids))  # type: ignore[attr-defined]
    ).all()
    qty: dict[int, int] = {}
    for rl in session.exec(
        select(RefundLine).where(
            RefundLine.shop_id == shop_id,
            RefundLine.order_shopify_id.in_(order_ids),  # type: ignore[attr-defined]
        )
    ).all():
        qty[rl.refund_shopify_id] = qty.get(rl.refund_shopify_id, 0) + rl.quantity
    return [
        RefundRec(
            r.order_shopify_id,
            r.processed_at or r.shopify_created_at,
            _f(r.amount),
            qty.get(r.shopify_id, 0),
            r.currency,
        )
        for r in refunds
    ]


def spend_records(session: Session, shop_id: int, customer_id: int) -> tuple[list[OrderRec], list[RefundRec]]:
    """A customer's orders (test orders left out, cancelled ones in, without lines) and their refunds: what
    ``app.profiles.explicit.net_spend`` needs."""
    orders = customer_orders(session, shop_id, customer_id)
    return [order_record(o) for o in orders], refund_records(session, shop_id, [o.shopify_id for o in orders])


def stitch_orders(session: Session, shop_id: int, customer_key: str, orders: list[Order]) -> None:
    """Orders and checkouts name cart and checkout tokens next to the customer: link them, merging the
    anonymous history those tokens carry into the customer's profile."""
    cid = customer_id_of(customer_key)
    checkouts = session.exec(
        select(Checkout).where(Checkout.shop_id == shop_id, Checkout.customer_shopify_id == cid)
    ).all()
    nodes = [customer_key]
    for order in orders:
        nodes += [f"cart:{order.cart_token}" if order.cart_token else None]
        nodes += [f"checkout:{order.checkout_token}" if order.checkout_token else None]
    for checkout in checkouts:
        nodes += [
            f"checkout:{checkout.token}",
            f"cart:{checkout.cart_token}" if checkout.cart_token else None,
        ]
    result = link_identifiers(session, shop_id, nodes)
    for merge in result.merges:
        merge_into(session, shop_id, merge.root, merge.absorbed)


def explicit_records(
    session: Session, shop_id: int, customer_key: str, orders: list[Order]
) -> tuple[list[OrderRec], list[RefundRec], list[CartRec], list[CheckoutRec]]:
    cid = customer_id_of(customer_key)
    order_ids = [o.shopify_id for o in orders]
    lines = (
        session.exec(
            select(OrderLine).where(OrderLine.shop_id == shop_id, OrderLine.order_shopify_id.in_(order_ids))  # type: ignore[attr-defined]
        ).all()
        if order_ids
        else []
    )
    product_ids = sorted({ln.product_shopify_id for ln in lines if ln.product_shopify_id})
    variant_ids = sorted({ln.variant_shopify_id for ln in lines if ln.variant_shopify_id})
    products = {
        p.shopify_id: p
        for p in session.exec(
            select(Product).where(Product.shop_id == shop_id, Product.shopify_id.in_(product_ids))  # type: ignore[attr-defined]
        ).all()
    }
    variants = {
        v.shopify_id: v
        for v in session.exec(
            select(ProductVariant).where(
                ProductVariant.shop_id == shop_id,
                ProductVariant.shopify_id.in_(variant_ids),  # type: ignore[attr-defined]
            )
        ).all()
    }
    by_order: dict[int, list[OrderLineRec]] = {}
    for ln in lines:
        product = products.get(ln.product_shopify_id) if ln.product_shopify_id else None
        variant = variants.get(ln.variant_shopify_id) if ln.variant_shopify_id else None
        by_order.setdefault(ln.order_shopify_id, []).append(
            OrderLineRec(
                product_id=ln.product_shopify_id,
                variant_id=ln.variant_shopify_id,
                title=ln.title,
                quantity=ln.quantity,
                price=float(ln.price) if ln.price is not None else None,
                discount=_f(ln.total_discount),
                vendor=product.vendor if product else None,
                product_type=product.product_type if product else None,
                compare_at_price=float(variant.compare_at_price)
                if variant and variant.compare_at_price
                else None,
                tags=_tags(product.tags if product else None),
            )
        )
    order_recs = [order_record(o, by_order.get(o.shopify_id, [])) for o in orders]
    refund_recs = refund_records(session, shop_id, order_ids)
    tokens = [m.split(":", 1)[1] for m in members_of(session, shop_id, customer_key) if kind_of(m) == "cart"]
    carts = (
        session.exec(select(Cart).where(Cart.shop_id == shop_id, Cart.token.in_(tokens))).all()  # type: ignore[attr-defined]
        if tokens
        else []
    )
    checkouts = session.exec(
        select(Checkout).where(
            Checkout.shop_id == shop_id,
            Checkout.customer_shopify_id == cid,
            Checkout.deleted_at.is_(None),  # type: ignore[union-attr]
        )
    ).all()
    return (
        order_recs,
        refund_recs,
        [
            CartRec(
                c.token, c.item_count, float(c.total_price) if c.total_price else None, c.shopify_updated_at
            )
            for c in carts
        ],
        [
            CheckoutRec(
                c.token,
                float(c.total_price) if c.total_price else None,
                c.completed_at is not None,
                c.shopify_updated_at,
                bool(c.abandoned_checkout_url),
            )
            for c in checkouts
        ],
    )


def review_records(session: Session, shop_id: int, customer_id: int) -> list[ReviewRec]:
    rows = session.exec(
        select(ProductReview, Product.title)
        .join(
            Product,
            (Product.shop_id == ProductReview.shop_id)
            & (Product.shopify_id == ProductReview.product_shopify_id),
            isouter=True,
        )
        .where(ProductReview.shop_id == shop_id, ProductReview.customer_shopify_id == customer_id)
    ).all()
    return [ReviewRec(r.product_shopify_id, r.rating, r.title, r.reviewed_at, title) for r, title in rows]


def support_records(session: Session, shop_id: int, key: str) -> list[SupportTurnRec]:
    """The support turns of the shopper ``key`` (a root): as the customer, and as every stitched client."""
    nodes = set(members_of(session, shop_id, key)) | {key}
    clients = sorted(n.split(":", 1)[1] for n in nodes if kind_of(n) == "client")
    who = []
    if kind_of(key) == "customer":
        who.append(SupportMessage.customer_shopify_id == customer_id_of(key))
    if clients:
        who.append(SupportMessage.client_id.in_(clients))  # type: ignore[union-attr]
    if not who:
        return []
    rows = session.exec(select(SupportMessage).where(SupportMessage.shop_id == shop_id, or_(*who))).all()
    return [
        SupportTurnRec(
            m.conversation,
            m.role,
            m.topic,
            m.text,
            m.escalated,
            m.resolved_at is not None,
            m.created_at,
            m.resolved_at,
            m.resolution_note,
        )
        for m in rows
    ]


def wishlist_records(session: Session, shop_id: int, key: str) -> list[WishlistRec]:
    """What the shopper ``key`` (a root) saved: as the customer, and as every stitched client (wishlist owners
    are ``customer:<id>`` or ``client:<client id>``, the same form as identity nodes)."""
    owners = sorted(
        n for n in set(members_of(session, shop_id, key)) | {key} if kind_of(n) in ("customer", "client")
    )
    rows = session.exec(
        select(WishlistItem, Product.title)
        .join(
            Product,
            (Product.shop_id == WishlistItem.shop_id)
            & (Product.shopify_id == WishlistItem.product_id)
            & Product.deleted_at.is_(None),  # type: ignore[union-attr]
            isouter=True,
        )
        .where(WishlistItem.shop_id == shop_id, WishlistItem.owner.in_(owners))  # type: ignore[attr-defined]
    ).all()
    return [WishlistRec(w.product_id, w.variant_id, w.created_at, title) for w, title in rows]
