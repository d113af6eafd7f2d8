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

from app.agents.support import (
    ProductFacts,
    Reply,
    answer,
    classify,
    clean_question,
    wants_knowledge,
)
from app.agents.support_handoff import HANDOFF_TEXT, Turn, handoff_reason
from app.knowledge.answer import GroundedAnswer
from app.knowledge.order_status import order_reference
from app.measurement.holdout import GLOBAL, GLOBAL_DEFAULT_SHARE, in_global_holdout, in_holdout
from app.models.base import utcnow
from app.models.feedback import SupportMessage
from app.models.profiles import CustomerProfile
from app.models.serving import HoldoutPolicy
from app.stores.contact_policy import DEFAULT_MESSAGE_HOLDOUT
from app.stores.support_orders import anonymous_lookups, find_order, latest_order, shipping_promise

CONVERSATION_GAP = timedelta(minutes=30)  # a question after a longer pause starts a new conversation
HOURLY_LIMIT = 30  # questions per shopper per hour
HIGH_VALUE_SHARE = 0.1  # the top tenth of the shop's customers by predicted CLV reach a person sooner
HIGH_VALUE_MIN_CUSTOMERS = 20  # below this many scored customers nobody is "top tenth"
ANONYMOUS_LOOKUPS_PER_HOUR = 120  # order questions from visitors not signed in, per shop: no guessing e-mails
PRODUCTS_SHOWN = 3

Search = Callable[[str, int], list[dict[str, Any]] | None]  # product cards, or None: search unavailable
Retrieve = Callable[[str], GroundedAnswer | None]  # the shop's grounded answer, None: it abstains


class TooManyQuestions(RuntimeError):
    """The shopper asked HOURLY_LIMIT questions in the last hour."""


def _owner(shop_id: int, customer_id: int | None, client_id: str | None) -> Any:
    if customer_id:
        return (SupportMessage.shop_id == shop_id) & (SupportMessage.customer_shopify_id == customer_id)
    return (SupportMessage.shop_id == shop_id) & (SupportMessage.client_id == client_id)


AGENT = "support"
HOLDOUT = "holdout"  # the hand-off of a held-out shopper's question


def held_out(session: Session, shop_id: int, customer_id: int | None) -> bool:
    """The signed-in customer is in the shop's global holdout or the support assistant's own (the same hashes
    as every agent's): their questions go to a person, as before the assistant, so the control room's
    support-deflection row compares the assistant with support without it. Only signed-in customers are held
    out: the row is measured over customers, and an anonymous visitor's arm could not be compared."""
    if not customer_id:
        return False
    rows = {
        r.agent: r
        for r in session.exec(
            select(HoldoutPolicy).where(
                HoldoutPolicy.shop_id == shop_id,
                HoldoutPolicy.agent.in_((GLOBAL, AGENT)),  # type: ignore[attr-defined]
            )
        ).all()
    }
    g, own = rows.get(GLOBAL), rows.get(AGENT)
    who = str(customer_id)
    if in_global_holdout(
        shop_id, "customer", who, g.share if g else GLOBAL_DEFAULT_SHARE, g.salt if g else ""
    ):
        return True
    share = own.share if own else DEFAULT_MESSAGE_HOLDOUT
    return in_holdout(shop_id, AGENT, "customer", who, share, own.salt if own else "")


def refresh_key(customer_id: int | None, client_id: str | None) -> str:
    return f"customer:{customer_id}" if customer_id else f"client:{client_id}"


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
    retrieve: Retrieve | None = None,
    now: datetime | None = None,
    product_id: int | None = None,
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

    conversation = _conversation(session, owner, now)
    reference = None if customer_id else order_reference(text)
    topic = "order_status" if reference else classify(text)
    if reference and anonymous_lookups(session, shop_id, now) >= ANONYMOUS_LOOKUPS_PER_HOUR:
        raise TooManyQuestions("too many order look-ups in this shop right now: sign in, or try again later")
    held = held_out(session, shop_id, customer_id)
    history = [] if held else _history(session, owner, conversation)
    valuable = not held and bool(customer_id) and high_value(session, shop_id, customer_id)
    handoff = HOLDOUT if held else handoff_reason(text, history, high_value=valuable)
    cards: list[dict[str, Any]] = []
    if handoff is not None:  # a person must take it: nothing is looked up
        reply = Reply(
            topic, HANDOFF_TEXT[handoff], True, f"hand-off: {handoff.replace('_', ' ')}", handoff=handoff
        )
    else:
        reply, cards = _answer(session, shop_id, text, topic, customer_id, search, retrieve, reference, now)

    who = {"shop_id": shop_id, "conversation": conversation, "customer_shopify_id": customer_id or None}
    who["client_id"] = client_id or None
    session.add(
        SupportMessage(
            **who, role="shopper", topic=topic, text=text, product_shopify_id=product_id, created_at=now
        )
    )
    session.add(
        reply_row := SupportMessage(
            **who,
            role="assistant",
            topic=topic,
            text=reply.text,
            escalated=reply.escalated,
            abstained=reply.abstained,
            handoff=reply.handoff,
            source=reply.source.passage_id[:160] if reply.source else None,
            confidence=round(reply.source.confidence, 4) if reply.source else None,
            created_at=now + timedelta(microseconds=1),
        )
    )
    session.flush()
    return {
        "message_id": reply_row.id,
        "conversation": conversation,
        "topic": reply.topic,
        "answer": reply.text,
        "escalated": reply.escalated,
        "reason": reply.reason,
        "order": reply.order,
        "products": cards if reply.products else [],
        "source": _source(reply.source),
        "abstained": reply.abstained,
        "handoff": reply.handoff,
    }


def high_value(session: Session, shop_id: int, customer_id: int | None) -> bool:
    """Whether the customer is in the shop's top tenth by predicted CLV (``HIGH_VALUE_SHARE``), judged only once
    the shop has CLV for ``HIGH_VALUE_MIN_CUSTOMERS`` customers; False for a visitor or an unscored customer."""
    if not customer_id:
        return False
    mine = session.exec(
        select(CustomerProfile.clv).where(
            CustomerProfile.shop_id == shop_id, CustomerProfile.customer_key == f"customer:{customer_id}"
        )
    ).first()
    if mine is None or mine <= 0:
        return False
    scored = CustomerProfile.shop_id == shop_id, CustomerProfile.clv.is_not(None)  # type: ignore[union-attr]
    total = session.exec(select(func.count()).select_from(CustomerProfile).where(*scored)).one()
    if total < HIGH_VALUE_MIN_CUSTOMERS:
        return False
    at_least = session.exec(  # ties count against: equal values share one rank, not the top's
        select(func.count()).select_from(CustomerProfile).where(*scored, CustomerProfile.clv >= mine)
    ).one()
    return at_least <= HIGH_VALUE_SHARE * total


def _history(session: Session, owner: Any, conversation: str) -> list[Turn]:
    """The conversation's earlier turns, oldest first."""
    rows = session.exec(
        select(SupportMessage)
        .where(owner, SupportMessage.conversation == conversation)
        .order_by(SupportMessage.created_at, SupportMessage.id)  # type: ignore[arg-type]
    ).all()
    return [Turn(r.role, r.text, r.abstained) for r in rows]


def _answer(
    session: Session,
    shop_id: int,
    text: str,
    topic: str,
    customer_id: int | None,
    search: Search | None,
    retrieve: Retrieve | None,
    reference: tuple[str, str] | None = None,
    now: datetime | None = None,
) -> tuple[Reply, list[dict[str, Any]]]:
    """The agent's reply from the shop's knowledge, the order asked about (the signed-in customer's latest, or
    the one a visitor named with its e-mail) or product search, and the product cards it shows."""
    asked = reference is None and retrieve is not None and wants_knowledge(text, topic)
    knowledge = retrieve(text) if asked and retrieve is not None else None
    if reference is not None:
        order = find_order(session, shop_id, *reference)
    else:
        order = latest_order(session, shop_id, customer_id) if customer_id and topic != "product" else None
    products: list[ProductFacts] | None = None
    cards: list[dict[str, Any]] = []
    if topic == "product" and knowledge is None:
        found = search(text, PRODUCTS_SHOWN) if search else None
        if found is not None:  # a sold-out best match (with its ``notify`` variants) comes first, extra
            cards = found[: PRODUCTS_SHOWN + (1 if found and found[0].get("sold_out") else 0)]
            products = [ProductFacts.from_card(c) for c in cards]
    reply = answer(
        text,
        signed_in=bool(customer_id),
        order=order,
        products=products,
        topic=topic,
        knowledge=knowledge,
        knowledge_asked=asked,
        reference_given=reference is not None,
        promise=shipping_promise(session, shop_id) if topic == "order_status" else None,
        now=now or utcnow(),
    )
    return reply, [c for c in cards if c["product_id"] in {p.product_id for p in reply.products}]


def _source(found: GroundedAnswer | None) -> dict[str, Any] | None:
    if found is None:
        return None
    return {
        "title": found.source_title,
        "url": found.url,
        "passage": found.passage_id,
        "kind": found.kind,
        "confidence": round(found.confidence, 3),
    }


def rate_answer(
    session: Session,
    shop_id: int,
    message_id: int,
    helpful: bool,
    *,
    customer_id: int | None,
    client_id: str | None,
) -> bool:
    """Record the shopper's 👍/👎 on one of the assistant's answers to them (the last vote counts). False when
    ``message_id`` is not an answer given to this shopper in this shop: nobody rates someone else's."""
    if not customer_id and not client_id:
        return False
    row = session.exec(
        select(SupportMessage).where(
            _owner(shop_id, customer_id, client_id),
            SupportMessage.id == message_id,
            SupportMessage.role == "assistant",
        )
    ).first()
    if row is None:
        return False
    row.helpful = helpful
    session.add(row)
    return True


# --- escalations: the merchant's side ------------------------------------------------------------

MAX_NOTE = 2000  # characters of the merchant's reply note


def _escalation(answer_turn: SupportMessage, question: SupportMessage | None) -> dict[str, Any]:
    return {
        "id": answer_turn.id,
        "conversation": answer_turn.conversation,
        "topic": answer_turn.topic,
        "question": question.text if question is not None else None,
        "answer": answer_turn.text,
        "asked_at": (question.created_at if question is not None else answer_turn.created_at).isoformat(),
        # Shopify ids as strings: they exceed JavaScript's exact integers
        "customer_id": str(answer_turn.customer_shopify_id) if answer_turn.customer_shopify_id else None,
        "client_id": answer_turn.client_id,
        "status": "resolved" if answer_turn.resolved_at else "open",
        "resolved_at": answer_turn.resolved_at.isoformat() if answer_turn.resolved_at else None,
        "note": answer_turn.resolution_note,
        "handoff": answer_turn.handoff,  # the rule that sent it to a person; None: the agent could not answer
        "abstained": answer_turn.abstained,
    }


def _questions(session: Session, shop_id: int, turns: list[SupportMessage]) -> dict[int, SupportMessage]:
    """The shopper's question each escalated answer replied to: the latest shopper turn of the same
    conversation and shopper at or before the answer."""
    conversations = sorted({t.conversation for t in turns})
    if not conversations:
        return {}
    asked = session.exec(
        select(SupportMessage)
        .where(
            SupportMessage.shop_id == shop_id,
            SupportMessage.conversation.in_(conversations),  # type: ignore[attr-defined]
            SupportMessage.role == "shopper",
        )
        .order_by(SupportMessage.created_at, SupportMessage.id)  # type: ignore[arg-type]
    ).all()
    out: dict[int, SupportMessage] = {}
    for turn in turns:
        for q in asked:
            if (
                q.conversation == turn.conversation
                and (q.customer_shopify_id, q.client_id) == (turn.customer_shopify_id, turn.client_id)
                and q.created_at <= turn.created_at
            ):
                out[turn.id or 0] = q
    return out


def open_escalations(session: Session, shop_id: int, limit: int = 50) -> tuple[list[dict[str, Any]], int]:
    """The shop's escalated answers nobody has resolved yet, oldest first (the longest waiting at the top),
    each with the question it answered; and how many are open in all."""
    where = (
        (SupportMessage.shop_id == shop_id)
        & (SupportMessage.role == "assistant")
        & (SupportMessage.escalated == True)  # noqa: E712
        & SupportMessage.resolved_at.is_(None)  # type: ignore[union-attr]
    )
    total = session.exec(select(func.count()).select_from(SupportMessage).where(where)).one()
    turns = list(
        session.exec(
            select(SupportMessage)
            .where(where)
            .order_by(SupportMessage.created_at, SupportMessage.id)  # type: ignore[arg-type]
            .limit(limit)
        ).all()
    )
    questions = _questions(session, shop_id, turns)
    return [_escalation(t, questions.get(t.id or 0)) for t in turns], int(total)


def resolve_escalation(
    session: Session, shop_id: int, message_id: int, note: str | None, *, now: datetime | None = None
) -> tuple[dict[str, Any], bool] | None:
    """Mark one escalated answer of this shop resolved, with the merchant's optional reply note. Returns the
    escalation and whether this call changed it (False: it was already resolved, and stays as it was), or None
    when the shop has no such escalation. No commit."""
    turn = session.exec(
        select(SupportMessage).where(
            SupportMessage.shop_id == shop_id,
            SupportMessage.id == message_id,
            SupportMessage.role == "assistant",
            SupportMessage.escalated == True,  # noqa: E712
        )
    ).first()
    if turn is None:
        return None
    changed = turn.resolved_at is None
    if changed:
        turn.resolved_at = now or utcnow()
        turn.resolution_note = (note or "").strip()[:MAX_NOTE] or None
        session.add(turn)
        session.flush()
    return _escalation(turn, _questions(session, shop_id, [turn]).get(turn.id or 0)), changed
