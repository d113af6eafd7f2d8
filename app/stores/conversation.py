"""Each shopper's one conversation: every message in and out, on every channel, with agent, reason and status.
An outgoing message's entry follows its outbox row (queued → sent | unknown | failed | cancelled). No commits."""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import Session, select

from app.models.base import utcnow
from app.models.messaging import ConversationMessage, OutboxMessage

QUEUED = "queued"
SUMMARY_CHARS = 512


def summary_of(data: dict, template: str) -> str:
    """What the message is about, in a line: its subject when it has one, else the template's name."""
    subject = data.get("subject") if isinstance(data, dict) else None
    return (subject if isinstance(subject, str) and subject else template.replace("_", " "))[:SUMMARY_CHARS]


def record_outgoing(session: Session, message: OutboxMessage) -> ConversationMessage:
    entry = ConversationMessage(
        shop_id=message.shop_id,
        shopper_key=message.shopper_key,
        customer_shopify_id=message.customer_shopify_id,
        client_id=message.client_id,
        direction="out",
        agent=message.agent,
        channel=message.channel,
        reason=message.reason,
        summary=summary_of(message.data, message.template),
        status=QUEUED,
        outbox_id=message.id,
    )
    session.add(entry)
    return entry


def record_incoming(
    session: Session,
    shop_id: int,
    shopper_key: str,
    channel: str,
    text: str,
    *,
    customer_id: int | None = None,
    client_id: str | None = None,
    provider_id: str | None = None,
) -> ConversationMessage:
    """A shopper's message to the shop (a reply by SMS or e-mail, for example)."""
    entry = ConversationMessage(
        shop_id=shop_id,
        shopper_key=shopper_key,
        customer_shopify_id=customer_id,
        client_id=client_id,
        direction="in",
        channel=channel,
        summary=text[:SUMMARY_CHARS],
        status="received",
        provider_id=provider_id,
    )
    session.add(entry)
    return entry


def follow_outbox(
    session: Session, shop_id: int, outbox_id: int, status: str, provider_id: str | None
) -> None:
    """The thread's entry takes its outbox row's new status (and the provider's id)."""
    values: dict = {"status": status, "updated_at": utcnow()}
    if provider_id:
        values["provider_id"] = provider_id
    session.exec(
        update(ConversationMessage)
        .where(ConversationMessage.shop_id == shop_id, ConversationMessage.outbox_id == outbox_id)
        .values(**values)
    )


def thread(session: Session, shop_id: int, shopper_key: str, limit: int = 50) -> list[ConversationMessage]:
    """The shopper's most recent messages, oldest first."""
    rows = session.exec(
        select(ConversationMessage)
        .where(ConversationMessage.shop_id == shop_id, ConversationMessage.shopper_key == shopper_key)
        .order_by(ConversationMessage.created_at.desc(), ConversationMessage.id.desc())
        .limit(limit)
    ).all()
    return list(reversed(rows))
