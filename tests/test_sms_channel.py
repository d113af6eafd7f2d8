"""The SMS channel's sending side, with the real ``twilio`` SDK talking to a loopback stand-in of Twilio's
Messages API: the relay sends a marketing SMS once (E.164, the shop's name, the opt-out line), and Twilio's errors
are sorted (429 and 5xx retried with backoff, refusals failed with the reason, a timeout after the request went
out ``unknown``, duplicate jobs under throttling sending once). And segment counting, numbers and keywords."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from app.channels.sms_text import InvalidNumber, Segments, e164, keyword, segments
from app.jobs import outbox as relay
from app.orchestrator.proposal import Purpose
from tests import sms_support
from tests.sms_support import (
    ACCOUNT,
    DOMAIN,
    NOW,
    PHONE,
    SENDER,
    decide,
    proposal,
    row_of,
    set_phone,
    thread_rows,
)

twilio = sms_support.twilio  # fixtures
shop_id = sms_support.shop_id
no_holdout = sms_support.no_holdout
pytestmark = pytest.mark.usefixtures("no_holdout")  # every message is treated, none held out

# --- sending -------------------------------------------------------------------------------------------


def test_a_relayed_marketing_sms_arrives_in_e164_with_the_shop_name_and_opt_out_line(
    jobs_env, shop_id, twilio
):
    set_phone(jobs_env, "(415) 555-2671")  # national format: read with the shop's default region
    row = decide(jobs_env, proposal(shop_id))
    assert relay.relay_message(row.id, now=NOW) == "sent"
    (sms,) = twilio.messages
    assert (sms.account_sid, sms.to, sms.from_) == (ACCOUNT, PHONE, SENDER)
    assert (
        sms.body == "Mugs & Co: The Blue mug is still here: https://mugs.test/p/blue\nReply STOP to opt out."
    )
    assert sms.status_callback == f"https://attune.test/channels/twilio/status?shop={DOMAIN}&outbox={row.id}"
    done = row_of(jobs_env, row.id)
    assert (done.status, done.attempts, done.provider_id) == ("sent", 1, sms.sid)
    (entry,) = thread_rows(jobs_env)
    assert (entry.direction, entry.channel, entry.status, entry.provider_id) == (
        "out",
        "sms",
        "sent",
        sms.sid,
    )
    assert (
        relay.relay_message(row.id, now=NOW) == "sent" and len(twilio.messages) == 1
    )  # a re-run sends nothing


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
        assert (
            again.attempts == attempt
            and again.send_at > at
            and f"Twilio answered {fault}" in again.last_error
        )
        assert relay.relay_message(row.id, now=at) == "not due"  # the backoff holds
        at = again.send_at
    assert relay.relay_message(row.id, now=at) == "sent"
    assert len(twilio.messages) == 1 and twilio.state.requests == 3


def test_an_invalid_number_fails_with_the_reason_before_any_request(jobs_env, shop_id, twilio):
    set_phone(jobs_env, "+1 555 0100")
    row = decide(jobs_env, proposal(shop_id))
    assert relay.relay_message(row.id, now=NOW) == "failed"
    failed = row_of(jobs_env, row.id)
    assert (
        failed.last_error.startswith("PermanentError: recipient refused")
        and "not a valid" in failed.last_error
    )
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


def test_a_timeout_after_the_request_went_out_is_unknown_and_never_resent(
    jobs_env, shop_id, twilio, monkeypatch
):
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

        def run(when=at, barrier=barrier):
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
    assert segments(text) == Segments(encoding, units, count)


def test_numbers_and_keywords():
    assert e164("+1 (415) 555-2671") == PHONE
    assert e164("020 7946 0958", "gb") == "+442079460958"
    for bad in ("12345", "not a number", "+1 555 0100", ""):
        with pytest.raises(InvalidNumber):
            e164(bad, "US")
    assert [keyword(w) for w in (" Stop ", "stopall", "UNSUBSCRIBE", "cancel.", "End", "quit")] == [
        "stop"
    ] * 6
    assert [keyword(w) for w in ("START", "unstop", "Help", "info")] == ["start", "start", "help", "help"]
    assert keyword("stop sending me these") is None and keyword("") is None


def test_a_batch_of_sms_goes_over_one_kept_alive_connection(jobs_env, shop_id, twilio):
    """The relay's batch holds the client's connection open: three messages, one HTTP connection; outside a
    batch each message opens its own."""
    from app.channels.base import OutgoingMessage, Sender
    from app.channels.sms import SmsChannel

    def outgoing_for(n: int) -> OutgoingMessage:
        return OutgoingMessage(
            outbox_id=n,
            shop_id=shop_id,
            purpose="transactional",
            template="message",
            data={"sms_text": f"Order {n} shipped"},
            recipient=PHONE,
            sender=Sender(shop_name="Mugs", from_name="Mugs", from_address=""),
        )

    channel = SmsChannel(ACCOUNT, sms_support.TOKEN, from_number=SENDER, api_base_url=twilio.url)
    with channel.hold():
        for n in range(3):
            channel.send(outgoing_for(n))
    assert len(twilio.messages) == 3 and twilio.connections == 1
    channel.send(outgoing_for(3))
    channel.send(outgoing_for(4))
    assert len(twilio.messages) == 5 and twilio.connections == 3


def test_the_sms_sinks_printed_url_shows_the_messages_it_took(shop_id, twilio):
    """The demo prints the stand-in's URL: a browser opening it sees every message it accepted, escaped, newest
    first; any other path is Twilio's 404."""
    import requests

    from app.channels.base import OutgoingMessage, Sender
    from app.channels.sms import SmsChannel

    assert "Nothing received yet" in requests.get(twilio.url + "/", timeout=5).text
    channel = SmsChannel(ACCOUNT, sms_support.TOKEN, from_number=SENDER, api_base_url=twilio.url)
    for text in ("Order 1 shipped", "<b>Order 2</b> shipped"):
        channel.send(
            OutgoingMessage(
                outbox_id=1,
                shop_id=shop_id,
                purpose="transactional",
                template="message",
                data={"sms_text": text},
                recipient=PHONE,
                sender=Sender(shop_name="Mugs", from_name="Mugs", from_address=""),
            )  # fmt: skip
        )
    page = requests.get(twilio.url + "/", timeout=5)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "2 received." in page.text and PHONE in page.text
    assert "&lt;b&gt;Order 2&lt;/b&gt; shipped" in page.text and "<b>Order 2" not in page.text
    assert page.text.index("Order 2") < page.text.index("Order 1")  # newest first
    assert requests.get(twilio.url + "/2010-04-01/nothing", timeout=5).status_code == 404
