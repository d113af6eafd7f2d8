"""Erasure and export of one shopper's pixel history, identity links and profiles. No commits.

``erase_customer`` is called by the customers/redact handler next to ``app.commerce.privacy``'s own
erasure: it removes the customer's profile, every identifier stitched to the customer, and every pixel
event, support message, on-site message (nudge), web push subscription, message decision, outbox row,
conversation message and wishlist item of those identifiers (including the anonymous history that was merged in at
login/checkout). Rows that carry the customer id (reviews, signed-in support turns) are also covered by
``app.commerce.privacy``'s generic pass.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, or_
from sqlmodel import Session, select

from app.identity import kind_of
from app.models.events import IdentityLink, PixelEvent
from app.models.feedback import SupportMessage
from app.models.journey import JourneyStage, JourneyTransition
from app.models.messaging import ConversationMessage, MessageDecision, OutboxMessage, PushSubscription
from app.models.profiles import CustomerProfile
from app.models.serving import Nudge, WishlistItem
from app.stores.identity import members_of


def _wishlist_owners(nodes: set[str]) -> list[str]:
    """Wishlist owners are ``customer:<id>`` or ``client:<client id>``, the form of identity nodes."""
    return sorted(n for n in nodes if kind_of(n) in ("customer", "client"))


def _nodes(session: Session, shop_id: int, customer_id: int) -> tuple[str, set[str], list[str]]:
    key = f"customer:{customer_id}"
    nodes = set(members_of(session, shop_id, key)) | {key}
    clients = sorted(n.split(":", 1)[1] for n in nodes if kind_of(n) == "client")
    return key, nodes, clients


def _nudge_match(shop_id: int, customer_id: int, clients: list[str]) -> Any:
    """On-site messages addressed to the customer or to one of their stitched browsers (not broadcasts)."""
    who = [Nudge.customer_id == customer_id]
    if clients:
        who.append(Nudge.client_id.in_(clients))  # type: ignore[union-attr]
    return (Nudge.shop_id == shop_id) & or_(*who)


# The action layer's rows of an anonymous shopper (a browser later stitched to the customer). Rows that carry the
# customer id are covered by ``app.commerce.privacy``'s generic pass. Children before parents.
_CLIENT_MESSAGE_TABLES = (ConversationMessage, OutboxMessage, MessageDecision)


def erase_customer(session: Session, shop_id: int, customer_id: int) -> dict[str, int]:
    """Delete everything the customer model holds about one customer of one shop. Returns counts."""
    key, nodes, clients = _nodes(session, shop_id, customer_id)
    event_match = [PixelEvent.customer_shopify_id == customer_id]
    if clients:
        event_match.append(PixelEvent.client_id.in_(clients))  # type: ignore[attr-defined]
    support_match = [SupportMessage.customer_shopify_id == customer_id]
    if clients:
        support_match.append(SupportMessage.client_id.in_(clients))  # type: ignore[union-attr]
    counts = {
        "wishlist_item": session.execute(
            delete(WishlistItem).where(
                WishlistItem.shop_id == shop_id,
                WishlistItem.owner.in_(_wishlist_owners(nodes)),  # type: ignore[attr-defined]
            )
        ).rowcount,
        "nudge": session.execute(delete(Nudge).where(_nudge_match(shop_id, customer_id, clients))).rowcount,
        "push_subscription": session.execute(
            delete(PushSubscription).where(
                PushSubscription.shop_id == shop_id,
                PushSubscription.shopper_key.in_(sorted(nodes)),  # type: ignore[attr-defined]
            )
        ).rowcount,
        "support_message": session.execute(
            delete(SupportMessage).where(SupportMessage.shop_id == shop_id, or_(*support_match))
        ).rowcount,
        "pixel_event": session.execute(
            delete(PixelEvent).where(PixelEvent.shop_id == shop_id, or_(*event_match))
        ).rowcount,
        "customer_profile": session.execute(
            delete(CustomerProfile).where(
                CustomerProfile.shop_id == shop_id,
                or_(
                    CustomerProfile.customer_key.in_(sorted(nodes)),  # type: ignore[attr-defined]
                    CustomerProfile.customer_shopify_id == customer_id,
                ),
            )
        ).rowcount,
        "journey_stage": session.execute(
            delete(JourneyStage).where(
                JourneyStage.shop_id == shop_id,
                JourneyStage.shopper_key.in_(sorted(nodes)),  # type: ignore[attr-defined]
            )
        ).rowcount,
        "journey_transition": session.execute(
            delete(JourneyTransition).where(
                JourneyTransition.shop_id == shop_id,
                JourneyTransition.shopper_key.in_(sorted(nodes)),  # type: ignore[attr-defined]
            )
        ).rowcount,
        "identity_link": session.execute(
            delete(IdentityLink).where(
                IdentityLink.shop_id == shop_id,
                or_(IdentityLink.root == key, IdentityLink.node.in_(sorted(nodes))),  # type: ignore[attr-defined]
            )
        ).rowcount,
    }
    for model in _CLIENT_MESSAGE_TABLES:
        counts[model.__tablename__ + "_before_sign_in"] = (
            session.execute(
                delete(model).where(model.shop_id == shop_id, model.client_id.in_(clients))  # type: ignore[union-attr]
            ).rowcount
            if clients
            else 0
        )
    return counts


def export_customer(session: Session, shop_id: int, customer_id: int) -> dict[str, Any]:
    """What the customer model holds about one customer (for customers/data_request)."""
    key, nodes, clients = _nodes(session, shop_id, customer_id)
    profile = session.exec(
        select(CustomerProfile).where(CustomerProfile.shop_id == shop_id, CustomerProfile.customer_key == key)
    ).first()
    events = session.exec(
        select(PixelEvent)
        .where(
            PixelEvent.shop_id == shop_id,
            or_(PixelEvent.customer_shopify_id == customer_id, PixelEvent.client_id.in_(clients)),  # type: ignore[attr-defined]
        )
        .order_by(PixelEvent.occurred_at)
    ).all()
    anonymous_support = (
        session.exec(
            select(SupportMessage)
            .where(
                SupportMessage.shop_id == shop_id,
                SupportMessage.client_id.in_(clients),  # type: ignore[union-attr]
                SupportMessage.customer_shopify_id.is_(None),  # type: ignore[union-attr]
            )
            .order_by(SupportMessage.created_at, SupportMessage.id)
        ).all()
        if clients
        else []
    )
    wishlist = session.exec(
        select(WishlistItem)
        .where(
            WishlistItem.shop_id == shop_id,
            WishlistItem.owner.in_(_wishlist_owners(nodes)),  # type: ignore[attr-defined]
        )
        .order_by(WishlistItem.created_at, WishlistItem.id)  # type: ignore[arg-type]
    ).all()
    thread = (
        session.exec(
            select(ConversationMessage)
            .where(
                ConversationMessage.shop_id == shop_id,
                ConversationMessage.client_id.in_(clients),  # type: ignore[union-attr]
                ConversationMessage.customer_shopify_id.is_(None),  # type: ignore[union-attr]
            )
            .order_by(ConversationMessage.created_at, ConversationMessage.id)  # type: ignore[arg-type]
        ).all()
        if clients
        else []
    )
    nudges = session.exec(
        select(Nudge).where(_nudge_match(shop_id, customer_id, clients)).order_by(Nudge.id)  # type: ignore[arg-type]
    ).all()
    browsers = session.exec(
        select(PushSubscription)
        .where(PushSubscription.shop_id == shop_id, PushSubscription.shopper_key.in_(sorted(nodes)))  # type: ignore[attr-defined]
        .order_by(PushSubscription.id)  # type: ignore[arg-type]
    ).all()
    return {
        "identifiers": sorted(nodes),
        "push_subscriptions": [b.model_dump(mode="json", exclude={"id", "shop_id"}) for b in browsers],
        # messages to or from the customer's browser before they signed in (signed-in messages are in the
        # export's conversation_message table: they carry the customer id)
        "conversation_before_sign_in": [m.model_dump(mode="json", exclude={"id", "shop_id"}) for m in thread],
        "on_site_messages": [n.model_dump(mode="json", exclude={"id", "shop_id"}) for n in nudges],
        # saved as the customer and, before signing in, as a stitched client
        "wishlist": [w.model_dump(mode="json", exclude={"id", "shop_id"}) for w in wishlist],
        # signed-in turns are in the export's support_message table (they carry the customer id)
        "support_messages_before_sign_in": [
            m.model_dump(mode="json", exclude={"id", "shop_id"}) for m in anonymous_support
        ],
        "profile": profile.model_dump(mode="json", exclude={"working"}) if profile else None,
        "pixel_events": [e.model_dump(mode="json", exclude={"id", "shop_id"}) for e in events],
    }
