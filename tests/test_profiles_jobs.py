"""Profile jobs against a real database and Redis: RQ end to end, idempotency, rebuild equality,
commerce refresh, erasure, and the admin API."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import jwt
from conftest import TEST_API_KEY, TEST_API_SECRET
from profile_support import T0, pixel_rows
from redis import Redis
from rq import Queue
from sqlmodel import Session, select
from webhook_support import run_jobs

from app.commerce.privacy import erase_customer as erase_commerce_customer
from app.jobs.profiles import fold_pixel_events, process_pixel_batch, refresh_profile, to_profile_event
from app.models.commerce import Order, OrderLine, Product
from app.models.events import IdentityLink, PixelEvent
from app.models.journey import JourneyStage, JourneyTransition
from app.models.profiles import CustomerProfile
from app.models.shop import Shop
from app.profiles.state import apply_events
from app.stores.privacy import erase_customer, export_customer
from app.stores.profiles import link_commerce_identity
from app.web.admin_profiles import profile_for


def shop_row(session: Session, domain: str = "alpha.myshopify.com") -> Shop:
    shop = Shop(domain=domain, access_token_enc="sealed", scopes="read_orders")
    session.add(shop)
    session.commit()
    session.refresh(shop)
    return shop


def profile(session: Session, shop_id: int, key: str) -> CustomerProfile | None:
    session.expire_all()
    return session.exec(
        select(CustomerProfile).where(CustomerProfile.shop_id == shop_id, CustomerProfile.customer_key == key)
    ).first()


def sections(row: CustomerProfile) -> str:
    return json.dumps([row.behavioural, row.contextual, row.working], sort_keys=True)


def test_ingress_to_profile_through_a_real_rq_worker(client, session, jobs_env):
    shop = shop_row(session)
    now = datetime.now(UTC)
    body = {
        "shop": shop.domain,
        "pixelKey": shop.pixel_key,
        "clientId": "web-client-1",
        "timeZone": "Europe/Paris",
        "events": [
            {"id": f"ev-{i}", "name": name, "timestamp": (now - timedelta(seconds=60 - 10 * i)).isoformat(),
             "context": {"url": "https://alpha.example/products/boot", "userAgent": "Mozilla/5.0 (Windows NT 10.0) Chrome/120"},
             "data": {"variant": {"product": {"id": "99", "title": "Boot"}}} if name == "product_viewed" else {}}
            for i, name in enumerate(["page_viewed", "product_viewed", "page_viewed"])
        ],
    }  # fmt: skip
    assert client.post("/pixel/events", data=json.dumps(body), content_type="text/plain").status_code == 200
    run_jobs(jobs_env.redis_url, ("default",))
    row = profile(session, shop.id, "client:web-client-1")
    assert row is not None and row.event_count == 3
    assert row.behavioural["products"]["99"]["dwell_s"] == 10.0
    assert row.contextual["device"]["type"] == "desktop"
    pending = session.exec(select(PixelEvent).where(PixelEvent.processed_at.is_(None))).all()
    assert pending == []


def test_jobs_are_idempotent(session, jobs_env):
    shop = shop_row(session)
    ids = pixel_rows(session, shop.id, "c1", ["page_viewed", "product_viewed", "search_submitted"])
    first = process_pixel_batch(shop.id, ids)
    again = process_pixel_batch(shop.id, ids)
    assert first["events"] == 3 and again["events"] == 0
    row = profile(session, shop.id, "client:c1")
    assert row.event_count == 3 and row.version == 0
    refresh_profile(shop.id, "client:c1")
    refresh_profile(shop.id, "client:c1")
    assert profile(session, shop.id, "client:c1").event_count == 3


def test_incremental_update_equals_a_rebuild_from_scratch(session):
    shop = shop_row(session)
    names = ["page_viewed", "collection_viewed", "product_viewed", "product_viewed", "search_submitted",
             "product_added_to_cart", "cart_viewed", "checkout_started", "page_viewed", "product_viewed"]  # fmt: skip
    ids = pixel_rows(session, shop.id, "c2", names * 3, start=0)
    for i in range(0, len(ids), 4):  # batches as they arrive
        fold_pixel_events(session, shop.id, ids[i : i + 4])
        session.commit()
    row = profile(session, shop.id, "client:c2")
    events = session.exec(select(PixelEvent).where(PixelEvent.shop_id == shop.id)).all()
    rebuilt = apply_events(None, [to_profile_event(e) for e in events])
    assert row.event_count == 30
    assert sections(row) == json.dumps(
        [rebuilt["behavioural"], rebuilt["contextual"], rebuilt["working"]], sort_keys=True
    )


def test_refresh_builds_the_explicit_section_and_stitches_order_tokens(session, jobs_env):
    shop = shop_row(session)
    ids = pixel_rows(
        session, shop.id, "c3", ["product_viewed", "cart_viewed"], cart="gid://shopify/Cart/CT3?key=z"
    )
    process_pixel_batch(shop.id, ids)
    session.add(
        Product(shop_id=shop.id, shopify_id=12, title="Trail shoe", vendor="Acme", product_type="Shoes")
    )
    for n, (total, discount) in enumerate(
        [(Decimal("80.00"), Decimal("0")), (Decimal("40.00"), Decimal("5"))]
    ):
        session.add(
            Order(
                shop_id=shop.id,
                shopify_id=500 + n,
                customer_shopify_id=42,
                currency="EUR",
                total_price=total,
                total_discounts=discount,
                cart_token="CT3" if n == 1 else None,
                processed_at=T0 + timedelta(days=n),
            )  # fmt: skip
        )
        session.add(OrderLine(shop_id=shop.id, shopify_id=900 + n, order_shopify_id=500 + n, product_shopify_id=12,
                              quantity=2, price=total / 2, total_discount=discount))  # fmt: skip
    session.commit()
    refresh_profile(shop.id, "customer:42")
    row = profile(session, shop.id, "customer:42")
    assert profile(session, shop.id, "client:c3") is None  # the cart token stitched the browsing in
    assert row.event_count == 2 and row.customer_shopify_id == 42
    orders = row.explicit["orders"]
    assert orders["count"] == 2 and orders["spent"] == 120.0 and orders["with_discount"] == 1
    assert row.explicit["vendors"] == {"Acme": 4}
    assert row.explicit["units"]["discounted"] == 2
    assert "computed_at" in row.derived
    shown = profile_for(session, shop.id, 42)
    assert shown["customer_id"] == 42 and shown["explicit"]["orders"]["count"] == 2
    assert shown["behavioural"]["top_products"][0]["product_id"] == "12"
    assert "working" not in shown
    assert profile_for(session, shop.id, 43) is None


def test_a_redacted_customer_leaves_no_trace(session):
    shop = shop_row(session)
    other = shop_row(session, "beta.myshopify.com")
    anon = pixel_rows(session, shop.id, "c4", ["page_viewed", "search_submitted"])
    fold_pixel_events(session, shop.id, anon)
    # verified sign-ins (the app proxy's logged_in_customer_id next to the client id)
    link_commerce_identity(session, shop.id, 77, client_id="c4")
    link_commerce_identity(session, shop.id, 78, client_id="c5")
    link_commerce_identity(session, other.id, 77, client_id="c4")
    fold_pixel_events(
        session, shop.id, pixel_rows(session, shop.id, "c4", ["checkout_completed"], customer=77)
    )
    fold_pixel_events(session, shop.id, pixel_rows(session, shop.id, "c5", ["page_viewed"], customer=78))
    fold_pixel_events(session, other.id, pixel_rows(session, other.id, "c4", ["page_viewed"], customer=77))
    session.commit()
    assert profile(session, shop.id, "customer:77").event_count == 3
    assert export_customer(session, shop.id, 77)["identifiers"] == [
        "checkout:CHK1",
        "client:c4",
        "customer:77",
    ]

    erase_commerce_customer(session, shop.id, 77)  # the commerce side (generic customer_shopify_id pass)
    counts = erase_customer(session, shop.id, 77)
    session.commit()
    assert counts["identity_link"] == 3  # (the commerce pass already removed rows naming customer 77)
    session.expire_all()
    for model, column in ((PixelEvent, PixelEvent.shop_id), (CustomerProfile, CustomerProfile.shop_id)):
        rows = session.exec(select(model).where(column == shop.id)).all()
        assert all(r.customer_shopify_id != 77 for r in rows)
    assert (
        session.exec(
            select(PixelEvent).where(PixelEvent.client_id == "c4", PixelEvent.shop_id == shop.id)
        ).all()
        == []
    )
    links = session.exec(select(IdentityLink.node).where(IdentityLink.shop_id == shop.id)).all()
    assert sorted(links) == ["client:c5", "customer:78"]
    left = session.exec(select(CustomerProfile).where(CustomerProfile.shop_id == shop.id)).all()
    assert "trail shoes" not in json.dumps([p.model_dump(mode="json") for p in left])  # c4's search is gone
    assert profile(session, shop.id, "customer:78").event_count == 1  # other customers untouched
    stages = session.exec(select(JourneyStage.shopper_key).where(JourneyStage.shop_id == shop.id)).all()
    moves = session.exec(
        select(JourneyTransition.shopper_key).where(JourneyTransition.shop_id == shop.id)
    ).all()
    assert (
        counts["journey_stage"] >= 1 and sorted(stages) == ["customer:78"] and set(moves) == {"customer:78"}
    )
    assert profile(session, other.id, "customer:77").event_count == 1  # the same id in another shop too


def _token(shop: str) -> str:
    now = int(time.time())
    claims = {"iss": f"https://{shop}/admin", "dest": f"https://{shop}", "aud": TEST_API_KEY, "sub": "1",
              "exp": now + 60, "nbf": now - 5, "iat": now - 5, "jti": "j", "sid": "s"}  # fmt: skip
    return jwt.encode(claims, TEST_API_SECRET, algorithm="HS256")


def test_admin_lists_customers_by_segment_and_score(client, session):
    shop = shop_row(session)
    other = shop_row(session, "beta.myshopify.com")
    for key, cid, intent, clv, rfm, seen in [
        ("customer:1", 1, 0.9, 100.0, "champions", 3),
        ("customer:2", 2, 0.2, 500.0, "at_risk", 1),
        ("client:x", None, 0.6, None, None, 2),
    ]:
        session.add(CustomerProfile(shop_id=shop.id, customer_key=key, customer_shopify_id=cid, intent=intent,
                                    clv=clv, rfm_segment=rfm, last_seen_at=T0 + timedelta(hours=seen)))  # fmt: skip
    session.add(
        CustomerProfile(shop_id=other.id, customer_key="customer:1", customer_shopify_id=1, intent=1.0)
    )
    session.commit()
    auth = {"Authorization": f"Bearer {_token(shop.domain)}"}

    def keys(query: str) -> list[str]:
        response = client.get(f"/api/admin/customers{query}", headers=auth)
        assert response.status_code == 200, response.json
        return [c["customer_key"] for c in response.json["customers"]]

    assert keys("") == ["customer:1", "client:x", "customer:2"]
    assert keys("?sort=intent") == ["customer:1", "client:x", "customer:2"]
    assert keys("?sort=clv") == ["customer:2", "customer:1", "client:x"]  # no score: last
    assert keys("?sort=intent:asc") == ["customer:2", "client:x", "customer:1"]
    assert keys("?segment=high_intent") == ["customer:1", "client:x"]
    assert keys("?segment=anonymous") == ["client:x"]
    assert keys("?segment=champions") == ["customer:1"]
    assert keys("?limit=1&offset=1") == ["client:x"]
    for bad in ("?sort=email", "?segment=DROP%20TABLE", "?limit=0", "?limit=abc"):
        assert client.get(f"/api/admin/customers{bad}", headers=auth).status_code == 400
    assert client.get("/api/admin/customers").status_code == 401


def test_batches_arriving_while_a_fold_is_queued_join_it(client, session, jobs_env):
    shop = shop_row(session)
    now = datetime.now(UTC).isoformat()
    for n in range(3):
        body = {"shop": shop.domain, "pixelKey": shop.pixel_key, "clientId": f"cl-{n}",
                "events": [{"id": f"e-{n}", "name": "page_viewed", "timestamp": now}]}  # fmt: skip
        assert client.post("/pixel/events", json=body).status_code == 200
    redis = Redis.from_url(jobs_env.redis_url)
    queue = Queue("default", connection=redis)
    assert queue.count == 1  # one fold queued for the shop, not one per batch
    run_jobs(jobs_env.redis_url, ("default",))
    keys = session.exec(select(CustomerProfile.customer_key).where(CustomerProfile.shop_id == shop.id)).all()
    assert sorted(keys) == ["client:cl-0", "client:cl-1", "client:cl-2"]
    # the run cleared the marker: the next batch queues a new fold
    body = {"shop": shop.domain, "pixelKey": shop.pixel_key, "clientId": "cl-9",
            "events": [{"id": "e-9", "name": "page_viewed", "timestamp": now}]}  # fmt: skip
    assert client.post("/pixel/events", json=body).status_code == 200
    assert queue.count == 1


def test_sweeper_requeues_events_a_lost_job_never_folded(session, jobs_env):
    from app.jobs.profiles import sweep_pixel_events

    shop = shop_row(session)
    ids = pixel_rows(session, shop.id, "lost", ["page_viewed", "page_viewed"])
    received = max(row.received_at for row in session.exec(select(PixelEvent)))
    assert sweep_pixel_events(now=received + timedelta(seconds=30)) == 0  # the ingress job may be on its way
    assert sweep_pixel_events(now=received + timedelta(minutes=5)) == 2
    jobs = Queue("low", connection=Redis.from_url(jobs_env.redis_url)).jobs
    assert [j.args for j in jobs] == [(shop.id, ids)]
