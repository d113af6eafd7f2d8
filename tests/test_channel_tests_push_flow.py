""" "Send a test message" for web push and Shopify Flow on the Channels page: a test push goes through the real
pywebpush adapter to one subscribed browser (the newest, or one named by id) of a loopback push service that
decrypts it (RFC 8291); a test Flow trigger goes through ``flowTriggerReceive`` to the fake Shopify with the
trigger's sample values, naming the shop's newest customer and product. Bad bodies are 400, another shop's
subscription 404, a channel that cannot send yet 409; nothing is queued for any of them."""

from __future__ import annotations

import pytest
from fixtures_shopify import LiveApp, make_session_token
from redis import Redis
from rq import Queue
from sqlmodel import select
from writeback_support import CUSTOMER, install

from app import tasks
from app.channels.flow import TEST_REASON, TRIGGERS
from app.channels.push_loopback import LoopbackPush
from app.crypto import TokenCipher
from app.db import session_scope
from app.jobs.channel_test import send_test_message
from app.models.commerce import Product
from app.models.messaging import PushSubscription
from app.shopify.fake import writes as fake_writes
from app.stores import push as push_store
from tests.test_push_channel import browser

OTHER = "other-shop.myshopify.com"


def call(live: LiveApp, shop: str, method: str, path: str, json=None):
    headers = {"Authorization": f"Bearer {make_session_token(shop)}"}
    return live.client().open(path, method=method, headers=headers, json=json)


def queued(live: LiveApp) -> list:
    jobs = Queue("default", connection=Redis.from_url(live.settings.redis_url)).jobs
    return [j for j in jobs if j.func_name == tasks.SEND_TEST_MESSAGE]


@pytest.fixture
def shop(live_app, jobs_env, monkeypatch):
    return install(live_app, monkeypatch, write_customers=False)


@pytest.fixture
def service():
    with LoopbackPush() as s:
        yield s


def subscribe(settings, service: LoopbackPush, shop_id: int, customer_id: int | None = CUSTOMER) -> int:
    """The shop's VAPID keys (made on first use), then one browser subscribed to them."""
    with session_scope(settings.database_url) as s:
        key = push_store.ensure_vapid(s, TokenCipher(settings.encryption_keys), shop_id)
    client = None if customer_id else "anon-client"
    return browser(settings, service, (shop_id, key), customer_id=customer_id, client_id=client)[1]


def test_push_test_goes_to_the_newest_subscription_encrypted(shop, jobs_env, service):
    live = shop.live
    older = subscribe(jobs_env, service, shop.id)
    newest = subscribe(jobs_env, service, shop.id, customer_id=None)
    view = call(live, shop.domain, "GET", "/api/admin/channels").json["push"]
    assert view["ready"] and view["subscriptions"] == 2 and view["latest_subscription"]["id"] == newest
    started = call(live, shop.domain, "POST", "/api/admin/channels/push/test", {})
    assert started.status_code == 202, started.json
    assert started.json["recipient"] == str(newest) and started.json["shopper"] == "client:anon-client"
    (job,) = queued(live)
    assert send_test_message(*job.args) == "sent"
    assert send_test_message(*job.args) == "sent"  # a duplicate job sends nothing more
    (got,) = service.received  # decrypted by the loopback service with the browser's private key
    body = got.json()
    assert body["title"] == f"Test from {shop.domain}" and "your web push settings work" in body["body"]
    done = call(live, shop.domain, "GET", started.json["status_url"]).json
    assert done["status"] == "sent" and done["provider_id"] == f"{service.url}/message/1"

    named = call(live, shop.domain, "POST", "/api/admin/channels/push/test", {"subscription_id": older}).json
    assert named["recipient"] == str(older)
    assert send_test_message(shop.id, named["test_id"]) == "sent"
    assert len(service.received) == 2 and service.received[1].json()["body"] == body["body"]


def test_push_test_to_a_gone_browser_fails_and_forgets_it(shop, jobs_env, service):
    live = shop.live
    sub_id = subscribe(jobs_env, service, shop.id)
    with session_scope(jobs_env.database_url) as s:
        endpoint = s.get(PushSubscription, sub_id).endpoint
    service.expire(endpoint)
    test = call(live, shop.domain, "POST", "/api/admin/channels/push/test", {"subscription_id": sub_id}).json
    assert send_test_message(shop.id, test["test_id"]) == "failed"
    done = call(live, shop.domain, "GET", test["status_url"]).json
    assert done["status"] == "failed" and "410" in done["error"] and "gone" in done["error"]
    with session_scope(jobs_env.database_url) as s:
        assert s.exec(select(PushSubscription)).all() == []
    # nothing left to send to: the page is told why, and nothing is queued
    again = call(live, shop.domain, "POST", "/api/admin/channels/push/test", {})
    assert again.status_code == 409 and "No browser has subscribed" in again.json["message"]


def test_push_test_refuses_bad_bodies_other_shops_and_unready_push(shop, jobs_env, service):
    live = shop.live
    post = lambda body, domain=shop.domain: call(live, domain, "POST", "/api/admin/channels/push/test", body)  # noqa: E731
    assert post({}).status_code == 409  # no VAPID keys yet
    assert "not set up" in post({}).json["message"]
    subscribe(jobs_env, service, shop.id)
    assert post({"to": "x"}).status_code == 400
    assert post(["x"]).status_code == 400
    for bad in ("7", -1, True, 1.5):
        response = post({"subscription_id": bad})
        assert response.status_code == 400 and response.json["field"] == "subscription_id", bad
    assert live.install(OTHER).status_code == 200
    theirs = subscribe(jobs_env, service, live.shop_row(OTHER).id)
    assert post({"subscription_id": theirs}).status_code == 404
    assert post({"subscription_id": theirs + 1000}).status_code == 404
    assert queued(live) == []


def _product(settings, shop_id: int, product_id: int, title: str) -> None:
    with session_scope(settings.database_url) as s:
        s.add(Product(shop_id=shop_id, shopify_id=product_id, title=title))


def test_flow_test_fires_the_chosen_trigger_with_its_sample_payload(shop, jobs_env):
    live = shop.live
    _product(jobs_env, shop.id, 42, "Blue mug")
    started = call(
        live, shop.domain, "POST", "/api/admin/channels/flow/test", {"trigger": "attune-churn-risk-rose"}
    )
    assert started.status_code == 202, started.json
    assert started.json["recipient"] == "attune-churn-risk-rose" and started.json["customer_id"] == CUSTOMER
    (job,) = queued(live)
    assert send_test_message(*job.args) == "sent"
    assert send_test_message(*job.args) == "sent"
    (fired,) = live.fake.store(shop.domain).flow_triggers
    assert fired["handle"] == "attune-churn-risk-rose"
    assert fired["payload"] == {
        "customer_id": CUSTOMER,
        "Churn risk": 0.55,
        "Previous churn risk": 0.3,
        "Segment": "At risk",
        "Reason": TEST_REASON,
    }
    done = call(live, shop.domain, "GET", started.json["status_url"]).json
    assert done["status"] == "sent" and done["provider_id"].startswith("flow:attune-churn-risk-rose")

    # a trigger with a product reference names the shop's newest product, with its title
    test = call(
        live, shop.domain, "POST", "/api/admin/channels/flow/test", {"trigger": "attune-browse-abandonment"}
    ).json
    assert send_test_message(shop.id, test["test_id"]) == "sent"
    payload = live.fake.store(shop.domain).flow_triggers[1]["payload"]
    assert payload["product_id"] == 42 and payload["Product title"] == "Blue mug"
    assert set(payload) == {
        "customer_id",
        "product_id",
        *(f.key for f in TRIGGERS["attune-browse-abandonment"].fields),
    }


def test_every_trigger_sample_is_accepted_by_the_fake(shop, jobs_env):
    live = shop.live
    _product(jobs_env, shop.id, 42, "Blue mug")
    for handle in TRIGGERS:
        test = call(live, shop.domain, "POST", "/api/admin/channels/flow/test", {"trigger": handle}).json
        assert send_test_message(shop.id, test["test_id"]) == "sent", handle
    assert [f["handle"] for f in live.fake.store(shop.domain).flow_triggers] == list(TRIGGERS)


def test_flow_test_refusals_and_shopify_errors(shop, jobs_env, monkeypatch):
    live = shop.live
    post = lambda body: call(live, shop.domain, "POST", "/api/admin/channels/flow/test", body)  # noqa: E731
    assert post({"trigger": "someone-elses"}).json["field"] == "trigger"
    assert post({"to": "attune-cart-at-risk"}).status_code == 400
    assert post({"trigger": "attune-browse-abandonment"}).status_code == 409  # no product synced yet
    assert queued(live) == []
    # Shopify refuses (the fake no longer knows the handle): the reason is what the page shows
    test = post({"trigger": "attune-cart-at-risk"}).json
    triggers = {h: f for h, f in fake_writes.flow_triggers().items() if h != "attune-cart-at-risk"}
    monkeypatch.setattr(fake_writes, "flow_triggers", lambda: triggers)
    assert send_test_message(shop.id, test["test_id"]) == "failed"
    done = call(live, shop.domain, "GET", test["status_url"]).json
    assert done["status"] == "failed" and "Invalid handle" in done["error"]
