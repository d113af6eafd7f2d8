"""The orders the support agent may speak of: the signed-in customer's latest, the one a visitor names with its
e-mail, the shipping policy's promise, and the shipped orders the late-order updates look at. No commits."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from app.agents.late_orders import ShippedOrder
from app.agents.support import OrderFacts
from app.knowledge.order_status import Shipment, delivery_promise
from app.models.commerce import Order, OrderLine
from app.models.feedback import SupportMessage
from app.models.knowledge import KnowledgePassage
from app.orchestrator.proposal import Shopper

SHIPPING_POLICY = "policy:SHIPPING_POLICY"  # the knowledge source of the shop's shipping policy


def latest_order(session: Session, shop_id: int, customer_id: int) -> OrderFacts | None:
    """The customer's most recent (non-test) order in this shop."""
    order = session.exec(
        select(Order)
        .where(Order.shop_id == shop_id, Order.customer_shopify_id == customer_id, Order.test == False)  # noqa: E712
        .order_by(func.coalesce(Order.processed_at, Order.shopify_created_at).desc(), Order.shopify_id.desc())
        .limit(1)
    ).first()
    return None if order is None else _facts(session, order, latest=True)


def _shipments(order: Order) -> tuple[Shipment, ...]:
    """The order's fulfilments as the agent reads them (``app.commerce.upserts.fulfillments`` stored them)."""
    return tuple(
        Shipment(
            company=f.get("tracking_company"),
            number=f.get("tracking_number"),
            url=f.get("tracking_url"),
            status=f.get("status"),
            shipment_status=f.get("shipment_status"),
            shipped_at=datetime.fromisoformat(f["created_at"]) if f.get("created_at") else None,
        )
        for f in order.fulfillments or []
        if isinstance(f, dict)
    )


def _facts(session: Session, order: Order, latest: bool) -> OrderFacts:
    items = session.exec(
        select(func.coalesce(func.sum(OrderLine.quantity), 0)).where(
            OrderLine.shop_id == order.shop_id, OrderLine.order_shopify_id == order.shopify_id
        )
    ).one()
    return OrderFacts(
        name=order.name or f"#{order.shopify_id}",
        placed_at=order.processed_at or order.shopify_created_at,
        financial_status=order.financial_status,
        fulfillment_status=order.fulfillment_status,
        cancelled=order.cancelled_at is not None,
        items=int(items or 0),
        status_url=order.status_url,
        shipments=_shipments(order),
        latest=latest,
    )


def find_order(session: Session, shop_id: int, number: str, email: str) -> OrderFacts | None:
    """The shop's order named ``#number`` (or with that id) placed with ``email``; None when there is none *or*
    the e-mail differs: the caller cannot tell which."""
    candidates = session.exec(
        select(Order).where(
            Order.shop_id == shop_id,
            Order.test == False,  # noqa: E712
            (Order.name == f"#{number}") | (Order.shopify_id == int(number)),
        )
    ).all()
    wanted = email.strip().lower()
    for order in candidates:
        if order.email and order.email.strip().lower() == wanted:
            return _facts(session, order, latest=False)
    return None


def anonymous_lookups(session: Session, shop_id: int, now: datetime) -> int:
    """Order questions from visitors who are not signed in, in this shop in the last hour."""
    return int(
        session.exec(
            select(func.count())
            .select_from(SupportMessage)
            .where(
                SupportMessage.shop_id == shop_id,
                SupportMessage.role == "shopper",
                SupportMessage.topic == "order_status",
                SupportMessage.customer_shopify_id.is_(None),  # type: ignore[union-attr]
                SupportMessage.created_at > now - timedelta(hours=1),
            )
        ).one()
    )


def shipping_promise(session: Session, shop_id: int) -> tuple[int, int] | None:
    """The delivery time the shop's shipping policy states, in calendar days (``delivery_promise``)."""
    texts = session.exec(
        select(KnowledgePassage.text)
        .where(KnowledgePassage.shop_id == shop_id, KnowledgePassage.source_key == SHIPPING_POLICY)
        .order_by(KnowledgePassage.position)
    ).all()
    return delivery_promise(" ".join(texts))


LATE_LOOKBACK = timedelta(days=45)


def shipped_orders(session: Session, shop_id: int, now: datetime) -> list[ShippedOrder]:
    """The shop's orders of known customers placed in the last ``LATE_LOOKBACK``, not cancelled, with a parcel
    on its way: what the late-order updates look at."""
    rows = session.exec(
        select(Order).where(
            Order.shop_id == shop_id,
            Order.customer_shopify_id.is_not(None),  # type: ignore[union-attr]
            Order.cancelled_at.is_(None),  # type: ignore[union-attr]
            Order.test == False,  # noqa: E712
            Order.processed_at >= now - LATE_LOOKBACK,  # type: ignore[operator]
            Order.fulfillments.is_not(None),  # type: ignore[union-attr]
        )
    ).all()
    out = []
    for order in rows:  # no per-order query: the update needs the parcels, not the items
        if shipments := _shipments(order):
            out.append(
                ShippedOrder(
                    order.shopify_id,
                    order.name or f"#{order.shopify_id}",
                    Shopper(customer_id=int(order.customer_shopify_id or 0)),
                    order.processed_at or order.shopify_created_at,
                    shipments,
                    order.status_url,
                )  # fmt: skip
            )
    return out
