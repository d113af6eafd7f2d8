"""The explicit section: what the shopper did for certain (orders and lines, returns, carts, checkouts),
summarised from the mirrored commerce rows. Pure: plain records in, JSON-ready dict out."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

RECENT_ORDERS = 10
TOP_PRODUCTS = 20
HISTORY_DAYS = 400  # purchase days kept for lifetime value (the count and first day are always exact)
RECENT_LINES = 100  # purchased lines kept for price sensitivity and affinity


@dataclass(frozen=True)
class OrderLineRec:
    product_id: int | None
    variant_id: int | None
    title: str | None
    quantity: int
    price: float | None
    discount: float = 0.0
    vendor: str | None = None
    product_type: str | None = None
    compare_at_price: float | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class OrderRec:
    order_id: int
    name: str | None
    at: datetime | None
    currency: str | None
    total: float
    discounts: float
    cancelled: bool
    lines: list[OrderLineRec] = field(default_factory=list)


@dataclass(frozen=True)
class RefundRec:
    order_id: int
    at: datetime | None
    amount: float  # the money given back (successful refund transactions), 0 when not known yet
    quantity: int
    currency: str | None = None  # the currency of ``amount``; None: not said, taken as its order's


@dataclass(frozen=True)
class CartRec:
    token: str
    item_count: int
    total: float | None
    updated_at: datetime | None


@dataclass(frozen=True)
class CheckoutRec:
    token: str
    total: float | None
    completed: bool
    updated_at: datetime | None
    has_recovery_url: bool


def _iso(ts: datetime | None) -> str | None:
    return ts.isoformat() if ts else None


def _same_currency(a: str | None, b: str | None) -> bool:
    return a is None or b is None or a == b


@dataclass(frozen=True)
class Spend:
    """What a customer paid, in Shopify's terms, over their live orders (not cancelled; test orders never
    reach the records): each order's ``total_price`` (after discounts, shipping and taxes in, before
    returns; in the shop's currency) less the money its refunds gave back, never below 0. Refunds of a
    cancelled order, or of an order not here, count for nothing. Amounts in another currency than the
    shop's (the latest order's: a shop that changed currency) are not added."""

    currency: str | None
    net: dict[int, float]  # order id -> what the customer kept paying for, for the orders in ``currency``
    returned: float  # money given back on those orders

    @property
    def spent(self) -> float:
        return round(sum(self.net.values()), 2)

    @property
    def average_order_value(self) -> float | None:
        return round(self.spent / len(self.net), 2) if self.net else None


def live_orders(orders: list[OrderRec], now: datetime) -> list[OrderRec]:
    """The orders not cancelled, oldest first (an order without a time counts as placed ``now``)."""
    return sorted((o for o in orders if not o.cancelled), key=lambda o: (o.at or now, o.order_id))


def net_spend(live: list[OrderRec], refunds: list[RefundRec]) -> Spend:
    """``Spend`` of the live orders ``live`` (oldest first) given any refunds (others are ignored)."""
    currency = next((o.currency for o in reversed(live) if o.currency), None)
    kept = {o.order_id: o for o in live if _same_currency(o.currency, currency)}
    refunded: dict[int, float] = defaultdict(float)
    for r in refunds:
        order = kept.get(r.order_id)
        if order is not None and _same_currency(r.currency, order.currency):
            refunded[r.order_id] += r.amount
    net = {oid: round(max(o.total - refunded[oid], 0.0), 2) for oid, o in kept.items()}
    return Spend(currency, net, round(sum(refunded.values()), 2))


def summarize(
    orders: list[OrderRec],
    refunds: list[RefundRec],
    carts: list[CartRec],
    checkouts: list[CheckoutRec],
    now: datetime,
) -> dict[str, Any]:
    live = live_orders(orders, now)
    live_ids = {o.order_id for o in live}
    refunds = [r for r in refunds if r.order_id in live_ids]  # a cancelled order's refunds are no returns
    spend = net_spend(live, refunds)
    units: dict[int, dict[str, Any]] = {}
    vendors: dict[str, int] = defaultdict(int)
    types: dict[str, int] = defaultdict(int)
    discounted_units = compare_at_units = total_units = 0
    for order in live:
        for line in order.lines:
            total_units += line.quantity
            if line.discount > 0:
                discounted_units += line.quantity
            if line.compare_at_price and line.price and line.compare_at_price > line.price:
                compare_at_units += line.quantity
            if line.vendor:
                vendors[line.vendor] += line.quantity
            if line.product_type:
                types[line.product_type] += line.quantity
            if line.product_id is None:
                continue
            entry = units.setdefault(
                line.product_id, {"product_id": line.product_id, "title": line.title, "units": 0}
            )
            entry["units"] += line.quantity
    refunded_units = sum(r.quantity for r in refunds)
    open_carts = [c for c in carts if c.item_count > 0]
    abandoned = [c for c in checkouts if not c.completed]
    return {
        "orders": {
            "count": len(live),
            "cancelled": len(orders) - len(live),
            "spent": spend.spent,  # net of the money refunded
            "currency": spend.currency,
            "average_order_value": spend.average_order_value,
            "first_at": _iso(live[0].at) if live else None,
            "last_at": _iso(live[-1].at) if live else None,
            "with_discount": sum(1 for o in live if o.discounts > 0),
            "recent": [
                {
                    "id": o.order_id,
                    "name": o.name,
                    "at": _iso(o.at),
                    "total": o.total,
                    "discounts": o.discounts,
                    "items": sum(line.quantity for line in o.lines),
                }
                for o in reversed(live[-RECENT_ORDERS:])
            ],
        },
        "products": sorted(units.values(), key=lambda e: (-e["units"], e["product_id"]))[:TOP_PRODUCTS],
        "vendors": dict(sorted(vendors.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_PRODUCTS]),
        "product_types": dict(sorted(types.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_PRODUCTS]),
        "units": {
            "bought": total_units,
            "discounted": discounted_units,
            "compare_at": compare_at_units,
            "returned": refunded_units,
        },
        "returns": {
            "count": len(refunds),
            "amount": spend.returned,
            "rate": round(refunded_units / total_units, 4) if total_units else None,
        },
        "carts": [
            {"token": c.token, "items": c.item_count, "total": c.total, "updated_at": _iso(c.updated_at)}
            for c in sorted(open_carts, key=lambda c: (c.updated_at or now, c.token), reverse=True)[:5]
        ],
        "abandoned_checkouts": [
            {"total": c.total, "updated_at": _iso(c.updated_at), "recoverable": c.has_recovery_url}
            for c in sorted(abandoned, key=lambda c: (c.updated_at or now, c.token), reverse=True)[:5]
        ],
        "history": purchase_days(live, refunds, spend),
        "lines": recent_lines(live),
        # Reviews, support conversations and the wishlist are added by the refresh (app.profiles.feedback).
        "refreshed_at": now.isoformat(),
    }


def purchase_days(
    live: list[OrderRec], refunds: list[RefundRec], spend: Spend | None = None
) -> dict[str, Any]:
    """Purchase days with their spend net of refunds (fully refunded orders do not count), for CLV/RFM.
    ``live``: the live orders, oldest first; amounts as ``net_spend`` (``spend``, when already worked out)."""
    net_of = (spend or net_spend(live, refunds)).net
    per_day: dict[str, float] = defaultdict(float)
    orders = 0
    for order in live:
        net = net_of.get(order.order_id, 0.0)
        if order.at is None or net <= 0:
            continue
        orders += 1
        per_day[order.at.date().isoformat()] += net
    days = sorted(per_day.items())
    return {
        "orders": orders,
        "n_days": len(days),
        "first": days[0][0] if days else None,
        "net_spend": round(sum(v for _, v in days), 2),
        "days": [[d, round(v, 2)] for d, v in days[-HISTORY_DAYS:]],
    }


def recent_lines(live: list[OrderRec]) -> list[dict[str, Any]]:
    """The most recent purchased lines (newest last) with what price sensitivity and affinity need."""
    out = []
    for order in live:
        if order.at is None:
            continue
        for line in order.lines:
            out.append(
                {
                    "at": order.at.isoformat(),
                    "product_id": line.product_id,
                    "type": line.product_type,
                    "vendor": line.vendor,
                    "tags": list(line.tags[:10]),
                    "qty": line.quantity,
                    "price": line.price,
                    "discount": round(line.discount, 2),
                    "compare_at": line.compare_at_price,
                }
            )
    return out[-RECENT_LINES:]
