"""What ``attune bench memory`` sends and measures: the mixed storefront/ingress requests, the mixed jobs, and
resident memory read from ``/proc``.

Requests (per 100): 45 app-proxy recommendations (signed, the proxy bench's spread of placements, customers
and anonymous clients), 20 storefront searches (signed, varied shopper queries: the search embedder runs on
every one), 20 pixel batches (three events each, unique ids) and 15 signed ``orders/create`` webhooks (from 300 shoppers; a
unique event and order id each). Jobs (per 100): 50 pixel folds over stored events, 22 profile refreshes, 23
per-customer list refreshes, and one each of a shop list refresh, a catalogue embedding (after a product's
title changed, so MiniLM really embeds), an interest inference, a shop model fit and a rescoring — plus
whatever the web phase's webhooks and pixel batches queued, and the follow-ups jobs queue themselves.
"""

from __future__ import annotations

import json
import random
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

from app import tasks
from app.bench.ingest import order_body
from app.bench.proxy import BENCH_SECRET, SHOP, _request_lines
from app.bench.servers import children

QUERIES = [
    "camping stove",
    "something warm for hiking",
    "rain jacket",
    "waterproof boots for winter",
    "socks",
    "merino wool base layer",
    "a gift for a coffee lover",
    "lightweight tent for two",
    "sleeping bag",
    "headlamp with batteries",
    "water bottle",
    "trail running shoes",
    "sun hat",
    "energy bars",
    "fleece",
    "backpack 30 litres",
    "cooking pot for camping",
    "gloves",
    "insulated down jacket",
    "hiking poles",
]
REQUEST_MIX = [("recommendations", 45), ("search", 20), ("pixel", 20), ("webhook", 15)]
LIGHT_JOBS = [("fold", 50), ("profile", 22), ("customer_lists", 23)]
HEAVY_JOBS = [
    (tasks.REFRESH_SHOP_LISTS, "low"),
    (tasks.EMBED_PRODUCTS, "low"),
    (tasks.INFER_INTERESTS, "low"),
    (tasks.FIT_SHOP_MODELS, "low"),
    (tasks.RESCORE_SHOP, "low"),
]
CUSTOMERS = list(range(600, 660))
ORDER_CUSTOMERS = 300  # distinct shoppers of the webhooks' orders
PIXEL_NAMES = [
    "page_viewed",
    "product_viewed",
    "collection_viewed",
    "search_submitted",
    "product_added_to_cart",
]


# --- resident memory ----------------------------------------------------------------------------------


def children_of(pid: int) -> list[int]:
    """Child processes of ``pid``: from ``/proc/PID/task/PID/children`` (cheap), else a scan of ``/proc``."""
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return children(pid)
    except (OSError, ValueError):
        return []


def memory_of(pid: int) -> dict[str, float] | None:
    """MB of ``pid``: resident (VmRSS, and its anonymous and file-backed parts), peak (VmHWM) and proportional
    (Pss: shared pages divided among the processes that map them). None once the process is gone."""
    out: dict[str, float] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key = line.split(":", 1)[0]
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[key] = int(line.split()[1]) / 1024
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                out["Pss"] = int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return out or None


# --- requests -----------------------------------------------------------------------------------------


def _http(method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    head = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if method == "POST":
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def _search(query: str) -> bytes:
    from app.shopify.verify import proxy_signature

    pairs = [
        ("q", query),
        ("limit", "6"),
        ("shop", SHOP),
        ("logged_in_customer_id", ""),
        ("path_prefix", "/apps/attune"),
        ("timestamp", str(int(time.time()))),
    ]
    pairs.append(("signature", proxy_signature(pairs, BENCH_SECRET)))
    return _http("GET", f"/proxy/search?{urlencode(pairs)}")


def _viewed(pid: str) -> dict:
    """A ``product_viewed`` event's data as the Attune pixel sends it."""
    return {"variant": {"id": pid + "1", "price": {"amount": 20.0}, "product": {"id": pid, "title": "P"}}}


def _pixel(pixel_key: str, client: str, now: datetime, rng: random.Random) -> bytes:
    events = []
    for i in range(3):
        name = rng.choice(PIXEL_NAMES)
        data: dict = {}
        if name == "product_viewed":
            pid = str(rng.randint(1001, 1016))
            data = _viewed(pid)
        elif name == "search_submitted":
            data = {"query": rng.choice(QUERIES), "results": 6}
        events.append(
            {
                "id": f"{client}-{uuid.uuid4().hex[:12]}",
                "name": name,
                "timestamp": (now - timedelta(seconds=30 - i)).isoformat(),
                "context": {"document": {"location": {"href": "https://shop.example/products/x"}}},
                "data": data,
            }
        )
    body = {"shop": SHOP, "pixelKey": pixel_key, "clientId": client, "events": events}
    return _http("POST", "/pixel/events", json.dumps(body).encode(), {"Content-Type": "text/plain"})


def _webhook(order: dict, n: int) -> bytes:
    """A signed ``orders/create`` of a new order (its own order and line item ids) by one of
    ``ORDER_CUSTOMERS`` shoppers (one shopper with thousands of orders would make every profile refresh of the
    backlog read them all: no store looks like that)."""
    from app.shopify.verify import webhook_hmac

    lines = [{**line, "id": 587817672276298554 + 10 * n + i} for i, line in enumerate(order["line_items"])]
    who = n % ORDER_CUSTOMERS
    customer = {**order["customer"], "id": 115310627314700000 + who, "email": f"mem{who}@example.com"}
    body = {
        **order,
        "id": 920982911946154508 + n,
        "name": f"#B{n}",
        "line_items": lines,
        "customer": customer,
    }
    body = json.dumps(body).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Shop-Domain": SHOP,
        "X-Shopify-Hmac-Sha256": webhook_hmac(body, BENCH_SECRET),
        "X-Shopify-Event-Id": f"mem-{uuid.uuid4()}",
        "X-Shopify-Webhook-Id": str(uuid.uuid4()),
        "X-Shopify-API-Version": "2026-07",
    }
    return _http("POST", "/webhooks", body, headers)


def request_mix(n: int, pixel_key: str, products: list[int], seed: int) -> list[tuple[str, bytes]]:
    """``n`` requests of the mix, shuffled: (kind, raw HTTP request)."""
    rng = random.Random(seed)
    kinds = [k for k, share in REQUEST_MIX for _ in range(share)]
    chosen = [kinds[rng.randrange(len(kinds))] for _ in range(n)]
    recs = iter(_request_lines(chosen.count("recommendations"), [501, 502, *CUSTOMERS], products))
    order = json.loads(order_body())
    now = datetime.now(UTC)
    out = []
    for i, kind in enumerate(chosen):
        if kind == "recommendations":
            out.append((kind, next(recs)))
        elif kind == "search":
            out.append((kind, _search(rng.choice(QUERIES))))
        elif kind == "pixel":
            out.append((kind, _pixel(pixel_key, f"mem-{seed}-{rng.randrange(2000)}", now, rng)))
        else:
            out.append((kind, _webhook(order, seed * 1_000_000 + i)))
    return out


def send_all(args: tuple[int, list[tuple[str, bytes]]]) -> list[tuple[str, float, int]]:
    """One load-generator process: each request on a new connection, read to EOF; (kind, ms, status)."""
    port, requests = args
    results = []
    for kind, raw in requests:
        started = time.perf_counter()
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(raw)
            chunks = []
            while data := s.recv(65536):
                chunks.append(data)
        elapsed = (time.perf_counter() - started) * 1000
        head = b"".join(chunks)[:64].decode("latin-1")
        status = int(head.split(" ", 2)[1]) if head.startswith("HTTP/") else 0
        results.append((kind, elapsed, status))
    return results


# --- jobs ---------------------------------------------------------------------------------------------


def job_mix(n: int, shop_id: int, fold_batches: Iterator[list[int]]) -> list[tuple[str, str, tuple]]:
    """``n`` jobs of the mix, in a fixed interleaving: (queue, job name, args). The caller changes a product's
    title before queueing each ``EMBED_PRODUCTS`` (:func:`touch_product`)."""
    cycle: list[tuple[str, str, tuple]] = []
    for kind, share in LIGHT_JOBS:
        cycle += [("default", kind, ())] * share
    cycle += [(queue, name, ()) for name, queue in HEAVY_JOBS]
    random.Random(3).shuffle(cycle)
    out = []
    for i in range(n):
        queue, kind, _ = cycle[i % len(cycle)]
        customer = CUSTOMERS[i % len(CUSTOMERS)]
        if kind == "fold":
            out.append((queue, tasks.FOLD_PIXEL_EVENTS, (shop_id, next(fold_batches))))
        elif kind == "profile":
            out.append((queue, tasks.REFRESH_PROFILE, (shop_id, f"customer:{customer}")))
        elif kind == "customer_lists":
            out.append((queue, tasks.REFRESH_CUSTOMER_LISTS, (shop_id, customer)))
        else:
            out.append((queue, kind, (shop_id,)))
    return out


def stored_pixel_batches(
    database_url: str, shop_id: int, batches: int, per_batch: int = 4
) -> list[list[int]]:
    """Store ``batches`` pixel batches as ingress does (one client each) and return their row ids."""
    from sqlmodel import Session

    from app.db import get_engine
    from app.web.pixel import insert_new_events

    rng = random.Random(11)
    now = datetime.now(UTC)
    out = []
    with Session(get_engine(database_url)) as session:
        for b in range(batches):
            client = f"fold-{b}"
            rows = []
            for i in range(per_batch):
                name = rng.choice(PIXEL_NAMES)
                pid = str(rng.randint(1001, 1016))
                data = _viewed(pid) if name == "product_viewed" else {}
                rows.append(
                    {
                        "shop_id": shop_id,
                        "event_id": f"{client}-{i}",
                        "client_id": client,
                        "customer_shopify_id": None,
                        "name": name,
                        "occurred_at": now - timedelta(minutes=per_batch - i),
                        "received_at": now,
                        "context": {"url": "https://shop.example/products/x"},
                        "data": data,
                    }
                )
            out.append(insert_new_events(session, rows))
        session.commit()
    return out


def touch_product(database_url: str, shop_id: int, n: int) -> None:
    """Change one product's title, so the next catalogue embedding job embeds it with MiniLM."""
    from sqlmodel import Session, select

    from app.db import get_engine
    from app.models.commerce import Product

    with Session(get_engine(database_url)) as session:
        products = session.exec(select(Product).where(Product.shop_id == shop_id)).all()
        product = products[n % len(products)]
        product.title = product.title.split(" (")[0] + f" ({n})"
        session.add(product)
        session.commit()
