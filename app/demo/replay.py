"""Drive the running app the way Shopify and shoppers would: install over OAuth, backfill, then signed
webhooks and storefront pixel sessions over HTTP, measuring rate and latency as we go."""

from __future__ import annotations

import hashlib
import random
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import requests
from sqlmodel import Session, select

from app.db import get_engine
from app.demo.runtime import DemoRuntime
from app.demo.sample import DemoPlan
from app.models.commerce import SyncRun
from app.models.shop import Shop
from app.shopify.fake.rest import order_payload, refund_payload
from app.shopify.fake.store import gid, gid_num
from app.shopify.fake.webhooks import deliver_webhook

UA_DESKTOP = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari/605.1.15"
UA_MOBILE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"
)
REFERRERS = ["https://www.google.com/", "https://www.instagram.com/", "", "https://news.example/gift-guide"]
PIXEL_BATCH = 20


@dataclass
class Meter:
    """Latencies (ms) and outcomes of the HTTP calls the demo makes, per kind."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    items: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, started: float, ok: bool, items: int = 1) -> None:
        ms = (time.perf_counter() - started) * 1000
        with self.lock:
            self.latencies.setdefault(kind, []).append(ms)
            self.items[kind] = self.items.get(kind, 0) + items
            if not ok:
                self.errors[kind] = self.errors.get(kind, 0) + 1

    def summary(self, kind: str) -> dict[str, float]:
        lat = sorted(self.latencies.get(kind, []))
        if not lat:
            return {"requests": 0}
        return {
            "requests": len(lat),
            "items": self.items.get(kind, 0),
            "errors": self.errors.get(kind, 0),
            "p50_ms": statistics.median(lat),
            "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
        }


def seed_store(rt: DemoRuntime, shop: str, plan: DemoPlan) -> None:
    store = rt.fake.store(shop)
    store.name, store.currency, store.timezone = "Attune Demo Gifts", "GBP", "Europe/London"
    store.email = "owner@attune-demo.example"
    store.seed(products=plan.products, customers=plan.customers, orders=plan.history_orders)


def install(rt: DemoRuntime, shop: str) -> int:
    """The merchant opens the install link: /auth → Shopify's authorize → /auth/callback → admin."""
    browser = requests.Session()
    query = urlencode(rt.fake.signed_query(shop))
    response = browser.get(f"{rt.app_url}/auth?{query}", allow_redirects=True, timeout=60)
    if response.status_code != 200:
        raise RuntimeError(f"install failed: HTTP {response.status_code}: {response.text[:300]}")
    with Session(get_engine(rt.settings.database_url)) as session:
        row = session.exec(select(Shop).where(Shop.domain == shop)).one()
        if not row.is_installed:
            raise RuntimeError("install finished without a stored offline token")
        return row.id


def wait_backfill(
    rt: DemoRuntime, shop_id: int, total: int, bar: Callable[[int], None], timeout: float = 900
) -> dict:
    """Follow the install backfill (a real RQ job running bulk operations) until it finishes."""
    engine = get_engine(rt.settings.database_url)
    deadline, seen = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        with Session(engine) as session:
            run = session.exec(
                select(SyncRun).where(SyncRun.shop_id == shop_id).order_by(SyncRun.id.desc())
            ).first()
        if run is not None:
            done = sum((run.counts or {}).values())
            if done > seen:
                bar(done - seen)
                seen = done
            if run.status == "done":
                return dict(run.counts or {})
            if run.status == "failed":
                raise RuntimeError(f"backfill failed: {run.error}")
        time.sleep(0.2)
    raise TimeoutError("the backfill did not finish in time")


def _variant_info(rt: DemoRuntime, shop: str, variant_id: int) -> dict[str, Any]:
    store = rt.fake.store(shop)
    v = store.variants[gid("ProductVariant", variant_id)]
    p = store.products[v["_product_id"]]
    return {
        "id": gid_num(v["id"]),
        "price": {"amount": float(v["price"]), "currencyCode": store.currency},
        "product": {"id": p["id"], "title": p["title"], "vendor": p["vendor"], "type": p["productType"]},
        "_handle": p["handle"],
    }


def _event(name: str, at: datetime, url: str, ua: str, ref: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex,
        "name": name,
        "type": "custom" if name.startswith("attune:") else "standard",
        "timestamp": at.isoformat(),
        "context": {"url": url, "referrer": ref, "userAgent": ua, "language": "en-GB"},
        "data": data,
    }


def shopping_session(
    rt: DemoRuntime,
    shop: str,
    variant_ids: list[int],
    end: datetime,
    rng: random.Random,
    *,
    checkout_token: str,
    cart_token: str,
    completes: bool,
    neighbours: list[int],
) -> list[dict[str, Any]]:
    """A storefront visit ending at ``end``: browse, search, add to cart, checkout (complete or abandoned)."""
    base = f"https://{shop}"
    ua = UA_MOBILE if rng.random() < 0.55 else UA_DESKTOP
    ref = rng.choice(REFERRERS)
    utm = "?utm_source=newsletter&utm_medium=email" if rng.random() < 0.25 else ""
    items = [_variant_info(rt, shop, v) for v in variant_ids[:4]]
    browsed = [_variant_info(rt, shop, v) for v in neighbours[:2]] + items
    steps: list[tuple[str, str, dict[str, Any]]] = [("page_viewed", f"{base}/{utm}", {})]
    kind = items[0]["product"]["type"] if items else "all"
    steps.append(
        (
            "collection_viewed",
            f"{base}/collections/{kind.lower().replace(' ', '-')}?sort_by=price-ascending",
            {"collection": {"id": kind, "title": kind}},
        )
    )
    if rng.random() < 0.4 and items:
        steps.append(
            (
                "search_submitted",
                f"{base}/search",
                {"query": items[0]["product"]["title"].split()[-1].lower(), "results": 6},
            )
        )
    for v in browsed:
        steps.append(("product_viewed", f"{base}/products/{v['_handle']}", {"variant": _strip(v)}))
    for v in items:
        steps.append(
            (
                "product_added_to_cart",
                f"{base}/products/{v['_handle']}",
                {"line": {"quantity": 1, "variant": _strip(v)}},
            )
        )
    cart = {"cart": {"id": f"gid://shopify/Cart/{cart_token}", "totalQuantity": len(items), "lines": []}}
    steps.append(("cart_viewed", f"{base}/cart", cart))
    checkout = {"checkout": {"token": checkout_token, "city": "London", "countryCode": "GB"}}
    funnel = [
        "checkout_started",
        "checkout_contact_info_submitted",
        "checkout_address_info_submitted",
        "checkout_shipping_info_submitted",
    ]
    if completes:
        funnel += ["payment_info_submitted", "checkout_completed"]
    else:  # hesitation: lingers on the shipping cost, then leaves
        steps.append(
            ("attune:shipping_notice_lingered", f"{base}/cart", {"custom": {"seconds": rng.randint(6, 25)}})
        )
        funnel = funnel[: rng.randint(1, len(funnel))]
    steps += [(name, f"{base}/checkouts/{checkout_token}", checkout) for name in funnel]
    start = end - timedelta(seconds=40 * len(steps))
    return [
        _event(name, start + timedelta(seconds=40 * i + rng.randint(0, 20)), url, ua, ref, data)
        for i, (name, url, data) in enumerate(steps)
    ]


def _strip(v: dict[str, Any]) -> dict[str, Any]:
    return {k: val for k, val in v.items() if not k.startswith("_")}


def post_pixel(
    rt: DemoRuntime,
    meter: Meter,
    shop: str,
    key: str,
    client_id: str,
    customer_id: int | None,
    events: list[dict[str, Any]],
    http: requests.Session,
) -> None:
    for i in range(0, len(events), PIXEL_BATCH):
        batch = events[i : i + PIXEL_BATCH]
        body = {
            "shop": shop,
            "pixelKey": key,
            "clientId": client_id,
            "customerId": customer_id,
            "timeZone": "Europe/London",
            "events": batch,
        }
        started = time.perf_counter()
        response = http.post(f"{rt.app_url}/pixel/events", json=body, timeout=30)
        meter.record("pixel", started, response.status_code in (200, 207), items=len(batch))


def send_webhook(rt: DemoRuntime, meter: Meter, shop: str, topic: str, payload: dict[str, Any]) -> None:
    started = time.perf_counter()
    response = deliver_webhook(
        rt.app_url,
        shop,
        topic,
        payload,
        secret=rt.settings.shopify_api_secret,
        api_version=rt.settings.shopify_api_version,
    )
    meter.record("webhooks", started, response.status_code == 200)


def replay_live(
    rt: DemoRuntime,
    shop: str,
    plan: DemoPlan,
    meter: Meter,
    tick: Callable[[int], None],
    concurrency: int = 4,
) -> float:
    """Every live order: the buyer's storefront session (pixel), then orders/create; a third of them also
    bring an anonymous visitor who hesitates at checkout and leaves. Then the live refunds. Returns seconds."""
    with Session(get_engine(rt.settings.database_url)) as session:
        key = session.exec(select(Shop.pixel_key).where(Shop.domain == shop)).one()
    store = rt.fake.store(shop)
    all_variants = [v["variants"][0]["id"] for v in plan.products]
    local = threading.local()

    def http() -> requests.Session:
        if not hasattr(local, "s"):
            local.s = requests.Session()
        return local.s

    def one(index: int, order: dict[str, Any]) -> None:
        rng = random.Random(index)
        record = store.add_order({k: v for k, v in order.items() if not k.startswith("_")})
        token = hashlib.sha1(str(order["id"]).encode()).hexdigest()[:24]
        variants = [ln["variant_id"] for ln in order["lines"]]
        events = shopping_session(
            rt,
            shop,
            variants,
            order["created_at"],
            rng,
            checkout_token=token,
            cart_token=f"c{token}",
            completes=True,
            neighbours=rng.sample(all_variants, 2),
        )
        post_pixel(
            rt, meter, shop, key, f"client-{order['customer_id']}", order["customer_id"], events, http()
        )
        send_webhook(
            rt,
            meter,
            shop,
            "orders/create",
            order_payload(store, record["id"], cart_token=f"c{token}", checkout_token=token),
        )
        if rng.random() < 0.35:
            anon = rng.sample(all_variants, 2)
            events = shopping_session(
                rt,
                shop,
                anon,
                order["created_at"] - timedelta(minutes=30),
                rng,
                checkout_token=f"a{token}",
                cart_token=f"ac{token}",
                completes=False,
                neighbours=rng.sample(all_variants, 2),
            )
            post_pixel(rt, meter, shop, key, f"anon-{token}", None, events, http())
        tick(1)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda a: one(*a), enumerate(plan.live_orders)))
    for refund in plan.live_refunds:
        new = store.add_refund(refund["order_id"], refund)
        send_webhook(
            rt, meter, shop, "refunds/create", refund_payload(store, gid("Order", refund["order_id"]), new)
        )
        tick(1)
    return time.perf_counter() - started
