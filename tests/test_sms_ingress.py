"""Twilio's signed requests to Attune: status callbacks recorded on the outbox row, incoming STOP / START / HELP
and replies recorded in the thread and answered, the consent written back to Shopify by a job (skipped without
``write_customers``); a forged, missing or oversized request gets 403 / 413 and changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from redis import Redis
from rq import Queue

from app import tasks
from app.channels.sms_loopback import sign
from app.config import get_settings
from app.db import session_scope
from app.jobs import outbox as relay
from app.jobs.sms import write_back_sms_consent
from app.models.messaging import ContactConsent
from app.models.shop import Shop
from tests import sms_support
from tests.sms_support import (
    ACCOUNT,
    DOMAIN,
    NOW,
    PHONE,
    SENDER,
    TOKEN,
    decide,
    proposal,
    row_of,
    sms_consent,
    thread_rows,
)

twilio = sms_support.twilio  # fixtures
shop_id = sms_support.shop_id
no_holdout = sms_support.no_holdout
pytestmark = pytest.mark.usefixtures("no_holdout")  # every message is treated, none held out


# --- Twilio's requests to Attune --------------------------------------------------------------------------


def post(client, signed):
    return client.post(signed.path, data=signed.form, headers=signed.headers)


def inbound(twilio, body: str, sender: str = PHONE):
    url = f"https://attune.test/channels/twilio/inbound?shop={DOMAIN}"
    return twilio.inbound(url, ACCOUNT, sender, SENDER, body)


@pytest.fixture
def sent(jobs_env, shop_id, twilio):
    """A marketing SMS the relay sent."""
    row = decide(jobs_env, proposal(shop_id))
    assert relay.relay_message(row.id, now=NOW) == "sent"
    return row_of(jobs_env, row.id)


def test_status_callbacks_record_delivery_on_the_outbox_row(jobs_env, client, twilio, sent):
    sid = sent.provider_id
    assert post(client, twilio.status_callback(sid, "sent")).status_code == 204
    assert row_of(jobs_env, sent.id).delivery_status == "sent"
    assert post(client, twilio.status_callback(sid, "delivered")).status_code == 204
    assert post(client, twilio.status_callback(sid, "sent")).status_code == 204  # late, out of order
    done = row_of(jobs_env, sent.id)
    assert (done.status, done.delivery_status) == ("sent", "delivered")
    assert thread_rows(jobs_env)[0].status == "delivered"


def test_an_undelivered_callback_keeps_twilios_error_code(jobs_env, client, twilio, sent):
    assert post(client, twilio.status_callback(sent.provider_id, "undelivered", 30003)).status_code == 204
    done = row_of(jobs_env, sent.id)
    assert (done.delivery_status, done.delivery_error) == ("undelivered", "30003")
    assert thread_rows(jobs_env)[0].status == "undelivered"


def _forgeries(signed):
    yield (
        {**signed.headers, "X-Twilio-Signature": "Zm9yZ2Vk" + signed.headers["X-Twilio-Signature"][8:]},
        signed.form,
    )
    yield {}, signed.form  # missing
    other = sign(signed.url, signed.form, "another-accounts-token")
    yield other.headers, signed.form  # signed with another token
    yield (
        signed.headers,
        {**signed.form, "MessageStatus": "failed", "Body": "START"},
    )  # form changed after signing


def test_forged_or_missing_signatures_get_403_and_change_nothing(jobs_env, client, twilio, sent):
    before = row_of(jobs_env, sent.id)
    for signed in (twilio.status_callback(sent.provider_id, "failed"), inbound(twilio, "STOP")):
        for headers, form in _forgeries(signed):
            assert client.post(signed.path, data=form, headers=headers).status_code == 403
    other_shop = twilio.status_callback(sent.provider_id, "failed")
    wrong_url = sign(other_shop.url.replace(DOMAIN, "other.myshopify.com"), other_shop.form, TOKEN)
    assert post(client, wrong_url).status_code == 403
    after = row_of(jobs_env, sent.id)
    assert after.delivery_status is None and after.updated_at == before.updated_at
    assert [e.direction for e in thread_rows(jobs_env)] == ["out"]
    assert sms_consent(jobs_env).state == "SUBSCRIBED"


def test_an_oversized_body_gets_413_and_changes_nothing(jobs_env, client, twilio, shop_id):
    signed = inbound(twilio, "x" * 70_000)
    assert post(client, signed).status_code == 413
    assert thread_rows(jobs_env) == []


def test_stop_unsubscribes_cancels_pending_marketing_and_queues_the_write_back(
    jobs_env, client, twilio, shop_id
):
    pending = decide(jobs_env, proposal(shop_id))
    response = post(client, inbound(twilio, "Stop"))
    assert (
        response.status_code == 200 and response.mimetype == "text/xml" and b"<Message>" not in response.data
    )
    consent = sms_consent(jobs_env)
    assert (consent.state, consent.source) == ("UNSUBSCRIBED", "attune")
    jobs = Queue("default", connection=Redis.from_url(jobs_env.redis_url)).jobs
    assert [(j.func_name, j.args) for j in jobs if j.func_name == tasks.WRITE_BACK_SMS_CONSENT] == [
        (tasks.WRITE_BACK_SMS_CONSENT, (shop_id, 7))
    ]
    assert relay.relay_message(pending.id, now=NOW) == "cancelled" and twilio.messages == []
    entry = [e for e in thread_rows(jobs_env) if e.direction == "in"][0]
    assert (entry.shopper_key, entry.channel, entry.summary) == ("customer:7", "sms", "Stop")


def test_start_subscribes_again(jobs_env, client, twilio, shop_id):
    assert post(client, inbound(twilio, "STOP")).status_code == 200
    assert post(client, inbound(twilio, "start")).status_code == 200
    consent = sms_consent(jobs_env)
    assert (consent.state, consent.opt_in_level) == ("SUBSCRIBED", "SINGLE_OPT_IN")


def test_help_is_answered_in_the_response_and_kept_in_the_thread(jobs_env, client, twilio, shop_id):
    response = post(client, inbound(twilio, "HELP"))
    assert response.status_code == 200
    assert b"<Response><Message>Mugs &amp; Co: for help, reply here" in response.data
    assert [(e.direction, e.status) for e in thread_rows(jobs_env)] == [("in", "received"), ("out", "sent")]
    assert sms_consent(jobs_env).state == "SUBSCRIBED"


def test_other_replies_join_the_thread_once_even_when_twilio_retries(jobs_env, client, twilio, shop_id):
    signed = inbound(twilio, "Do you have it in green?")
    assert post(client, signed).status_code == 200
    assert post(client, signed).status_code == 200  # Twilio's retry of the same message
    (entry,) = thread_rows(jobs_env)
    assert (entry.shopper_key, entry.customer_shopify_id, entry.direction) == ("customer:7", 7, "in")
    assert entry.summary == "Do you have it in green?" and entry.provider_id == signed.form["MessageSid"]


def test_an_unknown_numbers_reply_gets_200_and_is_recorded(jobs_env, client, twilio, shop_id):
    for body in ("who is this?", "STOP"):
        assert post(client, inbound(twilio, body, sender="+12125550123")).status_code == 200
    assert [(e.shopper_key, e.customer_shopify_id, e.summary) for e in thread_rows(jobs_env)] == [
        ("phone:+12125550123", None, "who is this?"),
        ("phone:+12125550123", None, "STOP"),
    ]
    assert sms_consent(jobs_env).state == "SUBSCRIBED"  # not Ann's number


# --- writing the consent back to Shopify ------------------------------------------------------------------


@pytest.fixture
def shopify_shop(jobs_env, live_app, installed_shop, monkeypatch):
    """The installed shop with customer 7 in the fake Shopify (SMS subscribed) and UNSUBSCRIBED in the mirror."""
    monkeypatch.setenv("SHOPIFY_ADMIN_ORIGIN_TEMPLATE", live_app.fake.origin_template)
    get_settings.cache_clear()
    store = live_app.fake.seed(
        installed_shop.domain, customers=[{"id": 7, "phone": PHONE, "sms_marketing": "SUBSCRIBED"}]
    )
    with session_scope(jobs_env.database_url) as s:
        s.add(
            ContactConsent(
                shop_id=installed_shop.id,
                customer_shopify_id=7,
                channel="sms",
                state="UNSUBSCRIBED",
                source="attune",
                consent_updated_at=datetime.now(UTC),
            )
        )
    return installed_shop, store.customers["gid://shopify/Customer/7"]["defaultPhoneNumber"]


def grant(settings, shop_id: int, scopes: str) -> None:
    with session_scope(settings.database_url) as s:
        shop = s.get(Shop, shop_id)
        shop.scopes = scopes
        s.add(shop)


def test_the_write_back_sets_the_consent_in_shopify(jobs_env, shopify_shop):
    shop, phone = shopify_shop
    grant(jobs_env, shop.id, "read_customers,write_customers,read_orders")
    assert write_back_sms_consent(shop.id, 7) == "written UNSUBSCRIBED"
    assert phone["marketingState"] == "UNSUBSCRIBED"
    assert write_back_sms_consent(shop.id, 7) == "written UNSUBSCRIBED"  # a duplicate job is harmless


def test_without_write_customers_the_write_back_is_skipped_without_error(jobs_env, shopify_shop):
    shop, phone = shopify_shop
    grant(jobs_env, shop.id, "read_customers,read_orders")
    assert write_back_sms_consent(shop.id, 7) == "skipped: write_customers not granted"
    assert phone["marketingState"] == "SUBSCRIBED"
