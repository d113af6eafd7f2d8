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


def variant_availability(
    session: Session, shop_id: int, variants: Iterable[ProductVariant]
) -> dict[int, bool]:
    """Variant id → sellable: inventory levels when known, else the variant's quantity, else untracked."""
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
    out: dict[int, bool] = {}
    for v in variants:
        if v.inventory_item_id in levels:
            out[v.shopify_id] = levels[v.inventory_item_id] > 0
        elif v.inventory_quantity is not None:
            out[v.shopify_id] = v.inventory_quantity > 0
        else:
            out[v.shopify_id] = True
    return out
