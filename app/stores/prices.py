"""What price suggestions and price changes read and write for one shop: each variant's facts (price,
compare-at, unit cost, stock, 30 days' sales, the inventory agent's forecast rate, last change, price history),
the price history (appended when a product webhook or an applied change shows a new price) and the change log.
No commits; scoped by shop."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from app.agents.price_suggestions import PriceRules, VariantFacts, parse_rules
from app.models.base import utcnow
from app.models.commerce import Order, OrderLine, Product, ProductVariant
from app.models.inventory import DemandForecast
from app.models.pricing import PriceChange, PriceHistory, PricingSettings
from app.stores.competitors import record_barcodes
from app.stores.price_response import price_responses
from app.stores.pricing import save_unit_costs, unit_costs

HISTORY_DAYS = 60
FORECAST_FRESH = timedelta(days=8)  # the inventory agent forecasts nightly; older ones are not current


def load_rules(session: Session, shop_id: int) -> PriceRules:
    """The price rules, with the offers' ``default_cost_share`` (one merchant default for a missing unit cost)."""
    row = session.exec(select(PricingSettings).where(PricingSettings.shop_id == shop_id)).first()
    rules = parse_rules((row.settings or {}).get("prices") if row else None)
    share = (row.settings or {}).get("default_cost_share") if row else None
    if isinstance(share, int | float) and not isinstance(share, bool) and 0 <= share < 1:
        rules = replace(rules, default_cost_share=float(share))
    return rules


def record_prices(
    session: Session, shop_id: int, variant_ids: Iterable[int] | None = None, at: datetime | None = None
) -> int:
    """Append a history row for every variant whose price or compare-at price differs from its last one."""
    query = select(ProductVariant).where(ProductVariant.shop_id == shop_id)
    if variant_ids is not None:
        query = query.where(ProductVariant.shopify_id.in_(sorted(set(variant_ids))))  # type: ignore[attr-defined]
    added = 0
    for v in session.exec(query).all():
        last = session.exec(
            select(PriceHistory)
            .where(PriceHistory.shop_id == shop_id, PriceHistory.variant_id == v.shopify_id)
            .order_by(PriceHistory.observed_at.desc(), PriceHistory.id.desc())  # type: ignore[attr-defined]
        ).first()
        if last is None or (last.price, last.compare_at_price) != (v.price, v.compare_at_price):
            when = at or v.shopify_updated_at or utcnow()
            session.add(PriceHistory(shop_id=shop_id, variant_id=v.shopify_id, price=v.price,
                                     compare_at_price=v.compare_at_price, observed_at=when))  # fmt: skip
            added += 1
    return added


def variant_facts(
    session: Session,
    shop_id: int,
    now: datetime,
    variant_ids: Iterable[int] | None = None,
    *,
    with_response: bool = False,
) -> list[VariantFacts]:
    """Each variant's facts; ``with_response`` adds its price response (the suggestions size their steps by it;
    the guardrails do not need it)."""
    query = (
        select(ProductVariant, Product.title, Product.product_type)
        .join(
            Product,
            (Product.shop_id == ProductVariant.shop_id)
            & (Product.shopify_id == ProductVariant.product_shopify_id),
        )
        .where(ProductVariant.shop_id == shop_id, Product.deleted_at.is_(None))
    )  # type: ignore[union-attr]
    if variant_ids is not None:
        query = query.where(ProductVariant.shopify_id.in_(sorted(set(variant_ids))))  # type: ignore[attr-defined]
    rows = session.exec(query).all()
    ids = [v.shopify_id for v, _, _ in rows]
    if not ids:
        return []
    costs = unit_costs(session, shop_id, ids)
    placed = func.coalesce(Order.processed_at, Order.shopify_created_at)
    sold = dict(
        session.exec(
            select(OrderLine.variant_shopify_id, func.sum(OrderLine.quantity))
            .join(
                Order, (Order.shop_id == OrderLine.shop_id) & (Order.shopify_id == OrderLine.order_shopify_id)
            )
            .where(
                OrderLine.shop_id == shop_id,
                OrderLine.variant_shopify_id.in_(ids),
                placed >= now - timedelta(days=30),  # type: ignore[union-attr]
                Order.cancelled_at.is_(None),
                Order.test == False,  # noqa: E712
            )
            .group_by(OrderLine.variant_shopify_id)
        ).all()
    )
    history: dict[int, list[tuple[datetime, float]]] = {}
    for vid, price, at in session.exec(
        select(PriceHistory.variant_id, PriceHistory.price, PriceHistory.observed_at)
        .where(
            PriceHistory.shop_id == shop_id,
            PriceHistory.variant_id.in_(ids),  # type: ignore[attr-defined]
            PriceHistory.observed_at >= now - timedelta(days=HISTORY_DAYS),
        )
        .order_by(PriceHistory.observed_at)
    ).all():
        if price is not None:
            history.setdefault(int(vid), []).append((at, float(price)))
    last_change = dict(
        session.exec(
            select(PriceChange.variant_id, func.max(PriceChange.applied_at))
            .where(
                PriceChange.shop_id == shop_id,
                PriceChange.status == "applied",
                PriceChange.variant_id.in_(ids),
            )  # type: ignore[attr-defined]
            .group_by(PriceChange.variant_id)
        ).all()
    )
    responses = price_responses(session, shop_id, now) if with_response else {}
    forecast = forecast_rates(session, shop_id, ids, now)
    return [
        VariantFacts(
            variant_id=v.shopify_id,
            product_id=v.product_shopify_id,
            title=f"{title or ''} {v.title or ''}".strip(),
            price=float(v.price or 0),
            compare_at=float(v.compare_at_price) if v.compare_at_price else None,
            unit_cost=costs.get(v.shopify_id),
            stock=v.inventory_quantity,
            sold_30d=int(sold.get(v.shopify_id) or 0),
            last_change_at=last_change.get(v.shopify_id),
            history=tuple(history.get(v.shopify_id, ())),
            product_type=(ptype or "").strip().lower(),
            response=responses.get(v.shopify_id),
            forecast_weekly=forecast.get(v.shopify_id),
        )  # fmt: skip
        for v, title, ptype in rows
    ]


def forecast_rates(
    session: Session, shop_id: int, variant_ids: Sequence[int], now: datetime
) -> dict[int, float]:
    """The inventory agent's expected units per week per variant: its current forecasts (computed in the last
    ``FORECAST_FRESH``) that rest on the variant's own sales history or its product's."""
    rows = session.exec(
        select(DemandForecast.variant_shopify_id, DemandForecast.units_28d).where(
            DemandForecast.shop_id == shop_id,
            DemandForecast.variant_shopify_id.in_(sorted(set(variant_ids))),  # type: ignore[attr-defined]
            DemandForecast.basis != "none",
            DemandForecast.computed_at >= now - FORECAST_FRESH,
        )
    ).all()
    return {int(vid): max(float(units), 0.0) / 4 for vid, units in rows}


def log_change(session: Session, shop_id: int, **fields: object) -> PriceChange:
    row = PriceChange(shop_id=shop_id, **fields)  # type: ignore[arg-type]
    session.add(row)
    session.flush()
    return row


def changes(session: Session, shop_id: int, limit: int = 200) -> list[PriceChange]:
    return list(
        session.exec(
            select(PriceChange)
            .where(PriceChange.shop_id == shop_id)
            .order_by(PriceChange.created_at.desc(), PriceChange.id.desc())
            .limit(limit)  # type: ignore[attr-defined]
        ).all()
    )


def applied(session: Session, shop_id: int, change: PriceChange, at: datetime) -> None:
    """The change went through: the mirror's price and the history follow at once (the webhook that follows is
    idempotent)."""
    variant = session.exec(
        select(ProductVariant).where(
            ProductVariant.shop_id == shop_id, ProductVariant.shopify_id == change.variant_id
        )
    ).first()
    if variant is not None:
        variant.price = change.new_price
        variant.compare_at_price = change.compare_at_price
        session.add(variant)
        session.flush()
        record_prices(session, shop_id, [change.variant_id], at=at)
    change.status, change.applied_at = "applied", at
    session.add(change)


def as_decimal(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(f"{value:.2f}")


def _cost(value: object) -> Decimal | None:
    try:
        cost = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return cost if cost.is_finite() and 0 <= cost < 10**9 else None


def product_synced(session: Session, shop_id: int, variants: Sequence[Mapping[str, Any]]) -> None:
    """A bulk-synced product's variants (REST shape): a new price goes into the history, the barcode is kept for
    competitor matching, and ``unit_cost`` (``InventoryItem.unitCost``; null clears a cost the merchant removed)
    for the margin floor. A variant without the ``unit_cost`` key leaves its cost as it is."""
    ids = [int(v["id"]) for v in variants if isinstance(v.get("id"), int)]
    if not ids:
        return
    record_prices(session, shop_id, ids)
    record_barcodes(session, shop_id, variants)
    costs = {int(v["id"]): _cost(v["unit_cost"]) if v["unit_cost"] is not None else None
             for v in variants if isinstance(v.get("id"), int) and "unit_cost" in v}  # fmt: skip
    if costs:
        save_unit_costs(session, shop_id, costs)


def item_cost_changed(session: Session, shop_id: int, inventory_item_id: int, cost: object) -> int:
    """``inventory_items/update``: the item's ``cost`` for every variant stocked as that item; returns how many."""
    ids = [
        int(v)
        for v in session.exec(
            select(ProductVariant.shopify_id).where(
                ProductVariant.shop_id == shop_id, ProductVariant.inventory_item_id == inventory_item_id
            )
        ).all()
    ]
    if ids:
        value = None if cost is None or cost == "" else _cost(cost)
        if value is None and cost not in (None, ""):
            return 0  # not an amount: keep what is known
        save_unit_costs(session, shop_id, dict.fromkeys(ids, value))
    return len(ids)
