"""Admin records over session-token auth: customer record, failed events + replay, GDPR exports, sync."""

from __future__ import annotations

import json

import pytest
from fixtures_shopify import make_session_token
from redis import Redis
from rq import Queue
from webhook_support import DATA_WEBHOOKS, deliver, load_payload, make_shop, run_jobs

from app.models.inbox import DONE, FAILED, WebhookInbox

ALPHA, BETA = "alpha.myshopify.com", "beta.myshopify.com"
CUSTOMER = 9007199254740993001


def _auth(shop: str = ALPHA) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_session_token(shop)}"}


def _seed(client, settings, shop=ALPHA):
    for name in ("customers__create.json", "orders__create.json", "refunds__create.json"):
        topic, body = load_payload(DATA_WEBHOOKS / name)
        assert deliver(client, topic, body, shop=shop).json["status"] == "accepted"
    run_jobs(settings.redis_url)


@pytest.mark.usefixtures("jobs_env")
def test_customer_record(settings, client, session):
    make_shop(session, ALPHA)
    make_shop(session, BETA)
    _seed(client, settings)
    r = client.get(f"/api/admin/customers/{CUSTOMER}", headers=_auth())
    assert r.status_code == 200, r.json
    assert r.json["id"] == str(CUSTOMER)
    assert (r.json["orders_count"], r.json["returns_count"]) == (1, 1)
    assert r.json["total_spent"] == "20.00"  # 30.00 ordered, 10.00 refunded
    assert r.json["last_order_at"].startswith("2026-01-02T09:00:00")
    assert client.get("/api/admin/customers/12345", headers=_auth()).status_code == 404
    other = client.get(f"/api/admin/customers/{CUSTOMER}", headers=_auth(BETA))
    assert other.status_code == 404 and other.json["error"] == "Not Found"
    assert client.get(f"/api/admin/customers/{CUSTOMER}").status_code == 401


@pytest.mark.usefixtures("jobs_env")
def test_failed_events_are_listed_and_replayed(settings, client, session):
    make_shop(session, ALPHA)
    make_shop(session, BETA)
    bad = deliver(client, "orders/create", {"id": 5, "line_items": ["not-a-line"]}).json["id"]
    run_jobs(settings.redis_url)
    listed = client.get("/api/admin/events/failed", headers=_auth()).json["events"]
    assert [e["id"] for e in listed] == [bad] and "AttributeError" in listed[0]["error"]
    assert client.get("/api/admin/events/failed", headers=_auth(BETA)).json["events"] == []
    assert client.post(f"/api/admin/events/{bad}/replay", headers=_auth(BETA)).status_code == 404
    # The cause is fixed (here: the stored payload), then the merchant replays it.
    row = session.get(WebhookInbox, bad)
    assert row.status == FAILED
    row.payload = json.dumps({"id": 5, "line_items": []})
    session.add(row)
    session.commit()
    assert client.post(f"/api/admin/events/{bad}/replay", headers=_auth()).status_code == 202
    run_jobs(settings.redis_url)
    session.expire_all()
    assert session.get(WebhookInbox, bad).status == DONE
    assert (
        client.post(f"/api/admin/events/{bad}/replay", headers=_auth()).status_code == 404
    )  # not failed now


@pytest.mark.usefixtures("jobs_env")
def test_gdpr_export_download_is_scoped_to_the_shop(settings, client, session):
    make_shop(session, ALPHA)
    make_shop(session, BETA)
    _seed(client, settings)
    request = {
        "customer": {"id": CUSTOMER, "email": "ada@example.com"},
        "orders_requested": [],
        "data_request": {"id": 7},
    }
    deliver(client, "customers/data_request", request)
    run_jobs(settings.redis_url)
    [listed] = client.get("/api/admin/gdpr/exports", headers=_auth()).json["exports"]
    r = client.get(f"/api/admin/gdpr/exports/{listed['id']}", headers=_auth())
    assert r.status_code == 200 and "attachment" in r.headers["Content-Disposition"]
    doc = json.loads(r.data)
    assert doc["customer"]["email"] == "ada@example.com" and len(doc["refund_lines"]) == 1
    assert client.get(f"/api/admin/gdpr/exports/{listed['id']}", headers=_auth(BETA)).status_code == 404


def test_sync_progress_and_start(settings, client, session):
    make_shop(session, ALPHA)
    assert client.get("/api/admin/sync", headers=_auth()).json["status"] == "never"
    assert client.post("/api/admin/sync", headers=_auth()).status_code == 202
    [job] = Queue("low", connection=Redis.from_url(settings.redis_url)).jobs
    assert job.func_name == "app.jobs.sync.sync_shop" and job.meta["shop_id"] == job.args[0]
