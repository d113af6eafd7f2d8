"""The freshness bench's traffic and its measurement.

``build_schedule`` lays out a steady, open-loop mix for one rate step: signed ``orders/create`` (each order first
added to the fake Shopify, as the demo's replay does), ``carts/update`` and web-pixel batches (the buyer's
storefront session, ``app.demo.replay.shopping_session``). ``send_all`` fires each item at its planned time from
a pool of keep-alive HTTP clients, whatever the server's pace (a slow server shows up as latency, not as a
gentler load). ``Tracker`` follows every acknowledged order until it is reflected:

- the profile: the order's id is among the customer's profile's recent orders (``explicit.orders.recent``);
- the served list: the customer's ``home`` list, as the app proxy serves it, was computed after the order was
  committed (its ``computed_at`` is not before the order's inbox row's ``processed_at``, which the job stamps in
  the transaction that upserts the order; each list refresh is queued after that commit).

Both are polled every ``poll_s``: one query for the profiles and one for the list rows of every pending order,
then a signed app-proxy request for each order whose stored list is already new enough.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import requests
from sqlmodel import Session, select

from app.db import get_engine
from app.demo.replay import PIXEL_BATCH, shopping_session
from app.demo.runtime import DemoRuntime
from app.models.inbox import WebhookInbox
from app.models.profiles import CustomerProfile
from app.models.serving import RecommendationList
from app.shopify.fake.rest import order_payload
from app.shopify.fake.webhooks import webhook_headers
from app.shopify.verify import proxy_signature


@dataclass
class Item:
    """One request of the schedule, ``at`` seconds after the step starts."""

    at: float
    kind: str  # "orders/create" | "carts/update" | "pixel"
    body: bytes
    event_id: str = ""
    customer_id: int = 0
    order_id: int = 0


@dataclass
class Order:
    """An acknowledged order and when (monotonic seconds) each part of it was first seen reflected."""

    order_id: int
    customer_id: int
    event_id: str
    acked: float
    processed_at: datetime | None = None
    profile_at: float | None = None
    list_at: float | None = None

    @property
    def reflected_at(self) -> float | None:
        if self.profile_at is None or self.list_at is None:
            return None
        return max(self.profile_at, self.list_at)


@dataclass
class Shopper:
    customer_id: int
    variants: list[int]


def build_schedule(
    rt: DemoRuntime,
    shop: str,
    pixel_key: str,
    shoppers: list[Shopper],
    *,
    rate: float,
    duration: float,
    order_share: float,
    seed: int,
    prefix: str = "fresh",
) -> list[Item]:
    """``rate`` webhooks/s for ``duration`` s, ``order_share`` of them ``orders/create`` and the rest
    ``carts/update``; each order is preceded by one pixel batch of its buyer's storefront session. Webhook
    event ids start with ``prefix``."""
    rng = random.Random(seed)
    store = rt.fake.store(shop)
    everything = [v for s in shoppers for v in s.variants]
    items: list[Item] = []
    for i in range(int(rate * duration)):
        at = i / rate
        shopper = shoppers[rng.randrange(len(shoppers))]
        basket = rng.sample(shopper.variants, min(len(shopper.variants), rng.randint(1, 3)))
        basket.append(rng.choice(everything))
        if rng.random() >= order_share:
            cart = json.dumps(_cart(shopper, basket, rng)).encode()
            items.append(Item(at, "carts/update", cart, event_id=f"{prefix}-{uuid.uuid4()}"))
            continue
        token = uuid.uuid4().hex[:24]
        now = datetime.now(UTC)
        events = shopping_session(
            rt,
            shop,
            basket,
            now,
            rng,
            checkout_token=token,
            cart_token=f"c{token}",
            completes=True,
            neighbours=rng.sample(everything, 2),
        )[-PIXEL_BATCH:]
        pixel = {
            "shop": shop,
            "pixelKey": pixel_key,
            "clientId": f"fresh-{shopper.customer_id}",
            "customerId": shopper.customer_id,
            "timeZone": "Europe/London",
            "events": events,
        }
        items.append(Item(at, "pixel", json.dumps(pixel).encode()))
        lines = [{"variant_id": v, "quantity": 1 + rng.randrange(3)} for v in dict.fromkeys(basket)]
        record = store.add_order(
            {"customer_id": shopper.customer_id, "created_at": now, "lines": lines, "name": f"#F{token[:8]}"}
        )
        body = order_payload(store, record["id"], cart_token=f"c{token}", checkout_token=token)
        items.append(
            Item(
                at,
                "orders/create",
                json.dumps(body).encode(),
                event_id=f"{prefix}-{uuid.uuid4()}",
                customer_id=shopper.customer_id,
                order_id=int(body["id"]),
            )
        )
    return items


def _cart(shopper: Shopper, variants: list[int], rng: random.Random) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    token = f"fresh-cart-{shopper.customer_id}-{rng.randrange(4)}"
    lines = [
        {"variant_id": v, "quantity": 1 + rng.randrange(2), "price": "4.95", "line_price": "4.95"}
        for v in variants
    ]
    return {"id": token, "token": token, "line_items": lines, "created_at": now, "updated_at": now}


@dataclass
class Outcome:
    """What the clients saw: statuses per kind, pixel events sent, and when the first and last went out."""

    statuses: dict[str, list[int]] = field(default_factory=dict)
    pixel_events: int = 0
    first: float = 0.0
    last: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


def send_all(
    rt: DemoRuntime,
    shop: str,
    items: list[Item],
    on_order: Callable[[Order], None],
    tick: Callable[[int], Any] = lambda n: None,
    clients: int = 32,
) -> Outcome:
    """Send ``items`` on schedule (open loop) from ``clients`` keep-alive HTTP clients; ``tick(1)`` after each."""
    settings = rt.settings
    local = threading.local()
    out = Outcome()

    def send(item: Item) -> None:
        http = getattr(local, "http", None) or setattr(local, "http", requests.Session()) or local.http
        if item.kind == "pixel":
            url, headers = f"{rt.app_url}/pixel/events", {"Content-Type": "application/json"}
        else:
            url = f"{rt.app_url}/webhooks"
            headers = webhook_headers(
                item.body,
                shop,
                item.kind,
                secret=settings.shopify_api_secret,
                api_version=settings.shopify_api_version,
                event_id=item.event_id or None,
            )
        try:
            status = http.post(url, data=item.body, headers=headers, timeout=30).status_code
        except requests.RequestException:
            status = 0
        done = time.monotonic()
        if item.kind == "orders/create" and status == 200:
            on_order(Order(item.order_id, item.customer_id, item.event_id, done))
        with out.lock:
            out.statuses.setdefault(item.kind, []).append(status)
            out.last = max(out.last, done)
            if item.kind == "pixel" and status in (200, 207):
                out.pixel_events += len(json.loads(item.body)["events"])
        tick(1)

    with ThreadPoolExecutor(clients) as pool:
        t0 = out.first = time.monotonic()
        for item in items:
            delay = t0 + item.at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(send, item)
    return out


class Tracker:
    """Follows acknowledged orders until their profile and served ``home`` list reflect them (module doc)."""

    def __init__(self, rt: DemoRuntime, shop: str, shop_id: int, poll_s: float = 0.2) -> None:
        self.rt, self.shop, self.shop_id, self.poll_s = rt, shop, shop_id, poll_s
        self.engine = get_engine(rt.settings.database_url)
        self.orders: list[Order] = []
        self.pending: list[Order] = []
        self.proxy_requests = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="freshness-tracker", daemon=True)
        self._http = requests.Session()

    def add(self, order: Order) -> None:
        with self._lock:
            self.orders.append(order)
            self.pending.append(order)

    def start(self) -> Tracker:
        self._thread.start()
        return self

    def drain(self, timeout: float) -> None:
        """Wait until every order is reflected or ``timeout`` passes, then stop polling."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.left():
            time.sleep(self.poll_s)
        self._stop.set()
        self._thread.join()

    def left(self) -> int:
        with self._lock:
            return len(self.pending)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            self.poll()

    def poll(self) -> None:
        """One look at every pending order (see the module doc)."""
        with self._lock:
            pending = list(self.pending)
        if not pending:
            return
        customers = sorted({o.customer_id for o in pending})
        with Session(self.engine) as s:
            missing = [o.event_id for o in pending if o.processed_at is None]
            processed = dict(
                s.exec(
                    select(WebhookInbox.event_id, WebhookInbox.processed_at).where(
                        WebhookInbox.event_id.in_(missing)  # type: ignore[attr-defined]
                    )
                ).all()
                if missing
                else []
            )
            recent = {
                cid: {str(r.get("id")) for r in ((explicit or {}).get("orders") or {}).get("recent") or []}
                for cid, explicit in s.exec(
                    select(CustomerProfile.customer_shopify_id, CustomerProfile.explicit).where(
                        CustomerProfile.shop_id == self.shop_id,
                        CustomerProfile.customer_shopify_id.in_(customers),  # type: ignore[union-attr]
                    )
                ).all()
            }
            stored = dict(
                s.exec(
                    select(RecommendationList.subject, RecommendationList.computed_at).where(
                        RecommendationList.shop_id == self.shop_id,
                        RecommendationList.scope == "customer",
                        RecommendationList.placement == "home",
                        RecommendationList.subject.in_([str(c) for c in customers]),  # type: ignore[attr-defined]
                    )
                ).all()
            )
        served: dict[int, datetime | None] = {}
        for order in pending:
            now = time.monotonic()
            order.processed_at = order.processed_at or processed.get(order.event_id)
            if order.profile_at is None and str(order.order_id) in recent.get(order.customer_id, ()):
                order.profile_at = now
            fresh_in_db = stored.get(str(order.customer_id))
            if (
                order.list_at is None
                and order.processed_at
                and fresh_in_db
                and fresh_in_db >= order.processed_at
            ):
                if order.customer_id not in served:
                    served[order.customer_id] = self.served_computed_at(order.customer_id)
                at = served[order.customer_id]
                if at is not None and at >= order.processed_at:
                    order.list_at = time.monotonic()
        with self._lock:
            self.pending = [o for o in self.pending if o.reflected_at is None]

    def served_computed_at(self, customer_id: int) -> datetime | None:
        """``computed_at`` of the customer's ``home`` list as the app proxy serves it (signed as Shopify signs)."""
        query = {
            "placement": "home",
            "shop": self.shop,
            "logged_in_customer_id": str(customer_id),
            "path_prefix": "/apps/attune",
            "timestamp": str(int(time.time())),
        }
        query["signature"] = proxy_signature(query.items(), self.rt.settings.shopify_api_secret)
        self.proxy_requests += 1
        try:
            response = self._http.get(
                f"{self.rt.app_url}/proxy/recommendations?{urlencode(query)}", timeout=10
            )
            value = response.json().get("computed_at") if response.status_code == 200 else None
        except (requests.RequestException, ValueError):
            return None
        return datetime.fromisoformat(value) if value else None
