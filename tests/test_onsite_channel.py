"""The on-site channel and the shopper's thread: the relay writes the shopper's nudge, which ``/proxy/nudges``
then serves to that shopper only, until the proposal's latest send time; the assistant's thread endpoint serves
the signed-in customer's own messages and refuses a client id."""

from __future__ import annotations

import time
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from sqlmodel import select

from app.channels.base import OutgoingMessage, Sender
from app.channels.onsite import OnsiteChannel, same_site_path
from app.db import session_scope
from app.jobs import outbox as relay
from app.jobs.orchestrate import submit
from app.models.base import utcnow
from app.models.messaging import ConversationMessage, OutboxMessage
from app.models.serving import Nudge
from app.orchestrator.proposal import Action, Content, Proposal, Purpose, Shopper
from app.shopify.verify import proxy_signature
from app.storefront.demo_data import DEMO_CUSTOMER, STOVE_CUSTOMER, seed_demo_shop
from tests.conftest import TEST_API_SECRET

SHOP = "attune-demo.myshopify.com"


def signed(path: str, params: dict | None = None, *, customer: int | None = None) -> str:
    pairs = list((params or {}).items()) + [
        ("shop", SHOP),
        ("logged_in_customer_id", str(customer or "")),
        ("path_prefix", "/apps/attune"),
        ("timestamp", str(int(time.time()))),
    ]
    pairs.append(("signature", proxy_signature(pairs, TEST_API_SECRET)))
    return f"/proxy{path}?{urlencode(pairs)}"


@pytest.fixture(autouse=True)
def _no_holdout(monkeypatch):
    monkeypatch.setattr("app.stores.contact_policy.DEFAULT_MESSAGE_HOLDOUT", 0.0)


@pytest.fixture
def demo(jobs_env, session):
    return seed_demo_shop(session, SHOP)


def onsite(shop_id: int, shopper: Shopper, now, **kw) -> Proposal:
    base = dict(
        agent="browse_abandonment",
        shop_id=shop_id,
        shopper=shopper,
        purpose=Purpose.MARKETING,
        content=Content(
            "message", {"subject": "Your <b>stove</b> is still here", "cta_url": "https://x.test/cart?a=1"}
        ),
        channels=("onsite",),
        earliest=now,
        latest=now + timedelta(hours=2),
        dedupe_key=f"browse:{shopper.key}",
        reason="viewed the stove twice",
    )
    base.update(kw)
    return Proposal(**base)


def relay_one(settings, proposal, now):
    with session_scope(settings.database_url) as s:
        (decision,) = submit(s, proposal.shop_id, [proposal], now=now)
    assert decision.action is Action.SEND and decision.channel == "onsite"
    with session_scope(settings.database_url) as s:
        row = s.exec(select(OutboxMessage).where(OutboxMessage.shopper_key == proposal.shopper.key)).one()
    assert relay.relay_message(row.id, now=now) == "sent"
    with session_scope(settings.database_url) as s:
        row = s.get(OutboxMessage, row.id)
        nudge = s.exec(select(Nudge).where(Nudge.outbox_id == row.id)).one()
    return row, nudge


def test_an_onsite_message_becomes_the_shoppers_nudge_and_is_served_to_them_only(jobs_env, demo, client):
    now = utcnow()
    row, nudge = relay_one(jobs_env, onsite(demo.shop_id, Shopper(customer_id=DEMO_CUSTOMER), now), now)
    assert row.provider_id == str(nudge.id)
    assert (nudge.customer_id, nudge.client_id, nudge.agent) == (DEMO_CUSTOMER, None, "browse_abandonment")
    assert nudge.expires_at == now + timedelta(hours=2) and nudge.url == "/cart?a=1"
    assert nudge.text == "Your <b>stove</b> is still here"  # stored as text; the assistant sets textContent
    mine = client.get(signed("/nudges", customer=DEMO_CUSTOMER)).json["nudges"]
    assert [(n["id"], n["text"], n["url"]) for n in mine] == [(nudge.id, nudge.text, "/cart?a=1")]
    assert client.get(signed("/nudges", customer=STOVE_CUSTOMER)).json["nudges"] == []
    assert client.get(signed("/nudges", {"client_id": "c-1"})).json["nudges"] == []
    assert client.get(signed("/nudges", {"client_id": str(DEMO_CUSTOMER)})).json["nudges"] == []
    with session_scope(jobs_env.database_url) as s:
        entry = s.exec(select(ConversationMessage).where(ConversationMessage.outbox_id == row.id)).one()
        assert (entry.channel, entry.status, entry.provider_id) == ("onsite", "sent", str(nudge.id))


def test_an_anonymous_shoppers_nudge_is_served_to_that_browser_and_expires(jobs_env, demo, client, session):
    now = utcnow()
    _, nudge = relay_one(jobs_env, onsite(demo.shop_id, Shopper(client_id="c-9"), now), now)
    assert (nudge.customer_id, nudge.client_id) == (None, "c-9")
    assert [n["id"] for n in client.get(signed("/nudges", {"client_id": "c-9"})).json["nudges"]] == [nudge.id]
    assert client.get(signed("/nudges", {"client_id": "c-8"})).json["nudges"] == []
    stored = session.get(Nudge, nudge.id)
    stored.expires_at = utcnow() - timedelta(seconds=1)  # past the proposal's latest send time
    session.add(stored)
    session.commit()
    assert client.get(signed("/nudges", {"client_id": "c-9"})).json["nudges"] == []


def test_sending_the_same_onsite_message_again_finds_the_nudge_it_wrote(jobs_env, demo):
    message = OutgoingMessage(
        outbox_id=41,
        shop_id=demo.shop_id,
        purpose="transactional",
        template="order_update",
        data={"subject": "Your order shipped"},
        recipient="customer:501",
        sender=Sender("s", "s", ""),
        extra={"customer_id": DEMO_CUSTOMER, "agent": "support"},
    )
    channel = OnsiteChannel(jobs_env.database_url)
    first, again = channel.send(message), channel.send(message)
    assert first.provider_id == again.provider_id
    with session_scope(jobs_env.database_url) as s:
        assert len(s.exec(select(Nudge).where(Nudge.outbox_id == 41)).all()) == 1


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("/cart", "/cart"),
        ("https://shop.test/p/x?y=1#z", "/p/x?y=1#z"),
        ("//evil.test/x", "/x"),
        ("/\\evil.test", None),
        ("javascript:alert(1)", None),
        ("", None),
        (None, None),
    ],
)
def test_nudge_links_stay_on_the_shop(url, path):
    assert same_site_path(url) == path


# --- the assistant's thread: the signed-in customer's own messages ------------------------------


def test_the_thread_needs_the_signed_customer_and_shows_only_theirs(jobs_env, demo, client, session):
    now = utcnow()
    sent = dict(shop_id=demo.shop_id, direction="out", agent="browse_abandonment", reason="r")
    session.add_all(
        [
            ConversationMessage(
                **sent,
                shopper_key=f"customer:{DEMO_CUSTOMER}",
                customer_shopify_id=DEMO_CUSTOMER,
                channel="email",
                summary="Your boots are back",
                status="sent",
                created_at=now - timedelta(hours=3),
                updated_at=now - timedelta(hours=3),
            ),
            ConversationMessage(
                **sent,
                shopper_key=f"customer:{DEMO_CUSTOMER}",
                customer_shopify_id=DEMO_CUSTOMER,
                channel="push",
                summary="Not sent yet",
                status="queued",
                created_at=now,
            ),
            ConversationMessage(
                shop_id=demo.shop_id,
                shopper_key=f"customer:{DEMO_CUSTOMER}",
                customer_shopify_id=DEMO_CUSTOMER,
                direction="in",
                channel="sms",
                summary="Do you ship to Canada?",
                status="received",
                created_at=now - timedelta(hours=1),
            ),
            ConversationMessage(
                **sent,
                shopper_key=f"customer:{STOVE_CUSTOMER}",
                customer_shopify_id=STOVE_CUSTOMER,
                channel="email",
                summary="Stove fuel reminder",
                status="sent",
                created_at=now,
            ),
            ConversationMessage(
                **sent,
                shopper_key="client:c-1",
                client_id="c-1",
                channel="onsite",
                summary="Anonymous note",
                status="sent",
                created_at=now,
            ),
        ]
    )
    session.commit()
    answer = client.get(signed("/messages", customer=DEMO_CUSTOMER))
    assert answer.status_code == 200 and answer.headers["Cache-Control"].startswith("private")
    assert [(m["direction"], m["channel"], m["summary"]) for m in answer.json["messages"]] == [
        ("in", "sms", "Do you ship to Canada?"),
        ("out", "email", "Your boots are back"),
    ]
    # a client id alone (even one that looks like the customer's id) reads nothing
    for params in ({"client_id": "c-1"}, {"client_id": str(DEMO_CUSTOMER)}, {}):
        refused = client.get(signed("/messages", params))
        assert refused.status_code == 403 and "sign in" in refused.json["error"]
    # asking for someone else while signed in is refused; unsigned is refused
    assert (
        client.get(
            signed("/messages", {"customer_id": str(STOVE_CUSTOMER)}, customer=DEMO_CUSTOMER)
        ).status_code
        == 403
    )
    assert client.get(f"/proxy/messages?shop={SHOP}&logged_in_customer_id={DEMO_CUSTOMER}").status_code == 401
