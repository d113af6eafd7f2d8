"""The local storefront's home page: what a newcomer sees first at the demo's "Demo storefront" URL.

It lists the shop's live products with their prices and links, links the cart, and offers a switch between
browsing anonymously and browsing as one of the shop's known shoppers (the ones with the most orders), so the
personal blocks and the assistant can be seen for both. The chosen shopper travels in a cookie; the local app
proxy signs it as Shopify signs ``logged_in_customer_id``. Everything is read for one shop only.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func
from sqlmodel import Session, select

from app.models.commerce import Customer, Order, Product, ProductVariant
from app.models.shop import Shop

SHOPPER_COOKIE = "attune_demo_shopper"
ANONYMOUS = "anonymous"
PRODUCT_LIMIT = 60
SHOPPER_LIMIT = 6


@dataclass(frozen=True)
class HomeProduct:
    handle: str
    title: str
    price: Decimal | None


@dataclass(frozen=True)
class Shopper:
    customer_id: int
    name: str
    orders: int


def shop_id_of(session: Session, domain: str) -> int | None:
    return session.exec(select(Shop.id).where(Shop.domain == domain)).first()


def home_products(session: Session, shop_id: int, limit: int = PRODUCT_LIMIT) -> list[HomeProduct]:
    """The shop's live products with a handle, by title, each with its first variant's price."""
    products = session.exec(
        select(Product.shopify_id, Product.handle, Product.title)
        .where(
            Product.shop_id == shop_id,
            Product.deleted_at.is_(None),  # type: ignore[union-attr]
            Product.handle.is_not(None),  # type: ignore[union-attr]
            func.coalesce(Product.status, "active") == "active",
        )
        .order_by(Product.title, Product.shopify_id)
        .limit(limit)
    ).all()
    prices: dict[int, Decimal | None] = {}
    if products:
        for pid, price in session.exec(
            select(ProductVariant.product_shopify_id, ProductVariant.price)
            .where(
                ProductVariant.shop_id == shop_id,
                ProductVariant.product_shopify_id.in_([p[0] for p in products]),  # type: ignore[attr-defined]
            )
            .order_by(ProductVariant.product_shopify_id, ProductVariant.position.desc())  # type: ignore[union-attr]
        ).all():
            prices[pid] = price  # the last written per product is its first position
    return [HomeProduct(handle, title or handle, prices.get(pid)) for pid, handle, title in products]


def known_shoppers(session: Session, shop_id: int, limit: int = SHOPPER_LIMIT) -> list[Shopper]:
    """The shop's customers with the most orders (they have the richest personal lists), most first."""
    rows = session.exec(
        select(Order.customer_shopify_id, func.count(Order.id).label("n"))
        .where(
            Order.shop_id == shop_id,
            Order.customer_shopify_id.is_not(None),  # type: ignore[union-attr]
            Order.cancelled_at.is_(None),  # type: ignore[union-attr]
        )
        .group_by(Order.customer_shopify_id)
        .order_by(func.count(Order.id).desc(), Order.customer_shopify_id)
        .limit(limit)
    ).all()
    names = dict(
        session.exec(
            select(Customer.shopify_id, Customer.first_name).where(
                Customer.shop_id == shop_id,
                Customer.shopify_id.in_([r[0] for r in rows]),  # type: ignore[attr-defined]
            )
        ).all()
    )
    return [
        Shopper(int(cid), f"{names.get(cid) or 'Customer'} #{cid}", int(n))
        for cid, n in rows
        if cid is not None
    ]


def is_known(session: Session, shop_id: int, customer_id: int) -> bool:
    """A customer of this shop (a cookie naming another shop's customer is ignored)."""
    return (
        session.exec(
            select(Customer.id).where(Customer.shop_id == shop_id, Customer.shopify_id == customer_id)
        ).first()
        is not None
        or session.exec(
            select(Order.id).where(Order.shop_id == shop_id, Order.customer_shopify_id == customer_id)
        ).first()
        is not None
    )


def _price(p: Decimal | None, currency: str) -> str:
    return "" if p is None else f"{p:.2f} {html.escape(currency)}"


def home_content(
    products: list[HomeProduct], shoppers: list[Shopper], current: int | None, currency: str
) -> str:
    """The page's own content (the app blocks and the assistant are added by ``render_page``)."""
    who = next((s.name for s in shoppers if s.customer_id == current), None)
    if current is not None and who is None:
        who = f"Customer #{current}"
    switch = [
        f'<a href="/?as={ANONYMOUS}" data-shopper="{ANONYMOUS}"'
        + (' aria-current="true"' if current is None else "")
        + ">Anonymous visitor</a>"
    ]
    for s in shoppers:
        mark = ' aria-current="true"' if s.customer_id == current else ""
        switch.append(
            f'<a href="/?as={s.customer_id}" data-shopper="{s.customer_id}"{mark}>'
            f"{html.escape(s.name)} ({s.orders} orders)</a>"
        )
    cards = [
        f'<li><a href="/products/{html.escape(p.handle)}">{html.escape(p.title)}</a>'
        f' <span class="theme-price">{_price(p.price, currency)}</span></li>'
        for p in products
    ]
    return (
        '<section class="theme-home">'
        "<h1>Welcome to the demo shop</h1>"
        f"<p data-browsing-as>Browsing as <strong>{html.escape(who or 'an anonymous visitor')}</strong>. "
        'Switch: <span class="theme-switch">' + " · ".join(switch) + "</span></p>"
        '<p><a href="/cart" data-cart-link>Your cart</a></p>'
        f'<h2>Products</h2><ul class="theme-products">{"".join(cards) or "<li>No products yet.</li>"}</ul>'
        "</section>"
    )
