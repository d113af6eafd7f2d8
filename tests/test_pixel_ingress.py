"""POST /pixel/events against a real database and Redis: validation, dedupe, rate limits, enqueue."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis import Redis
from rq import Queue
from sqlmodel import Session, select

from app import create_app
from app.models.events import PixelEvent
from app.models.shop import Shop


def make_shop(session: Session, domain: str = "alpha.myshopify.com") -> Shop:
    shop = Shop(domain=domain, access_token_enc="sealed", scopes="read_orders")
    session.add(shop)
    session.commit()
    session.refresh(shop)
    return shop


def event(name: str = "page_viewed", *, eid: str | None = None, at: datetime | None = None, **data: Any):
    return {
        "id": eid or f"sh-{uuid.uuid4()}",
        "name": name,
        "type": "custom" if name.startswith("attune:") else "standard",
        "timestamp": (at or datetime.now(UTC)).isoformat(),
        "seq": 1,
        "context": {"url": "https://alpha.example/products/shoe", "userAgent": "Mozilla/5.0 (iPhone)"},
        "data": data,
    }


def batch(shop: Shop, events: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "shop": shop.domain,
        "pixelKey": shop.pixel_key,
        "clientId": "client-1",
        "customerId": None,
        "timeZone": "Europe/Berlin",
        "sentAt": datetime.now(UTC).isoformat(),
        "events": events,
    } | extra


def post(client, body: Any, content_type: str = "text/plain;charset=UTF-8"):
    raw = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post("/pixel/events", data=raw, content_type=content_type)


def stored(session: Session) -> list[PixelEvent]:
    session.expire_all()
    return list(session.exec(select(PixelEvent).order_by(PixelEvent.id)).all())


def test_mixed_batch_keeps_the_good_events_and_lists_the_bad(client, session, settings):
    shop = make_shop(session)
    good = [event("page_viewed"), event("product_viewed", variant={"product": {"id": "12"}})]
    bad = [
        {"id": "no-name", "timestamp": datetime.now(UTC).isoformat()},
        event("made_up_event"),
        event("attune:not_ours"),
        event("page_viewed", at=datetime.now(UTC) + timedelta(days=2)),
        event("page_viewed", at=datetime.now(UTC) - timedelta(days=30)),
        event("page_viewed") | {"timestamp": "yesterday"},
        event("page_viewed") | {"id": "bad id with spaces"},
        event("page_viewed", blob="x" * 20_000),
        "not an object",
    ]
    response = post(client, batch(shop, good[:1] + bad + good[1:]))
    assert response.status_code == 207, response.json
    body = response.json
    assert body["stored"] == 2
    assert [r["index"] for r in body["rejected"]] == list(range(1, 1 + len(bad)))
    reasons = " | ".join(r["reason"] for r in body["rejected"])
    for expected in ("name", "unknown event name", "future", "older than 7 days", "timestamp", "id", "bytes"):
        assert expected in reasons
    rows = stored(session)
    assert [r.name for r in rows] == ["page_viewed", "product_viewed"]
    assert rows[0].shop_id == shop.id and rows[0].client_id == "client-1"
    assert rows[0].context["timeZone"] == "Europe/Berlin"
    assert response.headers["Access-Control-Allow-Origin"] == "*"

    # the job that folds them was enqueued after the commit, with the new rows' ids
    jobs = Queue("default", connection=Redis.from_url(settings.redis_url)).jobs
    assert [j.func_name for j in jobs] == ["app.jobs.profiles.process_pixel_batch"]
    assert jobs[0].args == (shop.id, [r.id for r in rows])


def test_resent_batch_stores_nothing_twice(client, session, settings):
    shop = make_shop(session)
    body = batch(shop, [event("page_viewed"), event("search_submitted", query="boots")])
    first = post(client, body)
    again = post(client, body)
    assert first.status_code == 200 and first.json["stored"] == 2
    assert again.status_code == 200
    assert again.json == {"stored": 0, "duplicates": 2, "rejected": []}
    assert len(stored(session)) == 2
    assert len(Queue("default", connection=Redis.from_url(settings.redis_url)).jobs) == 1
    # the same id twice inside one batch is one event
    dup = event("page_viewed")
    response = post(client, batch(shop, [dup, dup]))
    assert response.status_code == 207
    assert response.json["stored"] == 1
    assert response.json["rejected"][0]["reason"] == "duplicate id in batch"


def test_unknown_shop_wrong_key_and_garbage_get_4xx_with_a_reason(client, session):
    shop = make_shop(session)
    ok = batch(shop, [event()])
    cases = [
        (ok | {"pixelKey": "wrong-key-123456"}, 403, "invalid_pixel_key"),
        (ok | {"shop": "nobody.myshopify.com"}, 404, "unknown_shop"),
        (ok | {"shop": "https://evil.example.com"}, 400, "invalid_shop"),
        ({k: v for k, v in ok.items() if k != "clientId"}, 422, "invalid_batch"),
        (ok | {"events": []}, 422, "invalid_batch"),
        (ok | {"events": "nope"}, 422, "invalid_batch"),
        (ok | {"events": [event() for _ in range(51)]}, 413, "too_many_events"),
        (ok | {"events": ["x", 1]}, 422, "no_valid_events"),
        ([1, 2, 3], 400, "invalid_batch"),
        ("{not json", 400, "invalid_json"),
        (b"\xff\xfe\x00garbage", 400, "invalid_json"),
    ]
    for body, status, error in cases:
        response = post(client, body)
        assert response.status_code == status, (error, response.json)
        assert response.json["error"] == error
        assert response.json["message"]
    assert stored(session) == []


def test_body_over_the_cap_is_413(settings, session):
    shop = make_shop(session)
    app = create_app(settings.model_copy(update={"pixel_max_body_bytes": 2000}))
    big = batch(shop, [event(blob="y" * 3000)])
    response = post(app.test_client(), big)
    assert response.status_code == 413
    assert response.json["error"] == "body_too_large"


def test_preflight_and_cors(client):
    response = client.options(
        "/pixel/events",
        headers={"Origin": "https://alpha.example", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "Content-Type" in response.headers["Access-Control-Allow-Headers"]


def test_rate_limit_per_client_and_per_shop(settings, session):
    shop = make_shop(session)
    app = create_app(
        settings.model_copy(update={"pixel_rate_client_per_min": 5, "pixel_rate_shop_per_min": 8})
    )
    client = app.test_client()
    assert post(client, batch(shop, [event() for _ in range(3)])).status_code == 200
    assert post(client, batch(shop, [event() for _ in range(2)])).status_code == 200
    limited = post(client, batch(shop, [event()]))
    assert limited.status_code == 429
    assert limited.json["error"] == "rate_limited" and "client" in limited.json["message"]
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    # another client of the same shop still has room, until the shop's window is full
    assert post(client, batch(shop, [event() for _ in range(2)], clientId="client-2")).status_code == 200
    shop_limited = post(client, batch(shop, [event()], clientId="client-3"))
    assert shop_limited.status_code == 429 and "shop" in shop_limited.json["message"]
    assert len(stored(session)) == 7


@pytest.mark.parametrize("customer", ["gid://shopify/Customer/777", "777", 777])
def test_customer_id_from_the_batch_is_recorded(client, session, customer):
    shop = make_shop(session)
    assert post(client, batch(shop, [event()], customerId=customer)).status_code == 200
    assert stored(session)[0].customer_shopify_id == 777


def test_an_unreachable_database_gets_503_with_retry_after_never_a_500(settings, session):
    shop = make_shop(session)
    body = batch(shop, [event(eid="e-db-1")])
    down = create_app(
        settings.model_copy(update={"database_url": "postgresql+psycopg://nobody@127.0.0.1:9/none"})
    )
    response = post(down.test_client(), body)
    assert response.status_code == 503
    assert response.json["error"] == "unavailable" and response.headers["Retry-After"] == "5"
    assert stored(session) == []
    # the database is back: the same batch is stored once
    assert post(create_app(settings).test_client(), body).status_code == 200
    assert [e.event_id for e in stored(session)] == ["e-db-1"]
