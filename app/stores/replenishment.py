"""Load a shop's purchase history for the replenishment model and keep its forecasts (``replenishment_forecast``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import or_
from sqlmodel import Session, delete, func, select

from app.catalog.stock import variant_availability
from app.measurement.replenishment import Reminder
from app.models.commerce import Order, OrderLine, ProductVariant
from app.models.messaging import MessageDecision
from app.models.replenishment import ReplenishmentForecast
from app.recommend.pack_sizes import pack_factors
from app.recommend.replenishment import reorder_reason
from app.recommend.transactions import PurchaseLines
from app.stores.ranker import purchase_lines


def history(session: Session, shop_id: int) -> PurchaseLines:
    """The shop's order lines of known customers (a guest order has no rhythm), returns as negative lines;
    cancelled and test orders are not in it (``app.stores.ranker.purchase_lines``). Quantities are counted in
    each product's smallest variant where its variants differ in size (``app.recommend.pack_sizes``)."""
    lines = purchase_lines(session, shop_id)
    known = ~np.char.startswith(lines.customers.astype(str), "order:")
    scale = order_pack_factors(session, shop_id)
    quantities = lines.quantities.astype(float)
    if scale:  # a return counts at the size its order bought ("refund:<order>" rows)
        quantities *= np.array(
            [
                scale.get((str(o).removeprefix("refund:"), str(p)), 1.0)
                for o, p in zip(lines.orders, lines.products, strict=True)
            ],
            float,
        )
    return PurchaseLines(
        lines.customers[known],
        lines.orders[known],
        lines.days[known],
        lines.products[known],
        quantities[known],
        None if lines.titles is None else lines.titles[known],
        None if lines.types is None else lines.types[known],
    )


def variant_pack_factors(
    session: Session, shop_id: int, product_ids: Iterable[int] | None = None
) -> dict[int, float]:
    """Variant → how many of its product's smallest variant it holds (``app.recommend.pack_sizes``)."""
    query = select(ProductVariant.shopify_id, ProductVariant.product_shopify_id, ProductVariant.title).where(
        ProductVariant.shop_id == shop_id
    )
    if product_ids is not None:
        query = query.where(ProductVariant.product_shopify_id.in_(sorted(set(product_ids))))  # type: ignore[attr-defined]
    return pack_factors((int(v), int(p), t) for v, p, t in session.exec(query).all())


def order_pack_factors(session: Session, shop_id: int) -> dict[tuple[str, str], float]:
    """(order, product) → the size of what was bought per unit, in the product's smallest variant (1.0 where the
    product's variants do not differ in size), weighted by quantity when one order holds several variants."""
    factors = {v: f for v, f in variant_pack_factors(session, shop_id).items() if f != 1.0}
    if not factors:
        return {}
    units: dict[tuple[int, int], list[float]] = {}
    for order, product, variant, qty in session.exec(
        select(
            OrderLine.order_shopify_id,
            OrderLine.product_shopify_id,
            OrderLine.variant_shopify_id,
            OrderLine.quantity,
        ).where(
            OrderLine.shop_id == shop_id,
            OrderLine.quantity > 0,
            OrderLine.variant_shopify_id.in_(sorted(factors)),  # type: ignore[union-attr]
        )
    ).all():
        acc = units.setdefault((int(order), int(product)), [0.0, 0.0])
        acc[0] += qty * factors.get(int(variant), 1.0)
        acc[1] += qty
    # lines of other variants of the same order and product count at 1.0: add them to the weights
    if units:
        for order, product, qty in session.exec(
            select(OrderLine.order_shopify_id, OrderLine.product_shopify_id, OrderLine.quantity).where(
                OrderLine.shop_id == shop_id,
                OrderLine.quantity > 0,
                OrderLine.order_shopify_id.in_(sorted({o for o, _ in units})),  # type: ignore[attr-defined]
                or_(
                    OrderLine.variant_shopify_id.is_(None),  # type: ignore[union-attr]
                    OrderLine.variant_shopify_id.not_in(sorted(factors)),  # type: ignore[union-attr]
                ),
            )
        ).all():
            if (key := (int(order), int(product or 0))) in units:
                units[key][0] += qty
                units[key][1] += qty
    return {(str(o), str(p)): u / n for (o, p), (u, n) in units.items() if n}


def replace_forecasts(session: Session, shop_id: int, rows: Iterable[ReplenishmentForecast]) -> int:
    """Rewrite the shop's forecasts (no commit). Returns how many are stored."""
    session.exec(delete(ReplenishmentForecast).where(ReplenishmentForecast.shop_id == shop_id))  # type: ignore[call-overload]
    rows = [r for r in rows if r.shop_id == shop_id]
    session.add_all(rows)
    return len(rows)


def customer_forecasts(
    session: Session, shop_id: int, customer_id: int, *, consumable_only: bool = True
) -> list[ReplenishmentForecast]:
    """One customer's forecasts, the most due first (P(buy within 14 days), then the due date)."""
    query = select(ReplenishmentForecast).where(
        ReplenishmentForecast.shop_id == shop_id, ReplenishmentForecast.customer_shopify_id == customer_id
    )
    if consumable_only:
        query = query.where(ReplenishmentForecast.consumable.is_(True))  # type: ignore[attr-defined]
    rows = session.exec(query).all()
    return sorted(rows, key=lambda r: (-r.p_within_14d, r.due_at))


def computed_at(session: Session, shop_id: int) -> datetime | None:
    return session.exec(
        select(ReplenishmentForecast.computed_at).where(ReplenishmentForecast.shop_id == shop_id).limit(1)
    ).first()


def due_forecasts(session: Session, shop_id: int, until: datetime) -> list[ReplenishmentForecast]:
    """The shop's consumable forecasts of shoppers still buying whose due date is at or before ``until``."""
    return list(
        session.exec(
            select(ReplenishmentForecast)
            .where(
                ReplenishmentForecast.shop_id == shop_id,
                ReplenishmentForecast.consumable.is_(True),  # type: ignore[attr-defined]
                ReplenishmentForecast.status != "stopped",
                ReplenishmentForecast.due_at <= until,
            )
            .order_by(ReplenishmentForecast.customer_shopify_id, ReplenishmentForecast.due_at)
        ).all()
    )


def _rhythmic(session: Session, shop_id: int, customer_ids: list[int] | None) -> list[ReplenishmentForecast]:
    """The forecasts of consumables that shoppers buy on a rhythm of their own and have not stopped buying."""
    query = select(ReplenishmentForecast).where(
        ReplenishmentForecast.shop_id == shop_id,
        ReplenishmentForecast.consumable.is_(True),  # type: ignore[attr-defined]
        ReplenishmentForecast.status != "stopped",
        ReplenishmentForecast.basis == "personal",
    )
    if customer_ids is not None:
        query = query.where(ReplenishmentForecast.customer_shopify_id.in_(customer_ids))  # type: ignore[attr-defined]
    return list(session.exec(query).all())


def next_due_dates(session: Session, shop_id: int, customer_ids: list[int] | None = None) -> dict[int, str]:
    """Customer → the earliest due date (ISO) of their rhythmic consumables: the ``next_replenishment_due``
    customer metafield."""
    out: dict[int, str] = {}
    for f in _rhythmic(session, shop_id, customer_ids):
        day = f.due_at.date().isoformat()
        if f.customer_shopify_id not in out or day < out[f.customer_shopify_id]:
            out[int(f.customer_shopify_id)] = day
    return out


def buy_again_due(
    session: Session, shop_id: int, now: datetime, customer_ids: list[int] | None = None
) -> dict[int, dict[str, tuple[float, str]]]:
    """Customer → product → (P(rebuy within 14 days), reason) for their rhythmic consumables: what orders "Buy it
    again" by how due each item is."""
    out: dict[int, dict[str, tuple[float, str]]] = {}
    for f in _rhythmic(session, shop_id, customer_ids):
        why = reorder_reason(f.cycle_days, (now - f.last_purchase_at).days)
        out.setdefault(int(f.customer_shopify_id), {})[str(f.product_shopify_id)] = (f.p_within_14d, why)
    return out


def _bought(shop_id: int, customer_ids: list[int], *columns: Any) -> Any:
    """``columns`` of the customers' purchased order lines of products (no cancelled or test orders)."""
    return (
        select(*columns)
        .join(
            OrderLine, (OrderLine.shop_id == Order.shop_id) & (OrderLine.order_shopify_id == Order.shopify_id)
        )
        .where(
            Order.shop_id == shop_id,
            Order.customer_shopify_id.in_(customer_ids),  # type: ignore[union-attr]
            Order.cancelled_at.is_(None),  # type: ignore[union-attr]
            Order.test.is_(False),  # type: ignore[attr-defined]
            OrderLine.quantity > 0,
            OrderLine.product_shopify_id.is_not(None),  # type: ignore[union-attr]
        )
    )


def usual_variants(
    session: Session, shop_id: int, customer_ids: list[int], product_ids: list[int]
) -> dict[tuple[int, int], tuple[int, bool]]:
    """(customer, product) → (the variant the customer bought last, whether it can be sold now): what a reorder
    puts in the cart. Cancelled and test orders are not counted."""
    if not customer_ids or not product_ids:
        return {}
    rows = session.exec(
        _bought(shop_id, customer_ids, Order.customer_shopify_id, OrderLine.product_shopify_id,
                OrderLine.variant_shopify_id)
        .where(
            OrderLine.product_shopify_id.in_(product_ids),  # type: ignore[union-attr]
            OrderLine.variant_shopify_id.is_not(None),  # type: ignore[union-attr]
        )
        .order_by(Order.processed_at, Order.shopify_id)
    ).all()  # fmt: skip
    last = {(int(c), int(p)): int(v) for c, p, v in rows}  # the latest order wins
    variants = session.exec(
        select(ProductVariant).where(
            ProductVariant.shop_id == shop_id,
            ProductVariant.shopify_id.in_(sorted(set(last.values()))),  # type: ignore[attr-defined]
        )
    ).all()
    sellable = variant_availability(session, shop_id, variants)
    return {pair: (v, sellable.get(v, False)) for pair, v in last.items()}


def reminders(session: Session, shop_id: int, since: datetime) -> list[Reminder]:
    """The replenishment agent's reminder decisions since ``since`` (both arms; the Flow triggers beside them are
    not counted twice): who, when, which product and its due date (from the decision's dedupe key)."""
    out = []
    for cid, arm, at, key in session.exec(
        select(
            MessageDecision.customer_shopify_id,
            MessageDecision.arm,
            MessageDecision.decided_at,
            MessageDecision.dedupe_key,
        ).where(
            MessageDecision.shop_id == shop_id,
            MessageDecision.agent == "replenishment",
            MessageDecision.customer_shopify_id.is_not(None),  # type: ignore[union-attr]
            MessageDecision.dedupe_key.startswith("replenish:"),  # type: ignore[attr-defined]
            MessageDecision.decided_at >= since,
        )
    ).all():
        _, pid, due = key.split(":", 2)
        due_at = datetime.fromisoformat(due).replace(tzinfo=UTC)
        out.append(Reminder(int(cid), arm == "holdout", at, int(pid), due_at))
    return out


def product_purchases(
    session: Session, shop_id: int, customer_ids: list[int], since: datetime
) -> dict[int, list[tuple[datetime, int]]]:
    """Customer → (when, product) of their purchases since ``since`` (no cancelled or test orders)."""
    out: dict[int, list[tuple[datetime, int]]] = {}
    if not customer_ids:
        return out
    for cid, at, pid in session.exec(
        _bought(
            shop_id, customer_ids, Order.customer_shopify_id, Order.processed_at, OrderLine.product_shopify_id
        ).where(Order.processed_at >= since)  # type: ignore[operator]
    ).all():
        if at is not None:
            out.setdefault(int(cid), []).append((at, int(pid)))
    return out


SUBSCRIPTION_SOURCES = ("subscription_contract", "subscription_contract_checkout_one")  # Shopify's sourceName
COVER_CYCLES = 1.5  # a subscription order covers its pair this many cycles (a cancelled one stops renewing)
MIN_COVER_DAYS = 35


def subscription_coverage(
    session: Session, shop_id: int, pairs: dict[tuple[int, int], float], now: datetime
) -> tuple[set[tuple[int, int]], set[int]]:
    """(the (customer, product) pairs an active subscription covers, the products the shop sells on
    subscription). A subscription's renewal orders carry Shopify's ``sourceName`` ``subscription_contract``
    (``…_checkout_one`` since late 2025): a pair is covered while its latest such order is less than
    ``COVER_CYCLES`` of its cycle (``pairs``: days) old, at least ``MIN_COVER_DAYS``; once the renewals stop
    (cancelled, paused) the reminders resume. A product is sold on subscription when anyone's order of it did."""
    products = sorted({p for _, p in pairs})
    if not products:
        return set(), set()
    rows = session.exec(
        select(Order.customer_shopify_id, OrderLine.product_shopify_id, func.max(Order.processed_at))
        .join(
            OrderLine, (OrderLine.shop_id == Order.shop_id) & (OrderLine.order_shopify_id == Order.shopify_id)
        )
        .where(
            Order.shop_id == shop_id,
            Order.source_name.in_(SUBSCRIPTION_SOURCES),  # type: ignore[union-attr]
            Order.cancelled_at.is_(None),  # type: ignore[union-attr]
            Order.test.is_(False),  # type: ignore[attr-defined]
            OrderLine.quantity > 0,
            OrderLine.product_shopify_id.in_(products),  # type: ignore[union-attr]
        )
        .group_by(Order.customer_shopify_id, OrderLine.product_shopify_id)
    ).all()
    covered: set[tuple[int, int]] = set()
    sold = set()
    for customer, product, last in rows:
        sold.add(int(product))
        pair = (int(customer or 0), int(product))
        if last is None or pair not in pairs:
            continue
        last = last if last.tzinfo else last.replace(tzinfo=UTC)
        if (now - last).days < max(MIN_COVER_DAYS, COVER_CYCLES * pairs[pair]):
            covered.add(pair)
    return covered, sold
