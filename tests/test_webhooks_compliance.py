"""Compliance topics and app/uninstalled with data in two shops: the other shop is never touched."""

from __future__ import annotations

import json

import pytest
from redis import Redis
from rq import Queue
from sqlmodel import select
from webhook_support import deliver, make_shop, run_jobs

from app.models.commerce import Checkout, Customer, GdprExport, Order, OrderLine
from app.models.inbox import DONE, DROPPED, PENDING, WebhookInbox
from app.models.shop import Shop
from webhooks.ingest import flush_enqueues

CUSTOMER = 191167
SHOPS = ("alpha.myshopify.com", "beta.myshopify.com")


def _order(order_id: int) -> dict:
    return {
        "id": order_id,
        "email": "john@example.com",
        "total_price": "12.00",
        "updated_at": "2026-01-01T00:00:00Z",
        "customer": {"id": CUSTOMER, "email": "john@example.com", "first_name": "John", "updated_at": None},
        "line_items": [{"id": order_id + 1, "quantity": 1, "price": "12.00", "title": "Mug"}],
    }


def _seed(client, settings):
    for domain in SHOPS:
        deliver(
            client,
            "customers/create",
            {"id": CUSTOMER, "email": "john@example.com", "updated_at": "2026-01-01T00:00:00Z"},
            shop=domain,
        )
        deliver(client, "orders/create", _order(299938), shop=domain)
        deliver(
            client,
            "checkouts/create",
            {
                "token": "tok-1",
                "email": "john@example.com",
                "customer": {"id": CUSTOMER},
                "updated_at": "2026-01-01T00:00:00Z",
            },
            shop=domain,
        )
    run_jobs(settings.redis_url)


def _state(session, shop_id: int) -> dict:
    session.expire_all()
    out = {}
    for model in (Customer, Order, OrderLine, Checkout, GdprExport):
        rows = session.exec(select(model).where(model.shop_id == shop_id)).all()
        out[model.__tablename__] = sorted(
            json.dumps(r.model_dump(), default=str, sort_keys=True) for r in rows
        )
    return out


def _compliance(client, settings, topic, payload, shop="alpha.myshopify.com"):
    r = deliver(client, topic, payload, shop=shop)
    assert r.status_code == 200 and r.json["status"] == "accepted"
    run_jobs(settings.redis_url)


@pytest.mark.usefixtures("jobs_env")
def test_data_request_exports_that_customer_in_that_shop(settings, client, session):
    alpha, beta = (make_shop(session, d) for d in SHOPS)
    _seed(client, settings)
    request = {
        "shop_id": 1,
        "shop_domain": "alpha.myshopify.com",
        "customer": {"id": CUSTOMER, "email": "john@example.com"},
        "orders_requested": [299938],
        "data_request": {"id": 9999},
    }
    _compliance(client, settings, "customers/data_request", request)
    export = session.exec(select(GdprExport)).one()
    assert export.shop_id == alpha.id and export.customer_shopify_id == CUSTOMER
    doc = json.loads(export.document)
    assert doc["customer"]["email"] == "john@example.com"
    assert [o["shopify_id"] for o in doc["orders"]] == [299938]
    assert len(doc["order_lines"]) == 1 and len(doc["checkouts"]) == 1
    assert all(o["shop_id"] == alpha.id for o in doc["orders"])
    assert session.exec(select(GdprExport).where(GdprExport.shop_id == beta.id)).all() == []


@pytest.mark.usefixtures("jobs_env")
def test_customer_redact_erases_only_that_shop(settings, client, session):
    alpha, beta = (make_shop(session, d) for d in SHOPS)
    _seed(client, settings)
    beta_before = _state(session, beta.id)
    payload = {
        "shop_id": 1,
        "shop_domain": "alpha.myshopify.com",
        "customer": {"id": CUSTOMER, "email": "john@example.com"},
        "orders_to_redact": [299938],
    }
    _compliance(client, settings, "customers/redact", payload)
    after = _state(session, alpha.id)
    assert after["customer"] == [] and after["checkout"] == []
    [order] = session.exec(select(Order).where(Order.shop_id == alpha.id)).all()
    assert order.customer_shopify_id is None and order.email is None and str(order.total_price) == "12.00"
    stored = session.exec(
        select(WebhookInbox).where(WebhookInbox.shop_id == alpha.id, WebhookInbox.topic == "orders/create")
    ).one()
    assert "john@example.com" not in stored.payload
    assert _state(session, beta.id) == beta_before
    beta_payloads = session.exec(select(WebhookInbox.payload).where(WebhookInbox.shop_id == beta.id)).all()
    assert any("john@example.com" in p for p in beta_payloads)


@pytest.mark.usefixtures("jobs_env")
def test_shop_redact_erases_the_shop_and_nothing_else(settings, client, session):
    alpha, beta = (make_shop(session, d) for d in SHOPS)
    _seed(client, settings)
    beta_before = _state(session, beta.id)
    _compliance(client, settings, "shop/redact", {"shop_id": 1, "shop_domain": "alpha.myshopify.com"})
    assert all(rows == [] for rows in _state(session, alpha.id).values())
    inbox = session.exec(select(WebhookInbox).where(WebhookInbox.shop_id == alpha.id)).all()
    assert [(r.topic, r.status) for r in inbox] == [("shop/redact", DONE)]
    session.expire_all()
    assert session.get(Shop, alpha.id).access_token_enc is None
    assert _state(session, beta.id) == beta_before
    assert len(session.exec(select(WebhookInbox).where(WebhookInbox.shop_id == beta.id)).all()) == 3


def _queued_events(queue: Queue) -> int:
    """Inbox events carried by the jobs waiting in ``queue`` (a job carries a batch of them)."""
    return sum(len(job.args[0]) for job in queue.jobs)


@pytest.mark.usefixtures("jobs_env")
def test_uninstall_deletes_tokens_and_stops_the_shops_work(settings, client, session):
    alpha, beta = (make_shop(session, d) for d in SHOPS)
    _seed(client, settings)
    redis = Redis.from_url(settings.redis_url)
    # Work queued for both shops when the uninstall arrives.
    deliver(client, "orders/create", _order(1000), shop=SHOPS[0])
    deliver(client, "orders/create", _order(2000), shop=SHOPS[1])
    uninstall = deliver(client, "app/uninstalled", {"id": 548380009, "name": "Alpha"}, shop=SHOPS[0])
    queue = Queue("webhooks", connection=redis)
    assert flush_enqueues()  # the web side queues jobs in the background, after the 200
    assert _queued_events(queue) == 3
    # Process only the uninstall event first (as a worker picking it up would).
    from webhooks.inbox_jobs import process_inbox

    assert process_inbox(uninstall.json["id"]) == DONE
    session.expire_all()
    shop = session.get(Shop, alpha.id)
    assert shop.access_token_enc is None and shop.uninstalled_at is not None
    rows = {r.payload and json.loads(r.payload).get("id"): r for r in session.exec(select(WebhookInbox))}
    assert rows[1000].status == DROPPED and rows[1000].error == "shop uninstalled"
    assert rows[2000].status == PENDING
    assert _queued_events(queue) == 1  # alpha's queued jobs cancelled, beta's kept
    run_jobs(settings.redis_url)
    session.expire_all()
    assert session.exec(select(Order).where(Order.shop_id == beta.id, Order.shopify_id == 2000)).one()
    assert session.exec(select(Order).where(Order.shop_id == alpha.id, Order.shopify_id == 1000)).all() == []
    # Data stays until shop/redact; new deliveries are dropped.
    assert session.exec(select(Customer).where(Customer.shop_id == alpha.id)).one()
    assert deliver(client, "orders/create", _order(3000), shop=SHOPS[0]).json["status"] == "dropped"
