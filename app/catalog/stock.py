"""Stock: whether a variant can be sold now, from the shop's synced inventory levels and variants.

One rule for every reader (product cards, search): inventory levels when any are known for the variant's
inventory item (summed over locations), else the variant's own ``inventory_quantity``, else untracked and
so sellable. Every query is scoped by ``shop_id``.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func
from sqlmodel import Session, select

from app.models.commerce import InventoryLevel, ProductVariant


def variant_stock(
    session: Session, shop_id: int, variants: Iterable[ProductVariant]
) -> dict[int, int | None]:
    """Variant id → units in stock: inventory levels summed over locations when known, else the variant's
    quantity, else None (untracked)."""
    variants = list(variants)
    items = [v.inventory_item_id for v in variants if v.inventory_item_id]
    levels: dict[int, int] = {}
    if items:
        for item_id, available in session.exec(
            select(InventoryLevel.inventory_item_id, func.sum(InventoryLevel.available))
            .where(InventoryLevel.shop_id == shop_id, InventoryLevel.inventory_item_id.in_(items))
            .group_by(InventoryLevel.inventory_item_id)
        ).all():
            levels[item_id] = int(available or 0)
    return {v.shopify_id: levels.get(v.inventory_item_id or -1, v.inventory_quantity) for v in variants}


def variant_availability(
    session: Session, shop_id: int, variants: Iterable[ProductVariant]
) -> dict[int, bool]:
    """Variant id → sellable: inventory levels when known, else the variant's quantity, else untracked."""
    return {
        vid: units is None or units > 0 for vid, units in variant_stock(session, shop_id, variants).items()
    }


def sold_out_variants(session: Session, shop_id: int, variant_ids: Iterable[int]) -> frozenset[int]:
    """Those of ``variant_ids`` (the shop's) at 0 units or below now; unknown and untracked ones are not."""
    ids = sorted({int(v) for v in variant_ids})
    if not ids:
        return frozenset()
    variants = session.exec(
        select(ProductVariant).where(ProductVariant.shop_id == shop_id, ProductVariant.shopify_id.in_(ids))
    ).all()
    return frozenset(
        v
        for v, units in variant_stock(session, shop_id, variants).items()
        if units is not None and units <= 0
    )
