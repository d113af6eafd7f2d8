"""The languages a shop's messages are written in: each customer's locale (mirrored from Shopify's customer) and
the shop's primary locale (``shopLocales``, read once ``read_locales`` is granted). No commits."""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import Session, select

from app.models.commerce import Customer
from app.models.shop import Shop


def customer_locales(session: Session, shop_id: int, customer_ids: Iterable[int]) -> dict[int, str]:
    """Customer id → their locale, for the customers Shopify told a locale of."""
    ids = sorted({int(c) for c in customer_ids})
    if not ids:
        return {}
    rows = session.exec(
        select(Customer.shopify_id, Customer.locale).where(
            Customer.shop_id == shop_id,
            Customer.shopify_id.in_(ids),  # type: ignore[attr-defined]
            Customer.locale.is_not(None),  # type: ignore[union-attr]
        )
    ).all()
    return {int(c): str(loc) for c, loc in rows if loc}


def shop_locale(session: Session, shop_id: int) -> str | None:
    shop = session.get(Shop, shop_id)
    return shop.primary_locale if shop is not None else None


def save_shop_locale(session: Session, shop_id: int, locale: str) -> None:
    shop = session.get(Shop, shop_id)
    if shop is not None and shop.primary_locale != locale:
        shop.primary_locale = locale[:16]
        shop.touch()
        session.add(shop)
