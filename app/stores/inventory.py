"""Load a shop's demand and stock history for the inventory agent and keep its forecasts and settings (issue 19).

Every query is scoped by ``shop_id``. Daily units come from order lines of orders that are neither cancelled nor
tests (returns are not netted: demand is what was ordered); stock per day from ``inventory_day``, which each
applied ``inventory_levels/update`` (and the backfill) writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
from sqlalchemy import func
from sqlmodel import Session, delete, select

from app.catalog.stock import variant_stock
from app.modelling.inventory import MAX_STOCK, InventoryInputError
from app.models.commerce import InventoryLevel, Order, OrderLine, Product, ProductVariant
from app.models.inventory import DemandForecast, InventoryDay, InventorySetting


@dataclass(frozen=True)
class VariantInfo:
    variant_id: int
    product_id: int
    title: str
    sku: str | None
    vendor: str
    inventory_item_id: int | None
    on_hand: int | None  # None: not tracked
    product_type: str = ""  # the category a variant with one sale ever borrows its prior from


def check_level(available: object) -> int | None:
    """A webhook's ``available``: an int within ±``MAX_STOCK`` (negative is oversold), None when absent."""
    if available is None:
        return None
    if isinstance(available, bool) or not isinstance(available, int):
        raise InventoryInputError(f"available must be a whole number, got {available!r}")
    if abs(available) > MAX_STOCK:
        raise InventoryInputError(f"available {available} is beyond ±{MAX_STOCK}: refused as a data error")
    return available


def record_level_day(session: Session, shop_id: int, level: InventoryLevel) -> None:
    """Keep the level's current (version-guarded) value as its item's stock at its location on that day."""
    if level.available is None:
        return
    day = (level.shopify_updated_at or datetime.now()).date()
    row = session.exec(
        select(InventoryDay).where(
            InventoryDay.shop_id == shop_id,
            InventoryDay.inventory_item_id == level.inventory_item_id,
            InventoryDay.location_id == level.location_id,
            InventoryDay.day == day,
        )
    ).first()
    if row is None:
        row = InventoryDay(
            shop_id=shop_id,
            inventory_item_id=level.inventory_item_id,
            location_id=level.location_id,
            day=day,
            available=level.available,
        )
    row.available = level.available
    session.add(row)


def variants(session: Session, shop_id: int) -> list[VariantInfo]:
    """The shop's variants with their product's title and vendor, and their units in stock now
    (``app.catalog.stock.variant_stock``: inventory levels when known, else the variant's quantity)."""
    rows = session.exec(
        select(ProductVariant, Product.title, Product.vendor, Product.product_type)
        .join(
            Product,
            (Product.shop_id == ProductVariant.shop_id)
            & (Product.shopify_id == ProductVariant.product_shopify_id),
        )
        .where(ProductVariant.shop_id == shop_id)
    ).all()
    stock = variant_stock(session, shop_id, [v for v, _, _, _ in rows])
    out = []
    for v, product_title, vendor, product_type in rows:
        title = product_title or ""
        if v.title and v.title != "Default Title":
            title = f"{title} – {v.title}"
        out.append(
            VariantInfo(
                v.shopify_id,
                v.product_shopify_id,
                title[:512],
                v.sku,
                vendor or "",
                v.inventory_item_id,
                stock.get(v.shopify_id),
                (product_type or "").strip().lower(),
            )
        )
    return out


def daily_units(session: Session, shop_id: int, start: date, end: date) -> dict[int, np.ndarray]:
    """Variant id → units ordered on each day ``start`` .. ``end`` - 1 (UTC days)."""
    width = (end - start).days
    rows = session.exec(
        select(
            func.coalesce(Order.processed_at, Order.shopify_created_at),
            OrderLine.variant_shopify_id,
            OrderLine.quantity,
        )
        .join(
            OrderLine, (OrderLine.shop_id == Order.shop_id) & (OrderLine.order_shopify_id == Order.shopify_id)
        )
        .where(
            Order.shop_id == shop_id,
            Order.cancelled_at.is_(None),  # type: ignore[union-attr]
            Order.test.is_(False),  # type: ignore[attr-defined]
            OrderLine.variant_shopify_id.is_not(None),  # type: ignore[union-attr]
            OrderLine.quantity > 0,
        )
    ).all()
    out: dict[int, np.ndarray] = {}
    for at, variant, qty in rows:
        if at is None:
            continue
        k = (at.date() - start).days
        if 0 <= k < width:
            out.setdefault(int(variant), np.zeros(width))[k] += qty
    return out


def stock_by_location(
    session: Session, shop_id: int, items: Iterable[int], start: date, end: date
) -> dict[tuple[int, int], np.ndarray]:
    """(inventory item, location) → its stock at the end of each day ``start`` .. ``end`` - 1 (carried forward
    from the last recorded change, ``NaN`` before the first)."""
    items = sorted(set(items))
    width = (end - start).days
    per_location: dict[tuple[int, int], np.ndarray] = {}
    if not items:
        return per_location
    rows = session.exec(
        select(
            InventoryDay.inventory_item_id, InventoryDay.location_id, InventoryDay.day, InventoryDay.available
        )
        .where(
            InventoryDay.shop_id == shop_id, InventoryDay.inventory_item_id.in_(items), InventoryDay.day < end
        )  # type: ignore[attr-defined]
        .order_by(InventoryDay.day)
    ).all()
    for item, location, day, available in rows:
        series = per_location.setdefault((item, location), np.full(width, np.nan))
        series[max((day - start).days, 0) :] = available
    return per_location


def stock_by_day(
    session: Session, shop_id: int, items: Iterable[int], start: date, end: date
) -> dict[int, np.ndarray]:
    """Inventory item → its stock summed over locations at the end of each day (carried forward from the last
    recorded change, ``NaN`` before the first)."""
    out: dict[int, np.ndarray] = {}
    for (item, _), series in stock_by_location(session, shop_id, items, start, end).items():
        total = out.get(item)
        out[item] = (
            series if total is None else np.where(np.isnan(total), series, total + np.nan_to_num(series))
        )
    return out


def location_levels(session: Session, shop_id: int, items: Iterable[int]) -> dict[int, dict[int, int]]:
    """Inventory item → location → units available now (the version-guarded mirror of inventory levels)."""
    items = sorted(set(items))
    out: dict[int, dict[int, int]] = {}
    if not items:
        return out
    for item, location, available in session.exec(
        select(InventoryLevel.inventory_item_id, InventoryLevel.location_id, InventoryLevel.available).where(
            InventoryLevel.shop_id == shop_id,
            InventoryLevel.inventory_item_id.in_(items),  # type: ignore[attr-defined]
        )
    ).all():
        out.setdefault(int(item), {})[int(location)] = int(available or 0)
    return out


def policies(session: Session, shop_id: int) -> dict[str, InventorySetting]:
    """Vendor ('' = the shop's default) → the merchant's lead time, review period and service level."""
    rows = session.exec(select(InventorySetting).where(InventorySetting.shop_id == shop_id)).all()
    return {r.vendor: r for r in rows}


def save_setting(
    session: Session, shop_id: int, vendor: str, lead_time_days: int, review_days: int, service_level: float
) -> InventorySetting:
    row = session.exec(
        select(InventorySetting).where(InventorySetting.shop_id == shop_id, InventorySetting.vendor == vendor)
    ).first() or InventorySetting(shop_id=shop_id, vendor=vendor)
    row.lead_time_days, row.review_days, row.service_level = lead_time_days, review_days, service_level
    session.add(row)
    return row


def replace_forecasts(session: Session, shop_id: int, rows: Iterable[DemandForecast]) -> int:
    """Rewrite the shop's demand forecasts (no commit). Returns how many are stored."""
    session.exec(delete(DemandForecast).where(DemandForecast.shop_id == shop_id))  # type: ignore[call-overload]
    rows = [r for r in rows if r.shop_id == shop_id]
    session.add_all(rows)
    return len(rows)


def forecasts(session: Session, shop_id: int, vendor: str | None = None) -> list[DemandForecast]:
    """The shop's forecasts (of one vendor), alerts first, then the soonest stock-out."""
    query = select(DemandForecast).where(DemandForecast.shop_id == shop_id)
    if vendor is not None:
        query = query.where(DemandForecast.vendor == vendor)
    rows = session.exec(query).all()
    return sorted(rows, key=lambda r: (not r.alert, r.days_of_cover, r.variant_shopify_id))


def selling_out(session: Session, shop_id: int, variant_ids: Iterable[int]) -> set[int]:
    """Variants in stock that the latest forecast says sell out before a restock ordered today could arrive
    (days of cover below the vendor's lead time): not worth promoting."""
    ids = sorted({int(v) for v in variant_ids})
    if not ids:
        return set()
    rows = session.exec(
        select(DemandForecast.variant_shopify_id).where(
            DemandForecast.shop_id == shop_id,
            DemandForecast.variant_shopify_id.in_(ids),  # type: ignore[attr-defined]
            DemandForecast.on_hand > 0,
            DemandForecast.days_of_cover < DemandForecast.lead_time_days,
        )
    ).all()
    return set(rows)


def alerting_variants(session: Session, shop_id: int) -> set[int]:
    return set(
        session.exec(
            select(DemandForecast.variant_shopify_id).where(
                DemandForecast.shop_id == shop_id,
                DemandForecast.alert.is_(True),  # type: ignore[attr-defined]
            )
        ).all()
    )
