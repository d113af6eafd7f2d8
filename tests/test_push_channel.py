"""Web push through the real relay to a real push service on loopback (``app.channels.push_loopback``), which
checks the VAPID signature and decrypts each payload with the subscription's private key (RFC 8291): the
round trip, gone subscriptions deleted, throttling retried, the signature verified, and consent as the
subscription itself (an anonymous browser that opted in is reachable; one that turned push off is not)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec
from sqlmodel import select

from app.channels.base import OutgoingMessage, PermanentError, Sender
from app.channels.push import PushChannel, PushTarget
from app.channels.push_loopback import LoopbackPush
from app.channels.vapid import generate
from app.crypto import TokenCipher
from app.db import session_scope
from app.jobs import outbox as relay
from app.models.commerce import Customer
from app.models.messaging import PushSubscription
from app.models.shop import Shop
from app.orchestrator.proposal import Action, Content, Proposal, Shopper
from app.stores import outbox as outbox_store
from app.stores import push as push_store
from app.stores.conversation import thread
from tests.messaging_support import decide_all, make_proposal

NOW = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)  # 10:00 in New York


@pytest.fixture(autouse=True)
def _no_holdout(monkeypatch):
    monkeypatch.setattr("app.stores.contact_policy.DEFAULT_MESSAGE_HOLDOUT", 0.0)


@pytest.fixture
def service():
    with LoopbackPush() as s:
        yield s


@pytest.fixture
def shop(jobs_env):
    """A shop with its VAPID keys and one customer (no e-mail consent: push is their only channel)."""
    with session_scope(jobs_env.database_url) as s:
        shop = Shop(domain="mugs.myshopify.com")
        s.add(shop)
        s.flush()
        s.add(
            Customer(
                shop_id=shop.id, shopify_id=7, default_address={"country_code": "US", "province_code": "NY"}
            )
        )
        key = push_store.ensure_vapid(s, TokenCipher(jobs_env.encryption_keys), shop.id)
        return shop.id, key


def browser(settings, service, shop, *, customer_id=7, client_id=None, server_key=None):
    """A browser subscribes (as the assistant's button does) and the subscription is stored."""
    shop_id, key = shop
    sub = service.new_subscription(application_server_key=server_key or key)
    with session_scope(settings.database_url) as s:
        row, _ = push_store.subscribe(
            s,
            shop_id,
            sub["endpoint"],
            sub["keys"]["p256dh"],
            sub["keys"]["auth"],
            customer_id=customer_id,
            client_id=client_id,
        )
        return sub, row.id


def proposal(shop_id: int, **kw) -> Proposal:
    content = Content(
        "message",
        {
            "subject": "Still thinking about the Blue mug?",
            "paragraphs": ["It is back in stock in your size."],
            "cta_url": "https://mugs.test/products/blue",
        },
    )
    defaults = {"content": content, "channels": ("push",), "latest": NOW + timedelta(hours=6)}
    return make_proposal(shop_id, NOW, **{**defaults, **kw})


def decide(settings, *proposals, now=NOW):
    return decide_all(settings, list(proposals), now)


def row_of(settings, outbox_id):
    with session_scope(settings.database_url) as s:
        return outbox_store.get(s, outbox_id)


def subscriptions(settings) -> list[int]:
    with session_scope(settings.database_url) as s:
        return [r.id for r in s.exec(select(PushSubscription).order_by(PushSubscription.id)).all()]


def test_a_push_goes_through_the_relay_encrypted_and_signed(jobs_env, shop, service):
    shop_id, key = shop
    sub, _ = browser(jobs_env, service, shop)
    (d,), (row,) = decide(jobs_env, proposal(shop_id))
    assert d.action is Action.SEND and d.channel == "push" and row.latest_at == NOW + timedelta(hours=6)
    assert relay.relay_message(row.id, now=NOW) == "sent"
    (got,) = service.received
    assert got.json() == {
        "title": "Still thinking about the Blue mug?",
        "body": "It is back in stock in your size.",
        "url": "https://mugs.test/products/blue",
        "tag": f"attune-{row.id}",
    }
    assert got.vapid_key == key and got.claims["aud"] == service.url
    assert got.claims["sub"] == "https://attune.test"  # no e-mail sender set up: the app's https URL
    assert got.ttl == 6 * 3600 and got.urgency == "normal"
    assert sub["endpoint"].endswith(got.token)
    done = row_of(jobs_env, row.id)
    assert (done.status, done.provider_id) == ("sent", f"{service.url}/message/1")
    with session_scope(jobs_env.database_url) as s:
        (entry,) = thread(s, shop_id, "customer:7")
        assert (entry.channel, entry.status) == ("push", "sent")
    assert relay.relay_message(row.id, now=NOW) == "sent" and len(service.received) == 1


def test_410_deletes_the_subscription_and_fails_the_message(jobs_env, shop, service):
    shop_id, _ = shop
    sub, _ = browser(jobs_env, service, shop)
    (_,), (row,) = decide(jobs_env, proposal(shop_id))
    service.expire(sub["endpoint"])
    assert relay.relay_message(row.id, now=NOW) == "failed"
    assert "gone" in row_of(jobs_env, row.id).last_error and service.received == []
    assert subscriptions(jobs_env) == []
    # with no subscription left the shopper is no longer reachable by push
    (d,), _ = decide(jobs_env, proposal(shop_id, dedupe_key="browse:7:43"))
    assert d.action is Action.SUPPRESS and "no push address" in d.reason


def test_one_gone_browser_is_forgotten_while_the_other_gets_the_message(jobs_env, shop, service):
    shop_id, _ = shop
    old, old_id = browser(jobs_env, service, shop)
    _, new_id = browser(jobs_env, service, shop)
    service.expire(old["endpoint"])
    (_,), (row,) = decide(jobs_env, proposal(shop_id))
    assert relay.relay_message(row.id, now=NOW) == "sent"
    assert len(service.received) == 1 and subscriptions(jobs_env) == [new_id] and old_id != new_id


def test_429_and_5xx_are_retried_with_backoff_then_sent_once(jobs_env, shop, service):
    shop_id, _ = shop
    browser(jobs_env, service, shop)
    (_,), (row,) = decide(jobs_env, proposal(shop_id))
    service.answer_next(429)
    assert relay.relay_message(row.id, now=NOW) == "pending"
    waiting = row_of(jobs_env, row.id)
    assert waiting.send_at == NOW + timedelta(seconds=30) and "429" in waiting.last_error
    assert relay.relay_message(row.id, now=NOW) == "not due"
    service.answer_next(503)
    later = NOW + timedelta(seconds=31)
    assert relay.relay_message(row.id, now=later) == "pending"
    assert relay.relay_message(row.id, now=later + timedelta(minutes=3)) == "sent"
    assert len(service.received) == 1 and row_of(jobs_env, row.id).attempts == 3
    assert subscriptions(jobs_env)  # throttling never deletes a subscription


def test_a_push_service_that_is_down_is_a_transient_error(jobs_env, shop):
    shop_id, _ = shop
    with LoopbackPush() as gone_service:
        browser(jobs_env, gone_service, shop)
    (_,), (row,) = decide(jobs_env, proposal(shop_id))
    assert relay.relay_message(row.id, now=NOW) == "pending"
    assert "unreachable" in row_of(jobs_env, row.id).last_error


def test_the_vapid_signature_is_checked(jobs_env, shop, service):
    shop_id, key = shop
    # a subscription made for another application server key refuses our signature
    browser(jobs_env, service, shop, server_key=generate().public_key)
    (_,), (row,) = decide(jobs_env, proposal(shop_id))
    assert relay.relay_message(row.id, now=NOW) == "failed"
    assert "403" in row_of(jobs_env, row.id).last_error and service.received == []
    assert service.rejected[-1][0] == 403
    # the stand-in itself refuses a forged JWT, an expired one and a wrong audience
    sub = service.new_subscription()
    own = ec.generate_private_key(ec.SECP256R1())
    forged = jwt.encode(
        {"aud": service.url, "exp": int(NOW.timestamp()) + 3600, "sub": "mailto:a@b.c"}, own, "ES256"
    )
    for token in (forged, "not.a.jwt"):
        answer = requests.post(
            sub["endpoint"],
            data=b"x",
            headers={
                "Authorization": f"vapid t={token}, k={key}",
                "TTL": "60",
                "Content-Encoding": "aes128gcm",
            },
            timeout=5,
        )
        assert answer.status_code == 401
    assert len(service.rejected) == 3


def test_the_payload_is_really_encrypted_for_that_browser(jobs_env, shop, service):
    """The stand-in decrypts with the subscription's private key: a message encrypted for another browser's
    keys does not decrypt there (400), so a passing round trip proves RFC 8291 encryption."""
    shop_id, _ = shop
    mine = service.new_subscription()
    other = service.new_subscription()
    with session_scope(jobs_env.database_url) as s:
        keys = push_store.vapid_keys(s, TokenCipher(jobs_env.encryption_keys), shop_id)
    channel = PushChannel(keys.private_pem, "mailto:hello@mugs.test")
    crossed = PushTarget("1", mine["endpoint"], other["keys"]["p256dh"], other["keys"]["auth"])
    message = OutgoingMessage(
        outbox_id=1,
        shop_id=shop_id,
        purpose="marketing",
        template="message",
        data={"subject": "Hi"},
        recipient="customer:7",
        sender=Sender("Mugs", "Mugs", ""),
        extra={"subscriptions": (crossed,)},
    )
    with pytest.raises(PermanentError, match="400"):
        channel.send(message)
    assert service.received == [] and "does not decrypt" in service.rejected[-1][1]


def test_an_anonymous_browser_that_opted_in_is_reachable_and_turning_off_cancels(jobs_env, shop, service):
    shop_id, _ = shop
    sub, _ = browser(jobs_env, service, shop, customer_id=None, client_id="c-1")
    night = datetime(2026, 12, 8, 4, 0, tzinfo=UTC)  # shop time zone UTC: 04:00 is quiet
    anon = proposal(
        shop_id,
        shopper=Shopper(client_id="c-1"),
        dedupe_key="browse:c-1",
        earliest=night,
        latest=night + timedelta(days=1),
    )
    (d,), (row,) = decide(jobs_env, anon, now=night)
    assert d.action is Action.DEFER and d.channel == "push"
    with session_scope(jobs_env.database_url) as s:
        assert push_store.unsubscribe(s, shop_id, sub["endpoint"])
    assert relay.relay_message(row.id, now=row.send_at) == "cancelled"
    assert "turned push notifications off" in row_of(jobs_env, row.id).last_error and service.received == []


def test_an_unsubscribed_shopper_gets_no_marketing_push(jobs_env, shop, service):
    shop_id, _ = shop
    (d,), rows = decide(jobs_env, proposal(shop_id))
    assert d.action is Action.SUPPRESS and rows == [] and "push" in d.reason


def test_the_notification_payload_is_json_within_the_push_size_limit(jobs_env, shop, service):
    shop_id, _ = shop
    browser(jobs_env, service, shop)
    long = proposal(shop_id, content=Content("message", {"subject": "S" * 500, "paragraphs": ["B" * 5000]}))
    (_,), (row,) = decide(jobs_env, long)
    assert relay.relay_message(row.id, now=NOW) == "sent"
    body = service.received[0].json()
    assert len(body["title"]) == 120 and len(body["body"]) == 400 and body["url"] == "/"
    assert len(json.dumps(body)) < 3000


def test_the_push_sinks_printed_url_shows_what_it_decrypted(jobs_env, shop, service):
    """The demo prints the stand-in's URL: a browser opening it sees each decrypted push; any other path is a
    404."""
    page = requests.get(service.url + "/", timeout=5)
    assert page.status_code == 200 and "Nothing received yet" in page.text
    shop_id, _ = shop
    browser(jobs_env, service, shop)
    (_, (row,)) = decide(jobs_env, proposal(shop_id))
    assert relay.relay_message(row.id, now=NOW) == "sent"
    page = requests.get(service.url + "/", timeout=5)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "1 received." in page.text and "Still thinking about the Blue mug?" in page.text
    assert requests.get(service.url + "/elsewhere", timeout=5).status_code == 404
