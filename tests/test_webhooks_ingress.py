"""POST /webhooks: verification, limits, dedupe, dropping, and the Redis/database-down paths."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import TEST_PREVIOUS_SECRET
from sqlmodel import select
from webhook_support import (
    DATA_WEBHOOKS,
    client_for,
    deliver,
    make_shop,
    run_jobs,
)

from app import create_app
from app.models.commerce import Order
from app.models.inbox import DONE, DROPPED, PENDING, WebhookInbox
from app.shopify.verify import webhook_hmac
from webhooks.inbox_jobs import UNQUEUED_AFTER_S, sweep_inbox
from webhooks.ingest import writer_for

ORDER = (DATA_WEBHOOKS / "orders__create.json").read_bytes()


@pytest.fixture(params=["fast", "flask"])
def path(request) -> str:
    """Every test here runs through the WSGI fast path and through the Flask route alone."""
    return request.param


@pytest.fixture
def client(app, path):
    return client_for(app, path)


def _inbox(session):
    session.expire_all()
    return list(session.exec(select(WebhookInbox).order_by(WebhookInbox.id)))


@pytest.mark.usefixtures("jobs_env")
def test_accepted_then_processed_by_a_worker(settings, client, session):
    make_shop(session)
    r = deliver(client, "orders/create", ORDER, event_id="evt-1")
    assert r.status_code == 200 and r.json["status"] == "accepted"
    [row] = _inbox(session)
    assert row.status == PENDING and row.topic == "orders/create" and row.event_id == "evt-1"
    run_jobs(settings.redis_url)
    [row] = _inbox(session)
    assert row.status == DONE and row.attempts == 1
    order = session.exec(select(Order)).one()
    assert order.shopify_id == 9007199254740993123  # > 2**63 / 2: kept exact end to end


@pytest.mark.usefixtures("jobs_env")
def test_duplicate_delivery_adds_no_row_and_no_effect(settings, client, session):
    make_shop(session)
    assert deliver(client, "orders/create", ORDER, event_id="evt-dup").json["status"] == "accepted"
    run_jobs(settings.redis_url)
    again = deliver(client, "orders/create", ORDER, event_id="evt-dup")
    assert again.status_code == 200 and again.json["status"] == "duplicate"
    assert len(_inbox(session)) == 1
    run_jobs(settings.redis_url)
    assert len(session.exec(select(Order)).all()) == 1


def test_webhook_id_is_the_key_when_event_id_is_absent(client, session):
    make_shop(session)
    h = {"X-Shopify-Event-Id": None, "X-Shopify-Webhook-Id": "wh-1"}
    assert deliver(client, "orders/create", ORDER, headers=h).json["status"] == "accepted"
    assert deliver(client, "orders/create", ORDER, headers=h).json["status"] == "duplicate"
    assert [r.event_id for r in _inbox(session)] == ["wh-1"]


def test_same_event_id_in_two_shops_is_two_events(client, session):
    make_shop(session, "alpha.myshopify.com")
    make_shop(session, "beta.myshopify.com")
    assert (
        deliver(client, "orders/create", ORDER, shop="alpha.myshopify.com", event_id="e").status_code == 200
    )
    assert (
        deliver(client, "orders/create", ORDER, shop="beta.myshopify.com", event_id="e").json["status"]
        == "accepted"
    )
    assert len(_inbox(session)) == 2


def test_bad_or_missing_hmac_is_401_and_records_nothing(client, session):
    make_shop(session)
    assert deliver(client, "orders/create", ORDER, secret="wrong-secret").status_code == 401
    assert deliver(client, "orders/create", ORDER, headers={"X-Shopify-Hmac-Sha256": None}).status_code == 401
    tampered = client.post(
        "/webhooks",
        data=ORDER + b" ",
        headers={
            "X-Shopify-Topic": "orders/create",
            "X-Shopify-Shop-Domain": "alpha.myshopify.com",
            "X-Shopify-Event-Id": "x",
            "X-Shopify-Hmac-Sha256": webhook_hmac(ORDER, "test-api-secret-0123456789abcdef"),
        },
    )
    assert tampered.status_code == 401 and tampered.json["error"] == "unauthorized"
    assert _inbox(session) == []


def test_previous_secret_is_accepted_during_rotation(client, session):
    make_shop(session)
    r = deliver(client, "orders/create", ORDER, secret=TEST_PREVIOUS_SECRET)
    assert r.status_code == 200 and r.json["status"] == "accepted"


def test_missing_headers_are_400(client, session):
    make_shop(session)
    for drop in ("X-Shopify-Topic", "X-Shopify-Shop-Domain"):
        r = deliver(client, "orders/create", ORDER, headers={drop: None})
        assert r.status_code == 400 and drop in r.json["message"]
    r = deliver(
        client, "orders/create", ORDER, headers={"X-Shopify-Event-Id": None, "X-Shopify-Webhook-Id": None}
    )
    assert r.status_code == 400
    r = deliver(client, "orders/create", ORDER, shop="evil.example.com")
    assert r.status_code == 400 and r.json["error"] == "bad_shop"
    assert _inbox(session) == []


def test_oversized_body_is_413(settings, session, path):
    make_shop(session)
    app = create_app(settings.model_copy(update={"webhook_max_body_bytes": 1000}))
    client = client_for(app, path)
    big = b'{"id": 1, "pad": "' + b"x" * 2000 + b'"}'
    r = deliver(client, "orders/create", big)
    assert r.status_code == 413 and r.json["error"] == "payload_too_large"
    assert deliver(client, "orders/create", b'{"id": 1}').status_code == 200


def test_malformed_json_is_400(client, session):
    make_shop(session)
    for body in (b"{not json", b"[1, 2]", b"", b"\xff\xfe"):
        r = deliver(client, "orders/create", body)
        assert r.status_code == 400 and r.json["error"] == "malformed_json", body
    assert _inbox(session) == []


@pytest.mark.usefixtures("jobs_env")
def test_unknown_and_uninstalled_shops_are_200_and_recorded_as_dropped(settings, client, session):
    make_shop(session, "gone.myshopify.com", installed=False)
    r1 = deliver(client, "orders/create", ORDER, shop="nobody.myshopify.com")
    r2 = deliver(client, "orders/create", ORDER, shop="gone.myshopify.com")
    r3 = deliver(client, "customers/redact", b'{"customer": {"id": 1}}', shop="gone.myshopify.com")
    assert (r1.status_code, r1.json["status"]) == (200, "dropped")
    assert (r2.status_code, r2.json["status"]) == (200, "dropped")
    assert r3.json["status"] == "accepted"  # compliance requests still count after uninstall
    rows = _inbox(session)
    assert [(r.shop_domain, r.status, r.error) for r in rows[:2]] == [
        ("nobody.myshopify.com", DROPPED, "unknown shop"),
        ("gone.myshopify.com", DROPPED, "shop uninstalled"),
    ]
    run_jobs(settings.redis_url)
    assert _inbox(session)[2].status == DONE


def test_undeclared_topic_is_recorded_as_dropped(client, session):
    make_shop(session)
    r = deliver(client, "app_subscriptions/update", b'{"app_subscription": {}}')
    assert r.status_code == 200 and r.json["reason"] == "no handler for topic"


@pytest.mark.usefixtures("jobs_env")
def test_redis_down_still_200_and_the_sweeper_enqueues_later(settings, session, path):
    make_shop(session)
    down = create_app(settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}))
    r = deliver(client_for(down, path), "orders/create", ORDER, event_id="while-redis-down")
    assert r.status_code == 200 and r.json["status"] == "accepted"
    run_jobs(settings.redis_url)  # nothing was queued
    [row] = _inbox(session)
    assert row.status == PENDING
    assert session.exec(select(Order)).all() == []
    young = row.received_at + timedelta(seconds=UNQUEUED_AFTER_S - 1)
    assert sweep_inbox(now=young) == 0  # too young to tell from a row whose job is still on its way
    # No job in Redis once the unqueued window is over: the sweeper queues it.
    assert sweep_inbox(now=row.received_at + timedelta(seconds=UNQUEUED_AFTER_S + 1)) == 1
    run_jobs(settings.redis_url)
    assert [row.status for row in _inbox(session)] == [DONE]
    assert len(session.exec(select(Order)).all()) == 1


def test_database_down_is_503(settings, path):
    # A closed port: the connection is refused at once (and app.db caps PostgreSQL connects at 1 s).
    down = create_app(
        settings.model_copy(update={"database_url": "postgresql+psycopg://attune@127.0.0.1:1/attune"})
    )
    r = deliver(client_for(down, path), "orders/create", ORDER)
    assert r.status_code == 503 and r.json["error"] == "unavailable"


def test_refused_and_accepted_deliveries_leave_nothing_announced(settings, client, session):
    """Every delivery is announced to the inbox writer while it is checked; whatever its answer, the
    announcement ends (one left behind would make every later commit wait out the linger)."""
    make_shop(session)
    assert deliver(client, "orders/create", ORDER, secret="wrong-secret").status_code == 401
    assert deliver(client, "orders/create", ORDER, headers={"X-Shopify-Topic": None}).status_code == 400
    assert deliver(client, "orders/create", b"{not json").status_code == 400
    assert deliver(client, "orders/create", ORDER, event_id="dup").status_code == 200
    assert deliver(client, "orders/create", ORDER, event_id="dup").json["status"] == "duplicate"
    assert writer_for(settings)._expected == 0
    assert len(_inbox(session)) == 1


def test_a_bad_delivery_is_refused_even_when_the_inbox_cannot_be_opened(settings, path):
    broken = create_app(settings.model_copy(update={"database_url": "mysql://attune@127.0.0.1:1/attune"}))
    client = client_for(broken, path)
    assert deliver(client, "orders/create", ORDER, secret="wrong-secret").status_code == 401
    r = deliver(client, "orders/create", ORDER)
    assert r.status_code == 503 and r.json["error"] == "unavailable"
