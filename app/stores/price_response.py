"""Each variant's price response for one shop (``app.modelling.price_response``): the kept price history and the
units sold per day around each change, over ``RESPONSE_DAYS``, every variant shrunk toward its product type.
Reads only; scoped by shop. Sales are read only for variants whose price changed."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from app.modelling.price_response import Estimate, Response, change_windows, estimate, shrink
from app.models.commerce import Order, OrderLine, Product, ProductVariant
from app.models.pricing import PriceHistory

RESPONSE_DAYS = 365


def _aware(at: datetime, like: datetime) -> datetime:
    return at.replace(tzinfo=like.tzinfo) if at.tzinfo is None and like.tzinfo is not None else at


def price_responses(session: Session, shop_id: int, now: datetime) -> dict[int, Response]:
    since = now - timedelta(days=RESPONSE_DAYS)
    types = {
        int(vid): (ptype or "").strip().lower()
        for vid, ptype in session.exec(
            select(ProductVariant.shopify_id, Product.product_type)
            .join(
                Product,
                (Product.shop_id == ProductVariant.shop_id)
                & (Product.shopify_id == ProductVariant.product_shopify_id),
            )
            .where(ProductVariant.shop_id == shop_id, Product.deleted_at.is_(None))  # type: ignore[union-attr]
        ).all()
    }
    history: dict[int, list[tuple[datetime, float]]] = defaultdict(list)
    for vid, price, at in session.exec(
        select(PriceHistory.variant_id, PriceHistory.price, PriceHistory.observed_at)
        .where(PriceHistory.shop_id == shop_id, PriceHistory.observed_at <= now)
        .order_by(PriceHistory.observed_at, PriceHistory.id)  # type: ignore[arg-type]
    ).all():
        if price is not None and int(vid) in types:
            at = _aware(at, now)
            points = history[int(vid)]
            if points and at < since:
                points.clear()  # only the price in force at the window's start matters
            if not points or abs(points[-1][1] - float(price)) >= 0.005:
                points.append((max(at, since), float(price)))
    changed = sorted(v for v, points in history.items() if len(points) > 1)
    units: dict[int, dict[date, float]] = defaultdict(lambda: defaultdict(float))
    if changed:
        placed = func.coalesce(Order.processed_at, Order.shopify_created_at)
        for vid, at, qty in session.exec(
            select(OrderLine.variant_shopify_id, placed, OrderLine.quantity)
            .join(
                Order, (Order.shop_id == OrderLine.shop_id) & (Order.shopify_id == OrderLine.order_shopify_id)
            )
            .where(
                OrderLine.shop_id == shop_id,
                OrderLine.variant_shopify_id.in_(changed),  # type: ignore[union-attr]
                placed >= since,  # type: ignore[operator]
                Order.cancelled_at.is_(None),  # type: ignore[union-attr]
                Order.test == False,  # noqa: E712
            )
        ).all():
            if at is not None:
                units[int(vid)][_aware(at, now).date()] += float(qty or 0)
    own: dict[int, Estimate | None] = {
        vid: estimate(change_windows(history[vid], units.get(vid, {}), now)) for vid in changed
    }
    return shrink(own, types)
