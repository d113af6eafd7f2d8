"""GDPR for the action layer: a customer's decisions, outbox rows, conversation and consent are exported by
customers/data_request and erased by customers/redact, with the messages of a browser stitched to them before
they signed in; another shopper's and another shop's stay."""

from __future__ import annotations

import json
from types import SimpleNamespace

from sqlmodel import select

from app.models.base import utcnow
from app.models.messaging import ContactConsent, ConversationMessage, MessageDecision, OutboxMessage
from app.models.shop import Shop
from app.storefront.demo_data import DEMO_CUSTOMER, seed_demo_shop
from app.stores.profiles import link_commerce_identity
from webhooks.handlers.compliance import customer_redact, data_request

OTHER = "other-demo.myshopify.com"


def _message(
    session, shop_id: int, *, customer: int | None = None, client: str | None = None, key: str
) -> None:
    """A decision, its outbox row and its conversation entry, as the orchestrator records them."""
    shopper = f"customer:{customer}" if customer else f"client:{client}"
    decision = MessageDecision(
        shop_id=shop_id,
        agent="browse_abandonment",
        shopper_key=shopper,
        customer_shopify_id=customer,
        client_id=client,
        purpose="marketing",
        action="send",
        arm="treatment",
        channel="onsite",
        reason="viewed twice",
        proposal_reason="viewed twice",
        dedupe_key=key,
        template="browse_reminder",
    )
    session.add(decision)
    session.flush()
    now = utcnow()
    outbox = OutboxMessage(
        shop_id=shop_id,
        decision_id=decision.id,
        agent="browse_abandonment",
        purpose="marketing",
        channel="onsite",
        shopper_key=shopper,
        customer_shopify_id=customer,
        client_id=client,
        dedupe_key=key,
        template="browse_reminder",
        data={"email": "someone@example.com"},
        reason="viewed twice",
        proposed_at=now,
        send_at=now,
    )
    session.add(outbox)
    session.flush()
    session.add(
        ConversationMessage(
            shop_id=shop_id,
            shopper_key=shopper,
            customer_shopify_id=customer,
            client_id=client,
            direction="out",
            agent="browse_abandonment",
            channel="onsite",
            summary=key,
            status="sent",
            outbox_id=outbox.id,
        )
    )


def test_the_action_layers_rows_are_exported_and_erased_with_the_customer(session, settings, jobs_env):
    a = seed_demo_shop(session)
    b = seed_demo_shop(session, OTHER)
    link_commerce_identity(session, a.shop_id, DEMO_CUSTOMER, client_id="cl-before")
    _message(session, a.shop_id, customer=DEMO_CUSTOMER, key="signed-in")
    _message(session, a.shop_id, client="cl-before", key="before-sign-in")
    _message(session, a.shop_id, client="cl-stranger", key="someone-else")
    _message(session, b.shop_id, customer=DEMO_CUSTOMER, key="other-shop")
    session.add(
        ContactConsent(
            shop_id=a.shop_id, customer_shopify_id=DEMO_CUSTOMER, channel="email", state="SUBSCRIBED"
        )
    )
    session.commit()
    shop_a = session.get(Shop, a.shop_id)

    payload = {"customer": {"id": DEMO_CUSTOMER}, "data_request": {"id": 9}}
    doc = json.loads(data_request(session, shop_a, payload, SimpleNamespace(id=None)).document)
    assert [m["summary"] for m in doc["conversation_message"]] == ["signed-in"]
    assert [m["dedupe_key"] for m in doc["outbox_message"]] == ["signed-in"]
    assert [m["summary"] for m in doc["customer_model"]["conversation_before_sign_in"]] == ["before-sign-in"]
    assert [c["state"] for c in doc["contact_consent"]] == ["SUBSCRIBED"]

    customer_redact(session, shop_a, {"customer": {"id": DEMO_CUSTOMER}}, SimpleNamespace(id=None))
    session.commit()
    for model in (MessageDecision, OutboxMessage):
        left = session.exec(select(model.shop_id, model.dedupe_key).order_by(model.id)).all()
        assert left == [(a.shop_id, "someone-else"), (b.shop_id, "other-shop")], model
    thread = session.exec(
        select(ConversationMessage.shop_id, ConversationMessage.summary).order_by(ConversationMessage.id)
    ).all()
    assert thread == [(a.shop_id, "someone-else"), (b.shop_id, "other-shop")]
    assert session.exec(select(ContactConsent).where(ContactConsent.shop_id == a.shop_id)).all() == []
