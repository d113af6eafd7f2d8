"""The Channels page API: settings saved and read back with secrets encrypted at rest and masked on the way out,
bad input refused with the field named, every row the token's shop's; and "send a test message": the request
queues a job, the job sends through the real adapter (loopback SMTP, loopback Twilio) and the page reads the
outcome (sent with the provider's id, or failed with the reason)."""

from __future__ import annotations

import pytest
from fixtures_shopify import InstalledShop, LiveApp, make_session_token
from redis import Redis
from rq import Queue
from sqlalchemy import text
from sqlmodel import select

from app import tasks
from app.channels.email import SmtpTarget
from app.channels.email_loopback import LoopbackSmtp
from app.channels.sms_loopback import LoopbackTwilio
from app.config import get_settings
from app.jobs.channel_test import send_test_message
from app.models.messaging import ChannelConfig
from app.web.channel_forms import smtp_url

OTHER = "other-shop.myshopify.com"
PASSWORD = "s3cret-smtp-pass"
ACCOUNT = "AC" + "b2" * 16
TOKEN = "twilio-token-for-admin-tests-7788"
SENDER = "+15005550006"
EMAIL = {
    "from_name": "Mugs & Co",
    "from_address": "hello@mugs.test",
    "postal_address": "1 Harbour Street\nPortsmouth PO1 2AB, UK",
    "reply_to": "help@mugs.test",
}
SMS = {"account_sid": ACCOUNT, "auth_token": TOKEN, "from_number": SENDER, "default_region": "US"}


def call(live: LiveApp, shop: str, method: str, path: str, json=None):
    headers = {"Authorization": f"Bearer {make_session_token(shop)}"}
    return live.client().open(path, method=method, headers=headers, json=json)


@pytest.fixture
def env(live_app: LiveApp, installed_shop: InstalledShop, jobs_env, monkeypatch):
    """Jobs read the environment: the same database and Redis as the live app."""
    return live_app, installed_shop


def test_every_route_needs_a_session_token(live_app: LiveApp):
    c = live_app.client()
    assert c.get("/api/admin/channels").status_code == 401
    assert c.put("/api/admin/channels/email", json=EMAIL).status_code == 401
    assert c.put("/api/admin/channels/sms", json=SMS).status_code == 401
    assert c.post("/api/admin/channels/email/test", json={"to": "a@b.test"}).status_code == 401
    assert c.get("/api/admin/channels/tests/" + "x" * 22).status_code == 401


def test_email_settings_saved_encrypted_and_masked(env, session):
    live, shop = env
    fresh = call(live, shop.domain, "GET", "/api/admin/channels").json
    assert fresh["email"]["configured"] is False and fresh["email"]["ready"] is False
    assert fresh["push"] == {
        "ready": False,
        "vapid_public_key": None,
        "subscriptions": 0,
        "latest_subscription": None,
    }  # not set up: shown gracefully
    url = f"smtp://apikey-user:{PASSWORD}@smtp.mugs.test:2525"
    saved = call(live, shop.domain, "PUT", "/api/admin/channels/email", {**EMAIL, "smtp_url": url})
    assert saved.status_code == 200, saved.json
    email = saved.json["email"]
    assert email["smtp_url"] == "smtp://••••@smtp.mugs.test:2525"
    assert email["settings"]["postal_address"] == EMAIL["postal_address"] and email["ready"] is True
    again = call(live, shop.domain, "GET", "/api/admin/channels")
    for body in (saved.get_data(as_text=True), again.get_data(as_text=True)):
        assert PASSWORD not in body and "apikey-user" not in body
    # at rest: only the ciphertext, in every column of the row
    raw = session.execute(text("SELECT * FROM channel_config")).all()
    assert raw and all(PASSWORD not in str(v) for row in raw for v in row)

    # left out: kept; "" removes it (the shop then has no relay of its own and no default here)
    kept = call(live, shop.domain, "PUT", "/api/admin/channels/email", {**EMAIL, "from_name": "Mugs"}).json
    assert kept["email"]["smtp_url"] == email["smtp_url"] and kept["email"]["settings"]["from_name"] == "Mugs"
    cleared = call(live, shop.domain, "PUT", "/api/admin/channels/email", {**EMAIL, "smtp_url": ""}).json
    assert cleared["email"]["smtp_url"] is None and cleared["email"]["ready"] is False
    assert "SMTP" in cleared["email"]["missing"]

    # the other shop sees none of it
    assert live.install(OTHER).status_code == 200
    theirs = call(live, OTHER, "GET", "/api/admin/channels").json
    assert theirs["email"]["configured"] is False and theirs["email"]["settings"] == {}


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"from_address": "not-an-address"}, "from_address", "not an e-mail address"),
        ({"from_address": "a@b"}, "from_address", "not an e-mail address"),
        ({"reply_to": "x y@z.test"}, "reply_to", "not an e-mail address"),
        ({"smtp_url": "http://smtp.mugs.test"}, "smtp_url", "not http://"),
        ({"smtp_url": "smtp.mugs.test:587"}, "smtp_url", "smtp://"),
        ({"smtp_url": "smtp://:pw@/"}, "smtp_url", "names no server"),
        ({"smtp_url": "smtp://h:99999"}, "smtp_url", "cannot be read"),
        ({"postal_address": ""}, "postal_address", "CAN-SPAM"),
        ({"from_name": "Mugs\r\nBcc: x@evil.test"}, "from_name", "line break"),
        ({"colour": "blue"}, "colour", "unknown field"),
    ],
)
def test_email_settings_refuse_bad_input(env, change, field, words):
    live, shop = env
    response = call(live, shop.domain, "PUT", "/api/admin/channels/email", {**EMAIL, **change})
    assert response.status_code == 400, response.json
    assert response.json["field"] == field and words in response.json["message"]


def test_an_accepted_smtp_url_is_one_the_channel_reads():
    for url in ("smtp://u:p@h.test:587", "smtps://h.test", "smtp+plain://127.0.0.1:2525/"):
        target = SmtpTarget.parse(smtp_url(url))
        assert target.host in ("h.test", "127.0.0.1")


def test_sms_settings_saved_masked_and_validated(env, session):
    live, shop = env
    first = call(live, shop.domain, "PUT", "/api/admin/channels/sms", {**SMS, "auth_token": None})
    assert first.status_code == 400 and first.json["field"] == "auth_token"
    saved = call(
        live, shop.domain, "PUT", "/api/admin/channels/sms", {**SMS, "from_number": "(500) 555-0006"}
    )
    assert saved.status_code == 200, saved.json
    sms = saved.json["sms"]
    assert sms["settings"]["from_number"] == SENDER  # read with the region, stored in E.164
    assert sms["auth_token"] == "••••7788" and sms["ready"] is True
    assert TOKEN not in saved.get_data(as_text=True)
    row = session.exec(select(ChannelConfig).where(ChannelConfig.channel == "sms")).one()
    assert TOKEN not in (row.secret_enc or "") and TOKEN not in str(row.settings)
    kept = call(
        live,
        shop.domain,
        "PUT",
        "/api/admin/channels/sms",
        {k: v for k, v in SMS.items() if k != "auth_token"},
    )
    assert kept.status_code == 200 and kept.json["sms"]["auth_token"] == "••••7788"
    for change, field in [
        ({"account_sid": "AC123"}, "account_sid"),
        ({"from_number": "+1 555"}, "from_number"),
        ({"from_number": None, "messaging_service_sid": None}, "from_number"),
        ({"messaging_service_sid": "MGnope"}, "messaging_service_sid"),
        ({"default_region": "Narnia"}, "default_region"),
        ({"auth_token": "short"}, "auth_token"),
    ]:
        response = call(live, shop.domain, "PUT", "/api/admin/channels/sms", {**SMS, **change})
        assert response.status_code == 400 and response.json["field"] == field, (change, response.json)
    assert (
        call(live, shop.domain, "PUT", "/api/admin/channels/sms", ["not", "an", "object"]).status_code == 400
    )


def test_test_send_refuses_bad_input_and_unready_channels(env):
    live, shop = env
    post = lambda ch, body: call(live, shop.domain, "POST", f"/api/admin/channels/{ch}/test", body)  # noqa: E731
    assert post("email", {"to": "ann@mugs.test"}).status_code == 409  # not set up yet
    assert "Save the settings first" in post("email", {"to": "ann@mugs.test"}).json["message"]
    assert post("email", {"to": "nope"}).json["field"] == "to"
    assert post("email", {"address": "ann@mugs.test"}).status_code == 400
    assert post("sms", {"to": "12"}).status_code == 400
    assert post("fax", {"to": "x"}).status_code == 404
    assert call(live, shop.domain, "GET", "/api/admin/channels/tests/../../etc").status_code == 404
    assert _queued(live) == []


def _queued(live: LiveApp) -> list:
    jobs = Queue("default", connection=Redis.from_url(live.settings.redis_url)).jobs
    return [j for j in jobs if j.func_name == tasks.SEND_TEST_MESSAGE]


def test_email_test_message_through_the_loopback_smtp(env, monkeypatch):
    live, shop = env
    with LoopbackSmtp() as sink:
        assert (
            call(
                live, shop.domain, "PUT", "/api/admin/channels/email", {**EMAIL, "smtp_url": sink.url}
            ).status_code
            == 200
        )
        started = call(live, shop.domain, "POST", "/api/admin/channels/email/test", {"to": "owner@mugs.test"})
        assert started.status_code == 202, started.json
        test = started.json
        assert test["status"] == "queued" and test["status_url"].endswith(test["test_id"])
        (job,) = _queued(live)
        assert job.func_name == tasks.SEND_TEST_MESSAGE and job.args == (shop.id, test["test_id"])
        assert send_test_message(*job.args) == "sent"
        assert send_test_message(*job.args) == "sent"  # a duplicate job sends nothing more
        (received,) = sink.messages
        done = call(live, shop.domain, "GET", test["status_url"]).json
    assert done["status"] == "sent" and done["provider_id"] == "LOOP1"
    message = received.message
    assert received.rcpt_tos == ["owner@mugs.test"] and message["To"] == "owner@mugs.test"
    assert (
        message["Subject"].startswith("Test e-mail from") and "List-Unsubscribe" not in message
    )  # transactional
    assert "your e-mail settings work" in message.get_body(("plain",)).get_content()
    assert message["Message-ID"].startswith(f"<test-{test['test_id']}")
    # scoped: the other shop cannot read this test
    assert live.install(OTHER).status_code == 200
    assert call(live, OTHER, "GET", test["status_url"]).status_code == 404


def test_email_test_message_reports_why_it_failed(env):
    live, shop = env
    sink = LoopbackSmtp().start()
    sink.stop()  # nothing listens there now
    assert (
        call(
            live, shop.domain, "PUT", "/api/admin/channels/email", {**EMAIL, "smtp_url": sink.url}
        ).status_code
        == 200
    )
    test = call(live, shop.domain, "POST", "/api/admin/channels/email/test", {"to": "owner@mugs.test"}).json
    assert send_test_message(shop.id, test["test_id"]) == "failed"
    done = call(live, shop.domain, "GET", test["status_url"]).json
    assert done["status"] == "failed" and "unreachable" in done["error"] and "provider_id" not in done


def test_sms_test_message_through_the_loopback_twilio(env, monkeypatch):
    live, shop = env
    with LoopbackTwilio({ACCOUNT: TOKEN}) as twilio:
        monkeypatch.setenv("ATTUNE_TWILIO_API_URL", twilio.url)
        get_settings.cache_clear()
        assert call(live, shop.domain, "PUT", "/api/admin/channels/sms", SMS).status_code == 200
        ok = call(live, shop.domain, "POST", "/api/admin/channels/sms/test", {"to": "(415) 555-2671"}).json
        assert ok["recipient"] == "+14155552671"  # read with the shop's region
        assert send_test_message(shop.id, ok["test_id"]) == "sent"
        (sent,) = twilio.messages
        assert sent.to == "+14155552671" and sent.from_ == SENDER and "Reply STOP" not in sent.body
        done = call(live, shop.domain, "GET", ok["status_url"]).json
        assert done["status"] == "sent" and done["provider_id"] == sent.sid

        # a wrong auth token: Twilio's refusal is the reason the page shows
        bad = {**SMS, "auth_token": "a-wrong-token-0123456789"}
        assert call(live, shop.domain, "PUT", "/api/admin/channels/sms", bad).status_code == 200
        test = call(live, shop.domain, "POST", "/api/admin/channels/sms/test", {"to": "+14155552671"}).json
        assert send_test_message(shop.id, test["test_id"]) == "failed"
        failed = call(live, shop.domain, "GET", test["status_url"]).json
    assert failed["status"] == "failed" and "401" in failed["error"]
    assert len(twilio.messages) == 1
