"""The admin's reads of the action layer: every decision with its outbox row (the Activity feed), decisions per
day by action (its chart), and one customer's whole conversation thread. Every query is scoped by shop.
No commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, func, or_
from sqlmodel import Session, select

from app.models.commerce import Customer
from app.models.messaging import ConversationMessage, MessageDecision, OutboxMessage

THREAD_LIMIT = 200


@dataclass(frozen=True)
class FeedFilter:
    agent: str | None = None
    action: str | None = None
    channel: str | None = None
    since: datetime | None = None  # decided at or after
    until: datetime | None = None  # decided before


def _where(shop_id: int, f: FeedFilter) -> list[Any]:
    clauses: list[Any] = [MessageDecision.shop_id == shop_id]
    if f.agent:
        clauses.append(MessageDecision.agent == f.agent)
    if f.action:
        clauses.append(MessageDecision.action == f.action)
    if f.channel:
        clauses.append(MessageDecision.channel == f.channel)
    if f.since:
        clauses.append(MessageDecision.decided_at >= f.since)
    if f.until:
        clauses.append(MessageDecision.decided_at < f.until)
    return clauses


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _outbox(row: OutboxMessage | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "id": row.id,
        "status": row.status,
        "send_at": _iso(row.send_at),
        "sent_at": _iso(row.sent_at),
        "provider_id": row.provider_id,
        "error": row.last_error,
        "attempts": row.attempts,
        "delivery_status": row.delivery_status,
        "delivery_error": row.delivery_error,
    }


def customer_names(session: Session, shop_id: int, ids: Sequence[int]) -> dict[int, str]:
    """A display name per customer id: the full name, else the e-mail address, else the phone number."""
    if not ids:
        return {}
    out: dict[int, str] = {}
    for c in session.exec(
        select(Customer).where(Customer.shop_id == shop_id, Customer.shopify_id.in_(sorted(set(ids))))
    ).all():
        name = " ".join(p for p in (c.first_name, c.last_name) if p)
        out[c.shopify_id] = name or c.email or c.phone or f"Customer {c.shopify_id}"
    return out


def feed(
    session: Session, shop_id: int, f: FeedFilter, *, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """One page of decisions, newest first, each with its outbox row (when it made one); and how many match."""
    where = _where(shop_id, f)
    total = session.exec(select(func.count()).select_from(MessageDecision).where(*where)).one()
    rows = session.exec(
        select(MessageDecision, OutboxMessage)
        .join(
            OutboxMessage,
            and_(OutboxMessage.decision_id == MessageDecision.id, OutboxMessage.shop_id == shop_id),
            isouter=True,
        )
        .where(*where)
        .order_by(MessageDecision.decided_at.desc(), MessageDecision.id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    names = customer_names(
        session, shop_id, [d.customer_shopify_id for d, _ in rows if d.customer_shopify_id]
    )
    items = [
        {
            "id": d.id,
            "decided_at": _iso(d.decided_at),
            "agent": d.agent,
            "action": d.action,
            "arm": d.arm,
            "purpose": d.purpose,
            "channel": d.channel,
            "reason": d.reason,
            "proposal_reason": d.proposal_reason,
            "send_at": _iso(d.send_at),
            "shopper": {
                "key": d.shopper_key,
                "customer_id": str(d.customer_shopify_id) if d.customer_shopify_id else None,
                "client_id": d.client_id,
                "name": names.get(d.customer_shopify_id or 0),
            },
            "outbox": _outbox(o),
        }
        for d, o in rows
    ]
    return items, int(total)


def facets(session: Session, shop_id: int) -> dict[str, list[str]]:
    """The agents and channels the shop's decisions name (the feed's filter choices)."""
    agents = session.exec(
        select(MessageDecision.agent).where(MessageDecision.shop_id == shop_id).distinct()
    ).all()
    channels = session.exec(
        select(MessageDecision.channel)
        .where(MessageDecision.shop_id == shop_id, MessageDecision.channel.is_not(None))
        .distinct()
    ).all()
    return {"agents": sorted(agents), "channels": sorted(c for c in channels if c)}


def daily_counts(session: Session, shop_id: int, f: FeedFilter) -> dict[date, dict[str, int]]:
    """Decisions per UTC day and action, within the filter's dates."""
    column = MessageDecision.decided_at
    if session.get_bind().dialect.name == "postgresql":
        day = func.date(func.timezone("UTC", column))
    else:
        day = func.date(column)
    out: dict[date, dict[str, int]] = {}
    for d, action, n in session.exec(
        select(day, MessageDecision.action, func.count())
        .where(*_where(shop_id, f))
        .group_by(day, MessageDecision.action)
    ).all():
        key = d if isinstance(d, date) else date.fromisoformat(str(d))
        out.setdefault(key, {})[action] = int(n)
    return out


def customer_thread(session: Session, shop_id: int, customer_id: int) -> list[dict[str, Any]]:
    """The customer's whole conversation (its latest ``THREAD_LIMIT`` messages), oldest first: in and out, on
    every channel, each outgoing one with its outbox row's outcome."""
    rows = session.exec(
        select(ConversationMessage, OutboxMessage)
        .join(
            OutboxMessage,
            and_(OutboxMessage.id == ConversationMessage.outbox_id, OutboxMessage.shop_id == shop_id),
            isouter=True,
        )
        .where(
            ConversationMessage.shop_id == shop_id,
            or_(
                ConversationMessage.customer_shopify_id == customer_id,
                ConversationMessage.shopper_key == f"customer:{customer_id}",
            ),
        )
        .order_by(ConversationMessage.created_at.desc(), ConversationMessage.id.desc())
        .limit(THREAD_LIMIT)
    ).all()
    return [
        {
            "id": m.id,
            "at": _iso(m.created_at),
            "direction": m.direction,
            "agent": m.agent,
            "channel": m.channel,
            "reason": m.reason,
            "summary": m.summary,
            "status": m.status,
            "provider_id": m.provider_id,
            "outbox": _outbox(o),
        }
        for m, o in reversed(rows)
    ]


def customer_exists(session: Session, shop_id: int, customer_id: int) -> bool:
    return (
        session.exec(
            select(Customer.id).where(Customer.shop_id == shop_id, Customer.shopify_id == customer_id)
        ).first()
        is not None
    )
