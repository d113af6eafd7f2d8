"""Each shopper's one conversation: every message in and out, on every channel, with agent, reason and status.
An outgoing message's entry follows its outbox row (queued → sent | unknown | failed | cancelled). No commits."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, select

from app.models.base import utcnow
from app.models.messaging import ConversationMessage
from app.stores.bulk import update_rows
from app.stores.support_channels import record_answer

QUEUED = "queued"
SUMMARY_CHARS = 512


def summary_of(data: dict, template: str) -> str:
    """What the message is about, in a line: its subject when it has one, else the template's name."""
    subject = data.get("subject") if isinstance(data, dict) else None
    return (subject if isinstance(subject, str) and subject else template.replace("_", " "))[:SUMMARY_CHARS]


def outgoing_entry(outbox: dict[str, Any], outbox_id: int) -> dict[str, Any]:
    """The thread's entry for a new outbox row (its values, as inserted, and its id): queued until the relay
    moves it on (``follow_outbox``)."""
    return dict(
        shop_id=outbox["shop_id"],
        shopper_key=outbox["shopper_key"],
        customer_shopify_id=outbox["customer_shopify_id"],
        client_id=outbox["client_id"],
        direction="out",
        agent=outbox["agent"],
        channel=outbox["channel"],
        reason=outbox["reason"],
        summary=summary_of(outbox["data"], outbox["template"]),
        status=QUEUED,
        outbox_id=outbox_id,
    )


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


def record_assistant_turn(
    session: Session, shop_id: int, shopper_key: str, question: str, result: dict[str, Any], *,
    customer_id: int | None, client_id: str | None,
) -> None:  # fmt: skip
    """A question asked in the storefront assistant and the support agent's answer (``app.stores.support.ask``'s
    result), in the shopper's one thread beside their SMS, e-mail and Messenger turns."""
    record_incoming(
        session, shop_id, shopper_key, "assistant", question, customer_id=customer_id, client_id=client_id
    )
    reason = result.get("reason") or ("hand-off to a person" if result.get("escalated") else "answered")
    record_answer(
        session, shop_id, shopper_key, "assistant", str(result.get("answer") or ""), customer_id=customer_id,
        client_id=client_id, reason=str(reason)[:500], status="sent",
    )  # fmt: skip


def follow_outbox(
    session: Session, shop_id: int, outbox_id: int, status: str, provider_id: str | None
) -> None:
    """The thread's entry takes its outbox row's new status (and the provider's id)."""
    follow_outbox_many(session, [(shop_id, outbox_id, status, provider_id)])


def follow_outbox_many(session: Session, changes: Sequence[tuple[int, int, str, str | None]]) -> None:
    """``follow_outbox`` for many rows at once: (shop id, outbox id, status, provider id) each; one ``UPDATE``
    per shop (``update_rows``)."""
    by_shop: dict[int, dict[int, tuple[str, str | None]]] = defaultdict(dict)
    for shop, outbox_id, status, provider in changes:
        by_shop[shop][outbox_id] = (status, provider or None)
    t = ConversationMessage.__table__
    for shop, rows in sorted(by_shop.items()):
        update_rows(
            session,
            t,
            "outbox_id",
            [{"outbox_id": i, "status": s, "provider_id": p} for i, (s, p) in rows.items()],
            where={"shop_id": shop},
            also={"updated_at": utcnow()},
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
