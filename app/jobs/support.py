"""Support conversations from the storefront assistant: load the facts a question needs, let the support agent
(``app.agents.support``) answer, and record both turns. No commits: the app proxy's request commits them and
then queues the shopper's profile refresh (``refresh_key`` names the profile).

The only customer whose orders are read is the one Shopify vouches for (the proxy's signed
``logged_in_customer_id``); anonymous visitors are known by their client id and never see order data.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from app.agents.support import OrderFacts, ProductFacts, answer, classify, clean_question
from app.models.base import utcnow
from app.models.commerce import Order, OrderLine
from app.models.feedback import SupportMessage

CONVERSATION_GAP = timedelta(minutes=30)  # a question after a longer pause starts a new conversation
HOURLY_LIMIT = 30  # questions per shopper per hour
PRODUCTS_SHOWN = 3

Search = Callable[[str, int], list[dict[str, Any]] | None]  # product cards, or None: search unavailable


class TooManyQuestions(RuntimeError):
    """The shopper asked HOURLY_LIMIT questions in the last hour."""


def _owner(shop_id: int, customer_id: int | None, client_id: str | None) -> Any:
    if customer_id:
        return (SupportMessage.shop_id == shop_id) & (SupportMessage.customer_shopify_id == customer_id)
    return (SupportMessage.shop_id == shop_id) & (SupportMessage.client_id == client_id)


def refresh_key(customer_id: int | None, client_id: str | None) -> str:
    return f"customer:{customer_id}" if customer_id else f"client:{client_id}"


def latest_order(session: Session, shop_id: int, customer_id: int) -> OrderFacts | None:
    """The customer's most recent (non-test) order in this shop."""
    order = session.exec(
        select(Order)
        .where(Order.shop_id == shop_id, Order.customer_shopify_id == customer_id, Order.test == False)  # noqa: E712
        .order_by(func.coalesce(Order.processed_at, Order.shopify_created_at).desc(), Order.shopify_id.desc())
        .limit(1)
    ).first()
    if order is None:
        return None
    items = session.exec(
        select(func.coalesce(func.sum(OrderLine.quantity), 0)).where(
            OrderLine.shop_id == shop_id, OrderLine.order_shopify_id == order.shopify_id
        )
    ).one()
    return OrderFacts(
        name=order.name or f"#{order.shopify_id}",
        placed_at=order.processed_at or order.shopify_created_at,
        financial_status=order.financial_status,
        fulfillment_status=order.fulfillment_status,
        cancelled=order.cancelled_at is not None,
        items=int(items or 0),
    )


def _conversation(session: Session, owner: Any, now: datetime) -> str:
    last = session.exec(
        select(SupportMessage.conversation, SupportMessage.created_at)
        .where(owner)
        .order_by(SupportMessage.created_at.desc(), SupportMessage.id.desc())  # type: ignore[union-attr]
        .limit(1)
    ).first()
    if last is not None and now - last[1] < CONVERSATION_GAP:
        return last[0]
    return uuid.uuid4().hex[:16]


def ask(
    session: Session,
    shop_id: int,
    question: str,
    *,
    customer_id: int | None,
    client_id: str | None,
    search: Search | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Answer one question and record it (shopper turn, then the assistant's). Raises ValueError for an empty
    question and TooManyQuestions past the hourly limit."""
    if not customer_id and not client_id:
        raise ValueError("a signed-in customer or a client id is required")
    text = clean_question(question)
    if not text:
        raise ValueError("question is empty")
    now = now or utcnow()
    owner = _owner(shop_id, customer_id, client_id)
    recent = session.exec(
        select(func.count())
        .select_from(SupportMessage)
        .where(owner, SupportMessage.role == "shopper", SupportMessage.created_at > now - timedelta(hours=1))
    ).one()
    if recent >= HOURLY_LIMIT:
        raise TooManyQuestions(f"at most {HOURLY_LIMIT} questions an hour")

    topic = classify(text)
    order = latest_order(session, shop_id, customer_id) if customer_id and topic != "product" else None
    products: list[ProductFacts] | None = None
    cards: list[dict[str, Any]] = []
    if topic == "product":
        found = search(text, PRODUCTS_SHOWN) if search else None
        if found is not None:
            cards = found[:PRODUCTS_SHOWN]
            products = [
                ProductFacts(c["product_id"], c["title"], c["url"], c.get("price"), c.get("currency"))
                for c in cards
            ]
    reply = answer(text, signed_in=bool(customer_id), order=order, products=products, topic=topic)

    conversation = _conversation(session, owner, now)
    who = {"shop_id": shop_id, "conversation": conversation, "customer_shopify_id": customer_id or None}
    who["client_id"] = client_id or None
    session.add(SupportMessage(**who, role="shopper", topic=topic, text=text, created_at=now))
    session.add(
        SupportMessage(
            **who,
            role="assistant",
            topic=topic,
            text=reply.text,
            escalated=reply.escalated,
            created_at=now + timedelta(microseconds=1),
        )
    )
    session.flush()
    return {
        "conversation": conversation,
        "topic": reply.topic,
        "answer": reply.text,
        "escalated": reply.escalated,
        "reason": reply.reason,
        "order": reply.order,
        "products": cards if reply.products else [],
    }
