"""The SMS channel end to end, with the real ``twilio`` SDK talking to a loopback stand-in of Twilio's Messages
API: the relay sends a marketing SMS once (E.164, the shop's name, the opt-out line), Twilio's errors are sorted
(429 and 500 retried with backoff, refusals failed with the reason, a timeout after the request went out
``unknown``), and Twilio's signed requests to Attune (status callbacks, incoming STOP / START / HELP and replies)
are verified, recorded, and answered; a forged, missing or oversized one changes nothing."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from redis import Redis
from rq import Queue
from sqlmodel import select

from app import tasks
from app.channels.sms_loopback import LoopbackTwilio, sign
from app.config import get_settings
from app.crypto import TokenCipher
from app.db import session_scope
from app.jobs import outbox as relay
from app.jobs.orchestrate import submit
from app.jobs.sms import write_back_sms_consent
from app.models.commerce import Customer
from app.models.messaging import ContactConsent, ConversationMessage, OutboxMessage
from app.models.shop import Shop
from app.orchestrator.proposal import Content, Proposal, Purpose, Shopper
from app.stores import outbox as outbox_store
from app.stores.sms import save_sms_settings

NOW = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)  # 10:00 in New York
ACCOUNT = "AC" + "a1" * 16
TOKEN = "twilio-auth-token-0123456789abcdef"
SENDER = "+15005550006"
PHONE = "+14155552671"
DOMAIN = "mugs.myshopify.com"


@pytest.fixture
def twilio():
    with LoopbackTwilio({ACCOUNT: TOKEN}) as sink:
        yield sink


@pytest.fixture
def shop_id(jobs_env, twilio, monkeypatch) -> int:
    """A shop with SMS set up (the loopback as Twilio's API) and one SMS-subscribed customer in New York."""
    monkeypatch.setenv("ATTUNE_TWILIO_API_URL", twilio.url)
    get_settings.cache_clear()
    with session_scope(jobs_env.database_url) as s:
        shop = Shop(domain=DOMAIN)
        s.add(shop)
        s.flush()
        s.add(
            Customer(
                shop_id=shop.id,
                shopify_id=7,
                phone=PHONE,
                first_name="Ann",
                default_address={"country_code": "US", "province_code": "NY"},
            )
        )
        s.add(
            ContactConsent(
                shop_id=shop.id,
                customer_shopify_id=7,
                channel="sms",
                state="SUBSCRIBED",
                consent_updated_at=NOW - timedelta(days=30),
            )
        )
        save_sms_settings(
            s,
            TokenCipher(jobs_env.encryption_keys),
            shop.id,
            {"account_sid": ACCOUNT, "from_number": SENDER, "shop_name": "Mugs & Co", "default_region": "US"},
            TOKEN,
        )
        return shop.id


@pytest.fixture(autouse=True)
def _no_holdout(monkeypatch):
    monkeypatch.setattr("app.stores.contact_policy.DEFAULT_MESSAGE_HOLDOUT", 0.0)


def proposal(shop_id: int, **kw) -> Proposal:
    base = dict(
        agent="browse_abandonment",
        shop_id=shop_id,
        shopper=Shopper(customer_id=7),
        purpose=Purpose.MARKETING,
        content=Content("message", {"sms_text": "The Blue mug is still here: https://mugs.test/p/blue"}),
        channels=("sms",),
        earliest=NOW,
        latest=NOW + timedelta(days=2),
        dedupe_key="browse:7:42",
        reason="viewed the Blue mug twice this week",
        expected_value=1.0,
        product_ids=(),
    )
    base.update(kw)
    return Proposal(**base)


def decide(settings, *proposals) -> OutboxMessage:
    with session_scope(settings.database_url) as s:
        submit(s, proposals[0].shop_id, list(proposals), now=NOW)
    with session_scope(settings.database_url) as s:
        return s.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all()[-1]


def row_of(settings, outbox_id: int) -> OutboxMessage:
    with session_scope(settings.database_url) as s:
        return outbox_store.get(s, outbox_id)


def thread_rows(settings) -> list[ConversationMessage]:
    with session_scope(settings.database_url) as s:
        return list(s.exec(select(ConversationMessage).order_by(ConversationMessage.id)).all())


def sms_consent(settings, customer_id: int = 7) -> ContactConsent:
    with session_scope(settings.database_url) as s:
        return s.exec(
            select(ContactConsent).where(
                ContactConsent.customer_shopify_id == customer_id, ContactConsent.channel == "sms"
            )
        ).one()


def set_phone(settings, phone: str) -> None:
    with session_scope(settings.database_url) as s:
        customer = s.exec(select(Customer).where(Customer.shopify_id == 7)).one()
        customer.phone = phone
        s.add(customer)


# --- sending -------------------------------------------------------------------------------------------


def test_a_relayed_marketing_sms_arrives_in_e164_with_the_shop_name_and_opt_out_line(jobs_env, shop_id, twilio):
    set_phone(jobs_env, "(415) 555-2671")  # national format: read with the shop's default region
    row = decide(jobs_env, proposal(shop_id))
    assert relay.relay_message(row.id, now=NOW) == "sent"
    (sms,) = twilio.messages
    assert (sms.account_sid, sms.to, sms.from_) == (ACCOUNT, PHONE, SENDER)
    assert sms.body == "Mugs & Co: The Blue mug is still here: https://mugs.test/p/blue\nReply STOP to opt out."
    assert sms.status_callback == f"https://attune.test/channels/twilio/status?shop={DOMAIN}&outbox={row.id}"
    done = row_of(jobs_env, row.id)
    assert (done.status, done.attempts, done.provider_id) == ("sent", 1, sms.sid)
    (entry,) = thread_rows(jobs_env)
    assert (entry.direction, entry.channel, entry.status, entry.provider_id) == ("out", "sms", "sent", sms.sid)
    assert relay.relay_message(row.id, now=NOW) == "sent" and len(twilio.messages) == 1  # a re-run sends nothing


def test_a_transactional_sms_has_no_opt_out_line(jobs_env, shop_id, twilio):
    row = decide(jobs_env, proposal(shop_id, purpose=Purpose.TRANSACTIONAL, dedupe_key="order:1"))
    assert relay.relay_message(row.id, now=NOW) == "sent"
    assert twilio.messages[0].body == "The Blue mug is still here: https://mugs.test/p/blue"


@pytest.mark.parametrize("fault", [429, 500, 503])
def test_throttling_and_server_errors_are_retried_with_backoff_then_sent(jobs_env, shop_id, twilio, fault):
    twilio.fail_next(fault, times=2)
    row = decide(jobs_env, proposal(shop_id))
    at = NOW
    for attempt in (1, 2):
        assert relay.relay_message(row.id, now=at) == "pending"
        again = row_of(jobs_env, row.id)
        assert again.attempts == attempt and again.send_at > at and f"Twilio answered {fault}" in again.last_error
        assert relay.relay_message(row.id, now=at) == "not due"  # the backoff holds
        at = again.send_at
    assert relay.relay_message(row.id, now=at) == "sent"
    assert len(twilio.messages) == 1 and twilio.state.requests == 3


def test_an_invalid_number_fails_with_the_reason_before_any_request(jobs_env, shop_id, twilio):
    set_phone(jobs_env, "+1 555 0100")
    row = decide(jobs_env, proposal(shop_id))
    assert relay.relay_message(row.id, now=NOW) == "failed"
    failed = row_of(jobs_env, row.id)
    assert failed.last_error.startswith("PermanentError: recipient refused") and "not a valid" in failed.last_error
    assert twilio.state.requests == 0 and thread_rows(jobs_env)[0].status == "failed"


def test_twilio_refusing_the_recipient_fails_at_once_with_its_error_code(jobs_env, shop_id, twilio):
    twilio.unsubscribed.add(PHONE)  # 21610: the number texted STOP to Twilio
    row = decide(jobs_env, proposal(shop_id))
    assert relay.relay_message(row.id, now=NOW) == "failed"
    assert "21610" in row_of(jobs_env, row.id).last_error and twilio.messages == []


def test_twilio_down_is_transient(jobs_env, shop_id, twilio):
    twilio.stop()
    row = decide(jobs_env, proposal(shop_id))
    assert relay.relay_message(row.id, now=NOW) == "pending"
    assert "Twilio unreachable" in row_of(jobs_env, row.id).last_error


def test_a_timeout_after_the_request_went_out_is_unknown_and_never_resent(jobs_env, shop_id, twilio, monkeypatch):
    monkeypatch.setattr("app.channels.sms.TIMEOUT_S", 0.5)
    release = twilio.hold()
    row = decide(jobs_env, proposal(shop_id))
    try:
        assert relay.relay_message(row.id, now=NOW) == "unknown"
    finally:
        release.set()
    assert len(twilio.messages) == 1 and "AmbiguousError" in row_of(jobs_env, row.id).last_error
    relay.sweep_outbox(now=NOW + timedelta(days=1))
    assert relay.relay_message(row.id, now=NOW + timedelta(days=1)) == "unknown" and len(twilio.messages) == 1


def test_429_with_duplicate_relay_jobs_sends_exactly_once(jobs_env, shop_id, twilio):
    """Four relay jobs race for the row at every try while Twilio throttles twice: one message arrives."""
    twilio.fail_next(429, times=2)
    row = decide(jobs_env, proposal(shop_id))
    at, outcomes = NOW, []
    for _ in range(3):
        barrier = threading.Barrier(4)

        def run(when=at):
            barrier.wait()
            outcomes.append(relay.relay_message(row.id, now=when))

        threads = [threading.Thread(target=run) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        at = row_of(jobs_env, row.id).send_at
    done = row_of(jobs_env, row.id)
    assert done.status == "sent" and done.attempts == 3
    assert len(twilio.messages) == 1 and twilio.state.requests == 3
    assert outcomes.count("pending") == 2  # one claim per try; the other jobs found it claimed or not due


# --- segments, numbers and bodies -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoding", "units", "count"),
    [
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("€" * 80, "GSM-7", 160, 1),  # an extension character takes two septets
        ("a" * 152 + "€" + "a" * 152, "GSM-7", 306, 3),  # the escape pair is not split across segments
        ("ж" * 70, "UCS-2", 70, 1),
        ("ж" * 71, "UCS-2", 71, 2),
        ("ж" * 134, "UCS-2", 134, 2),
        ("ж" * 135, "UCS-2", 135, 3),
        ("Hi 😀", "UCS-2", 5, 1),  # an emoji is a surrogate pair and forces UCS-2
        ("a" * 69 + "😀", "UCS-2", 71, 2),
        ("a" * 66 + "😀" + "a" * 66, "UCS-2", 134, 3),  # the surrogate pair is not split
        ("", "GSM-7", 0, 0),
    ],
)
def test_segment_counting(text, encoding, units, count):
    from app.channels.sms_text import Segments, segments

    assert segments(text) == Segments(encoding, units, count)


def test_numbers_and_keywords():
    from app.channels.sms_text import InvalidNumber, e164, keyword

    assert e164("+1 (415) 555-2671") == PHONE
    assert e164("020 7946 0958", "gb") == "+442079460958"
    for bad in ("12345", "not a number", "+1 555 0100", ""):
        with pytest.raises(InvalidNumber):
            e164(bad, "US")
    assert [keyword(w) for w in (" Stop ", "stopall", "UNSUBSCRIBE", "cancel.", "End", "quit")] == ["stop"] * 6
    assert [keyword(w) for w in ("START", "unstop", "Help", "info")] == ["start", "start", "help", "help"]
    assert keyword("stop sending me these") is None and keyword("") is None


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
    yield {**signed.headers, "X-Twilio-Signature": "Zm9yZ2Vk" + signed.headers["X-Twilio-Signature"][8:]}, signed.form
    yield {}, signed.form  # missing
    other = sign(signed.url, signed.form, "another-accounts-token")
    yield other.headers, signed.form  # signed with another token
    yield signed.headers, {**signed.form, "MessageStatus": "failed", "Body": "START"}  # form changed after signing


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


def test_stop_unsubscribes_cancels_pending_marketing_and_queues_the_write_back(jobs_env, client, twilio, shop_id):
    pending = decide(jobs_env, proposal(shop_id))
    response = post(client, inbound(twilio, "Stop"))
    assert response.status_code == 200 and response.mimetype == "text/xml" and b"<Message>" not in response.data
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
