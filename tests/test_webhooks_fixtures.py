"""Every Shopify sample payload is accepted and processed; own tiny payloads run without ../shared."""

from __future__ import annotations

import json

import pytest
from conftest import FIXTURES, needs_shared
from sqlmodel import select
from webhook_support import DATA_WEBHOOKS, deliver, load_payload, make_shop, run_jobs

from app.models.commerce import Customer, Order, OrderLine, Refund, RefundLine
from app.models.inbox import DONE, DROPPED, WebhookInbox
from webhooks.topics import TOPICS

SHARED_WEBHOOKS = FIXTURES / "webhooks"
SHARED_FILES = sorted(SHARED_WEBHOOKS.glob("*.json")) if SHARED_WEBHOOKS.exists() else []


def _process(settings, client, session, path):
    topic, body = load_payload(path)
    response = deliver(client, topic, body)
    assert response.status_code == 200, response.json
    run_jobs(settings.redis_url)
    session.expire_all()
    row = session.exec(select(WebhookInbox)).one()
    return topic, row


@needs_shared(SHARED_WEBHOOKS)
@pytest.mark.usefixtures("jobs_env")
@pytest.mark.parametrize("path", SHARED_FILES, ids=[p.stem for p in SHARED_FILES])
def test_every_shopify_sample_payload_is_processed(settings, client, session, path):
    make_shop(session)
    topic, row = _process(settings, client, session, path)
    if topic in TOPICS:
        assert row.status == DONE, row.error
        assert row.error is None
    else:  # e.g. app_subscriptions/update: valid, but not a topic Attune subscribes to
        assert row.status == DROPPED and row.error == "no handler for topic"
    assert json.loads(row.payload) == json.loads(path.read_bytes())


@needs_shared(SHARED_WEBHOOKS)
@pytest.mark.usefixtures("jobs_env")
def test_shopify_order_then_refund_records_returns_against_lines(settings, client, session):
    make_shop(session)
    for name in ("orders__create.json", "refunds__create.json"):
        topic, body = load_payload(SHARED_WEBHOOKS / name)
        assert deliver(client, topic, body).status_code == 200
    run_jobs(settings.redis_url)
    order = session.exec(select(Order)).one()
    assert order.shopify_id == 820982911946154508 and str(order.total_price) == "404.95"
    assert order.customer_shopify_id == 115310627314723954
    lines = {ln.shopify_id for ln in session.exec(select(OrderLine))}
    assert 487817672276298554 in lines and len(lines) == 5
    refund_lines = session.exec(select(RefundLine)).all()
    assert {rl.order_line_shopify_id for rl in refund_lines} <= lines
    assert session.exec(select(Refund)).one().order_shopify_id == order.shopify_id


@pytest.mark.usefixtures("jobs_env")
def test_own_payloads_order_customer_refund(settings, client, session):
    make_shop(session)
    for name in ("refunds__create.json", "orders__create.json", "customers__create.json"):  # refund first
        topic, body = load_payload(DATA_WEBHOOKS / name)
        assert deliver(client, topic, body).json["status"] == "accepted"
    run_jobs(settings.redis_url)
    assert {r.status for r in session.exec(select(WebhookInbox))} == {DONE}
    customer = session.exec(select(Customer)).one()
    assert customer.shopify_id == 9007199254740993001
    assert (customer.last_name, customer.email_consent_state) == ("Lovelace", "subscribed")
    lines = {ln.shopify_id: ln for ln in session.exec(select(OrderLine))}
    [refund_line] = session.exec(select(RefundLine)).all()
    assert refund_line.order_line_shopify_id in lines
    assert lines[refund_line.order_line_shopify_id].title == "Cup"
