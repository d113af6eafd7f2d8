"""Guests (checkouts without an account) on SMS, end to end from Shopify's own ``checkouts/create`` sample
(``../shared/fixtures/shopify/webhooks``, its customer removed and its SMS fields set): the checkout mirror keeps
``buyer_accepts_sms_marketing`` and ``sms_marketing_phone``; the guest's record gets the number in E.164 and the
SMS consent (newer wins); a guest who ticked SMS marketing gets the recovery sequence by SMS through the
orchestrator (holdout, quiet hours in the zone of the checkout's address, the contact budget) and the relay, with
the shop's name and "Reply STOP to opt out"; a guest without SMS consent gets none; a phone-only checkout is keyed
by its number; a STOP texted through the Twilio ingress unsubscribes the guest and cancels the rest; a redact
erases the number, an export shows the guest's record."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlmodel import select

from app.channels.sms_loopback import LoopbackTwilio
from app.commerce.privacy import export_customer
from app.config import get_settings
from app.crypto import TokenCipher
from app.db import session_scope
from app.jobs import outbox as relay
from app.jobs.rescue import run_rescue
from app.models.commerce import Checkout, Order, Product, ProductVariant
from app.models.guests import GuestContact, guest_id, guest_phone_id
from app.models.messaging import MessageDecision, OutboxMessage
from app.models.serving import HoldoutPolicy
from app.models.shop import Shop
from app.stores.guests import guest_contacts, guest_purchases
from app.stores.sms import save_sms_settings
from tests.conftest import FIXTURES, needs_shared
from tests.webhook_support import deliver, run_jobs

SAMPLE = FIXTURES / "webhooks" / "checkouts__create.json"
pytestmark = needs_shared(SAMPLE)

DOMAIN = "mugs.myshopify.com"
ACCOUNT, TOKEN, SENDER = "AC" + "b2" * 16, "twilio-auth-token-guests-0123456789", "+15005550006"
SMS_GUEST, PHONE_ONLY, NO_SMS = "+14155552671", "+12025550143", "+16135550123"
# 15:00 UTC (10:00 or 11:00 in Kentucky, the sample's addresses), in the past: a STOP is recorded at the wall clock
NOW = (datetime.now(UTC) - timedelta(days=12)).replace(hour=15, minute=0, second=0, microsecond=0)


@pytest.fixture
def twilio():
    with LoopbackTwilio({ACCOUNT: TOKEN}) as sink:
        yield sink


@pytest.fixture
def shop(jobs_env, twilio, monkeypatch):
    """An installed shop with SMS set up (the loopback as Twilio), the sample's product, no holdout."""
    monkeypatch.setenv("ATTUNE_TWILIO_API_URL", twilio.url)
    monkeypatch.setattr("app.stores.contact_policy.GLOBAL_DEFAULT_SHARE", 0.0)
    get_settings.cache_clear()
    with session_scope(jobs_env.database_url) as s:
        shop = Shop(domain=DOMAIN, access_token_enc="x", installed_at=NOW - timedelta(days=30))
        s.add(shop)
        s.flush()
        s.add(
            Product(
                shop_id=shop.id, shopify_id=632910392, title="IPod Nano - 8GB", handle="ipod", status="active"
            )
        )
        s.add(ProductVariant(shop_id=shop.id, shopify_id=808950810, product_shopify_id=632910392,
                             price=Decimal("199.00"), inventory_quantity=50))  # fmt: skip
        s.add(HoldoutPolicy(shop_id=shop.id, agent="rescue", share=0.0))
        settings = {
            "account_sid": ACCOUNT,
            "from_number": SENDER,
            "shop_name": "Mugs & Co",
            "default_region": "US",
        }
        save_sms_settings(s, TokenCipher(jobs_env.encryption_keys), shop.id, settings, TOKEN)
        s.flush()
        return s.get(Shop, shop.id)


def sample(token: str, at: datetime, **changes) -> dict:
    """Shopify's checkouts/create sample as a guest's checkout: no customer, its own token, ``changes`` applied."""
    body = json.loads(SAMPLE.read_text())
    body.pop("customer")
    body.update(token=token, cart_token=f"cart-{token}", id=abs(hash(token)) % 10**9,
                created_at=at.isoformat(), updated_at=at.isoformat(),
                abandoned_checkout_url=f"https://{DOMAIN}/1/checkouts/{token}/recover?key=k")  # fmt: skip
    body.update(changes)
    return body


def _deliver(client, jobs_env, *payloads: dict, topic: str = "checkouts/create") -> None:
    for body in payloads:
        assert deliver(client, topic, body, shop=DOMAIN).status_code == 200
    run_jobs(jobs_env.redis_url, ("webhooks",))


def _relay(shop_id: int, start: datetime, days: int = 8) -> None:
    for hours in range(0, 24 * days, 6):
        relay.relay_due(shop_id, "sms", now=start + timedelta(hours=hours))


def _firsts(jobs_env) -> dict[str, MessageDecision]:
    with session_scope(jobs_env.database_url) as s:
        return {d.client_id: d for d in s.exec(select(MessageDecision)).all() if d.dedupe_key.endswith(":1")}


def test_a_guest_who_ticked_sms_gets_the_sequence_by_sms_and_one_who_did_not_gets_none(
    client, jobs_env, shop, twilio
):
    t0 = NOW - timedelta(hours=2)
    consented = sample("sms-yes", t0, email="sms@example.com", buyer_accepts_sms_marketing=True,
                       sms_marketing_phone=SMS_GUEST)  # fmt: skip
    refused = sample("sms-no", t0, email="nosms@example.com", buyer_accepts_sms_marketing=False,
                     sms_marketing_phone=NO_SMS)  # fmt: skip
    bad_number = sample("sms-bad", t0, email="bad@example.com", buyer_accepts_sms_marketing=True,
                        sms_marketing_phone="12")  # fmt: skip
    _deliver(client, jobs_env, consented, refused, bad_number)
    with session_scope(jobs_env.database_url) as s:
        row = s.exec(select(Checkout).where(Checkout.token == "sms-yes")).one()
        assert (row.buyer_accepts_sms_marketing, row.sms_marketing_phone) == (True, SMS_GUEST)
        assert (row.country_code, row.province_code) == ("US", "KY")  # the shipping address's

    assert run_rescue(shop.id, now=NOW)["sources"]["guest"] == 3
    yes, no, bad = (guest_id(shop.id, e) for e in ("sms@example.com", "nosms@example.com", "bad@example.com"))
    with session_scope(jobs_env.database_url) as s:
        contacts = {c.guest_key: c for c in s.exec(select(GuestContact)).all()}
    assert (contacts[yes].phone, contacts[yes].sms_state, contacts[yes].email_state) == (
        SMS_GUEST,
        "SUBSCRIBED",
        "NOT_SUBSCRIBED",  # the sample's e-mail box is not ticked
    )
    assert (contacts[no].phone, contacts[no].sms_state) == (NO_SMS, "NOT_SUBSCRIBED")
    assert (contacts[bad].phone, contacts[bad].sms_state) == (None, "NOT_SUBSCRIBED")  # not a number
    firsts = _firsts(jobs_env)
    assert firsts[yes].channel == "sms" and firsts[yes].action in ("send", "defer")
    assert firsts[yes].timezone == "America/New_York"  # Kentucky, from the checkout's address
    assert firsts[no].action == "suppress" and "sms marketing consent is not subscribed" in firsts[no].reason
    assert firsts[bad].action == "suppress" and "no sms address" in firsts[bad].reason

    _relay(shop.id, NOW)
    to = [m.to for m in twilio.messages]
    assert to.count(SMS_GUEST) == 3 and NO_SMS not in to
    body = twilio.messages[0].body
    assert body.startswith("Mugs & Co: ") and body.endswith("Reply STOP to opt out.")
    assert "/1/checkouts/sms-yes/recover?key=k" in body


def test_e_mail_is_the_first_choice_and_sms_the_fallback_within_the_contact_budget(
    client, jobs_env, shop, twilio
):
    t0 = NOW - timedelta(hours=2)
    both = sample("both", t0, email="both@example.com", buyer_accepts_marketing=True,
                  buyer_accepts_sms_marketing=True, sms_marketing_phone=SMS_GUEST)  # fmt: skip
    _deliver(client, jobs_env, both)
    run_rescue(shop.id, now=NOW)
    with session_scope(jobs_env.database_url) as s:
        rows = s.exec(select(OutboxMessage)).all()
        decisions = s.exec(select(MessageDecision)).all()
    assert {r.channel for r in rows} <= {"email"}  # both boxes ticked: e-mail, never both channels
    assert len(decisions) == 3 and all(d.intended_channel == "email" for d in decisions)


def test_a_phone_only_checkout_is_keyed_by_its_number_and_zoned_by_the_shop(client, jobs_env, shop, twilio):
    t0 = NOW - timedelta(hours=2)
    body = sample("phone-only", t0, email=None, phone=PHONE_ONLY, buyer_accepts_sms_marketing=True,
                  sms_marketing_phone=PHONE_ONLY, shipping_address=None, billing_address=None)  # fmt: skip
    _deliver(client, jobs_env, body)
    run_rescue(shop.id, now=NOW)
    key = guest_phone_id(shop.id, PHONE_ONLY)
    assert PHONE_ONLY not in key and key.startswith("guest:") and len(key) == len(guest_id(shop.id, "a@b.c"))
    first = _firsts(jobs_env)[key]
    assert first.channel == "sms" and first.timezone == "UTC"  # no address: the shop's zone
    _relay(shop.id, NOW)
    assert [m.to for m in twilio.messages].count(PHONE_ONLY) == 3


def test_a_stop_texted_to_the_shop_unsubscribes_the_guest_and_outlives_a_late_update(
    client, jobs_env, shop, twilio
):
    t0 = NOW - timedelta(hours=2)
    body = sample("stopper", t0, email="stop@example.com", buyer_accepts_sms_marketing=True,
                  sms_marketing_phone=SMS_GUEST)  # fmt: skip
    _deliver(client, jobs_env, body)
    run_rescue(shop.id, now=NOW)
    with session_scope(jobs_env.database_url) as s:
        first = next(r for r in s.exec(select(OutboxMessage)).all() if r.dedupe_key.endswith(":1"))
    assert relay.relay_message(first.id, now=first.send_at) == "sent"
    assert [m.to for m in twilio.messages] == [SMS_GUEST]

    stop = twilio.inbound(f"https://attune.test/channels/twilio/inbound?shop={DOMAIN}", ACCOUNT, SMS_GUEST,
                          SENDER, "STOP")  # fmt: skip
    assert client.post(stop.path, data=stop.form, headers=stop.headers).status_code == 200
    key = guest_id(shop.id, "stop@example.com")
    # a late delivery of an update from before the STOP does not subscribe the guest again
    _deliver(client, jobs_env, dict(body, updated_at=(t0 + timedelta(minutes=5)).isoformat()),
             topic="checkouts/update")  # fmt: skip
    run_rescue(shop.id, now=NOW + timedelta(hours=1))
    with session_scope(jobs_env.database_url) as s:
        contact = s.exec(select(GuestContact).where(GuestContact.guest_key == key)).one()
        assert contact.sms_state == "UNSUBSCRIBED" and contact.sms_state_updated_at > NOW
    _relay(shop.id, NOW, days=8)
    assert [m.to for m in twilio.messages] == [SMS_GUEST]  # the rest of the sequence is cancelled
    with session_scope(jobs_env.database_url) as s:
        rows = [r for r in s.exec(select(OutboxMessage)).all() if r.client_id == key]
    assert sorted(r.status for r in rows) == ["cancelled", "cancelled", "sent"]
    assert all(
        "sms marketing consent is now unsubscribed" in (r.last_error or "")
        for r in rows
        if r.status != "sent"
    )

    # a checkout updated after the STOP with the box ticked again is a new consent (newer wins)
    later = datetime.now(UTC) + timedelta(minutes=1)
    _deliver(client, jobs_env, dict(body, updated_at=later.isoformat()), topic="checkouts/update")
    run_rescue(shop.id, now=later + timedelta(hours=2))
    with session_scope(jobs_env.database_url) as s:
        assert (
            s.exec(select(GuestContact.sms_state).where(GuestContact.guest_key == key)).one() == "SUBSCRIBED"
        )


def test_the_rescue_holdout_holds_guests_out_on_sms_too(client, jobs_env, shop, twilio):
    with session_scope(jobs_env.database_url) as s:
        row = s.exec(select(HoldoutPolicy).where(HoldoutPolicy.shop_id == shop.id)).one()
        row.share = 1.0
        s.add(row)
    body = sample("held", NOW - timedelta(hours=2), email="held@example.com", buyer_accepts_sms_marketing=True,
                  sms_marketing_phone=SMS_GUEST)  # fmt: skip
    _deliver(client, jobs_env, body)
    run_rescue(shop.id, now=NOW)
    first = _firsts(jobs_env)[guest_id(shop.id, "held@example.com")]
    assert (first.action, first.intended_channel) == ("hold_out", "sms")
    _relay(shop.id, NOW)
    assert twilio.messages == []


def test_a_redact_erases_the_guests_number_and_an_export_shows_their_record(client, jobs_env, shop, twilio):
    t0 = NOW - timedelta(hours=2)
    phone_only = sample("p1", t0, email=None, phone=PHONE_ONLY, buyer_accepts_sms_marketing=True,
                        sms_marketing_phone=PHONE_ONLY)  # fmt: skip
    other = sample("p2", t0, email="friend@example.com", buyer_accepts_sms_marketing=True,
                   sms_marketing_phone=PHONE_ONLY)  # fmt: skip
    kept = sample("p3", t0, email="kept@example.com", buyer_accepts_sms_marketing=True,
                  sms_marketing_phone=SMS_GUEST)  # fmt: skip
    _deliver(client, jobs_env, phone_only, other, kept)
    run_rescue(shop.id, now=NOW)
    with session_scope(jobs_env.database_url) as s:
        doc = export_customer(s, shop.id, 999_002, phone=PHONE_ONLY)
    assert sorted(g["guest_key"] for g in doc["guest_contact"]) == sorted(
        [guest_phone_id(shop.id, PHONE_ONLY), guest_id(shop.id, "friend@example.com")]
    )
    redact = {"shop_id": 1, "shop_domain": DOMAIN, "customer": {"id": 999_002, "phone": PHONE_ONLY},
              "orders_to_redact": []}  # fmt: skip
    _deliver(client, jobs_env, redact, topic="customers/redact")
    with session_scope(jobs_env.database_url) as s:
        contacts = {c.guest_key: c for c in s.exec(select(GuestContact)).all()}
        decided = {d.client_id for d in s.exec(select(MessageDecision)).all()}
        checkouts = {c.token for c in s.exec(select(Checkout)).all()}
    assert (
        guest_phone_id(shop.id, PHONE_ONLY) not in contacts
        and guest_phone_id(shop.id, PHONE_ONLY) not in decided
    )
    friend = contacts[guest_id(shop.id, "friend@example.com")]
    assert (friend.phone, friend.sms_state) == (None, None)  # another address's record loses the number
    assert contacts[guest_id(shop.id, "kept@example.com")].phone == SMS_GUEST
    assert checkouts == {"p3"}  # the checkouts that carried the number are gone


def test_a_phone_only_guests_purchase_is_found_by_number(jobs_env, shop):
    key = guest_phone_id(shop.id, PHONE_ONLY)
    with session_scope(jobs_env.database_url) as s:
        s.add(GuestContact(shop_id=shop.id, guest_key=key, email=None, email_state="NOT_SUBSCRIBED",
                           phone=PHONE_ONLY, sms_state="SUBSCRIBED"))  # fmt: skip
        s.add(Order(shop_id=shop.id, shopify_id=1, phone=PHONE_ONLY, processed_at=NOW, test=False))
        s.add(
            Order(
                shop_id=shop.id,
                shopify_id=2,
                phone=SMS_GUEST,
                processed_at=NOW + timedelta(days=1),
                test=False,
            )
        )
    with session_scope(jobs_env.database_url) as s:
        contacts = guest_contacts(s, shop.id, [key])
        assert guest_purchases(s, shop.id, contacts.values()) == {key: NOW}
