"""What a person at the shop needs when the support agent hands a conversation over: the transcript, the
shopper's profile summary, the order it may be about and what the agent tried. No commits."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from app.agents.support_handoff import Turn, handoff_detail
from app.models.feedback import SupportMessage
from app.models.profiles import CustomerProfile
from app.stores.support_orders import latest_order

TRANSCRIPT_TURNS = 20
CHANNEL_SHOPPERS = {  # client-id prefixes of the support agent's other channels (app.jobs.support_channels)
    "fb:": "a Messenger user (page-scoped id {})",
    "ig:": "an Instagram user (scoped id {})",
    "email:": "the e-mail sender {}",
}


def visitor(client_id: str | None) -> str:
    """Who an anonymous shopper is, by the channel their client id names."""
    for prefix, words in CHANNEL_SHOPPERS.items():
        if client_id and client_id.startswith(prefix):
            return words.format(client_id.removeprefix(prefix))
    return "a visitor (not signed in)"


def handoff_context(session: Session, shop_id: int, message_id: int) -> dict[str, Any] | None:
    """The hand-off's context for the escalated answer ``message_id`` of this shop, or None when there is none."""
    answer = session.exec(
        select(SupportMessage).where(
            SupportMessage.shop_id == shop_id,
            SupportMessage.id == message_id,
            SupportMessage.role == "assistant",
            SupportMessage.escalated == True,  # noqa: E712
        )
    ).first()
    if answer is None:
        return None
    turns = session.exec(
        select(SupportMessage)
        .where(SupportMessage.shop_id == shop_id, SupportMessage.conversation == answer.conversation)
        .order_by(SupportMessage.created_at, SupportMessage.id)  # type: ignore[arg-type]
    ).all()
    before = [t for t in turns if (t.created_at, t.id or 0) < (answer.created_at, answer.id or 0)]
    asked = next((t for t in reversed(before) if t.role == "shopper"), None)
    history = [Turn(t.role, t.text, t.abstained) for t in before if t is not asked]
    why = handoff_detail(answer.handoff, asked.text if asked else "", history, answer.topic, answer.abstained)
    turns = turns[-TRANSCRIPT_TURNS:]
    who = (
        f"customer {answer.customer_shopify_id}" if answer.customer_shopify_id else visitor(answer.client_id)
    )
    profile = None
    order = None
    if answer.customer_shopify_id:
        profile = session.exec(
            select(CustomerProfile).where(
                CustomerProfile.shop_id == shop_id,
                CustomerProfile.customer_key == f"customer:{answer.customer_shopify_id}",
            )
        ).first()
        order = latest_order(session, shop_id, int(answer.customer_shopify_id))
    summary = []
    if profile is not None:
        if profile.rfm_segment:
            summary.append(f"segment {profile.rfm_segment}")
        if profile.clv is not None:
            summary.append(f"predicted lifetime value {profile.clv:.2f}")
        if profile.churn_risk is not None:
            summary.append(f"churn risk {profile.churn_risk:.0%}")
    client = answer.client_id or ""
    return {
        "message_id": answer.id,
        "shopper": who,
        "customer_id": answer.customer_shopify_id,
        "email": client.removeprefix("email:") if client.startswith("email:") else None,
        "why": why,  # the agent's concrete reason (app.agents.support_handoff.handoff_detail)
        "tried": "abstained: the shop's knowledge had no confident answer"
        if answer.abstained
        else answer.text,
        "transcript": [
            f"{'Shopper' if t.role == 'shopper' else 'Assistant'}: {' '.join(t.text.split())[:500]}"
            for t in turns
        ],
        "profile": ", ".join(summary) or None,
        "order": None if order is None else f"{order.name}, {order.fulfillment_status or 'unfulfilled'}",
    }


def handoff_summary(context: dict[str, Any], why: str = "Why it came to a person") -> list[str]:
    """The hand-off in a few lines (who, ``why``: its reason, what was tried, the profile and the order when
    known), as a help desk ticket and the shop's hand-off e-mail both open."""
    lines = [
        f"Who: {context['shopper']}.",
        f"{why}: {context['why']}.",
        f"What the assistant tried: {context['tried']}",
    ]
    if context["profile"]:
        lines.append(f"Profile: {context['profile']}.")
    if context["order"]:
        lines.append(f"Latest order: {context['order']}.")
    return lines
