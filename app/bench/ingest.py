"""``attune bench ingest``: POST /webhooks under production gunicorn vs a bare WSGI hello-world.

Both servers run with ``app.gunicorn_conf`` (same workers, same worker class) in the same run, driven by
the same bounded load generator (a few client processes on raw loopback sockets, a new connection per
request as sync workers close it). Every webhook is a validly signed ``orders/create`` with a unique
``X-Shopify-Event-Id``. Afterwards the inbox rows and queued jobs are counted: nothing may be lost.
A private ``redis-server`` on a free loopback port takes the jobs (unless ``--redis-url`` is given), and
the database is a temporary SQLite file unless ``--database-url`` names another (it is migrated).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import click

BENCH_SECRET = "bench-secret-0123456789abcdef0123"
SHOP = "attune-ingest-bench.myshopify.com"
P99_TARGET_MS, RATIO_TARGET = 50.0, 0.5
CLIENT_TIMEOUT_S = 30.0  # a request that hangs counts as a failure instead of hanging the run


def hello_app(environ, start_response):  # the peer: the cheapest WSGI answer there is
    body = b'{"hello":"world"}'
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def order_body() -> bytes:
    """An orders/create payload shaped like Shopify's (about 4 KB, five line items, 64-bit ids)."""
    lines = [
        {
            "id": 487817672276298554 + i,
            "admin_graphql_api_id": f"gid://shopify/LineItem/{487817672276298554 + i}",
            "product_id": 788032119674292922 + i,
            "variant_id": 642667041472713922 + i,
            "title": f"Item {i}",
            "name": f"Item {i} - Default",
            "sku": f"SKU-{i:04d}",
            "quantity": 1 + i % 3,
            "price": f"{19 + i}.99",
            "price_set": {"shop_money": {"amount": f"{19 + i}.99", "currency_code": "USD"}},
            "total_discount": "0.00",
            "requires_shipping": True,
            "taxable": True,
            "gift_card": False,
            "vendor": "Acme",
            "properties": [],
            "tax_lines": [],
            "discount_allocations": [],
        }
        for i in range(5)
    ]
    order = {
        "id": 820982911946154508,
        "admin_graphql_api_id": "gid://shopify/Order/820982911946154508",
        "email": "jon@example.com",
        "name": "#9999",
        "currency": "USD",
        "created_at": "2026-07-01T12:00:00-04:00",
        "updated_at": "2026-07-01T12:00:00-04:00",
        "processed_at": "2026-07-01T12:00:00-04:00",
        "financial_status": "paid",
        "total_price": "129.95",
        "subtotal_price": "119.95",
        "total_discounts": "0.00",
        "total_tax": "0.00",
        "source_name": "web",
        "tags": "",
        "test": False,
        "billing_address": {
            "first_name": "Steve",
            "city": "Shippington",
            "country_code": "US",
            "zip": "40003",
        },
        "customer": {
            "id": 115310627314723954,
            "email": "john@example.com",
            "first_name": "John",
            "last_name": "Smith",
            "updated_at": None,
            "default_address": {"city": "Ottawa", "country_code": "CA", "zip": "K2H7A8"},
        },
        "line_items": lines,
        "shipping_lines": [{"id": 271878346596884015, "title": "Generic Shipping", "price": "10.00"}],
        "refunds": [],
    }
    return json.dumps(order).encode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(port: int, timeout: float = 30.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise click.ClickException(f"server on port {port} did not start")


def _requests(n: int, body: bytes, prefix: str) -> list[bytes]:
    from app.shopify.verify import webhook_hmac

    signature = webhook_hmac(body, BENCH_SECRET)
    out = []
    for _ in range(n):
        head = (
            "POST /webhooks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nX-Shopify-Topic: orders/create\r\n"
            f"X-Shopify-Shop-Domain: {SHOP}\r\nX-Shopify-Hmac-Sha256: {signature}\r\n"
            f"X-Shopify-Event-Id: {prefix}-{uuid.uuid4()}\r\nX-Shopify-Webhook-Id: {uuid.uuid4()}\r\n"
            "X-Shopify-API-Version: 2026-07\r\nConnection: close\r\n\r\n"
        )
        out.append(head.encode() + body)
    return out


def _client(args: tuple[int, list[bytes]]) -> list[tuple[float, int]]:
    port, requests = args
    results = []
    for raw in requests:
        t0 = time.perf_counter()
        status = 0
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT_S) as s:
                s.sendall(raw)
                chunks = []
                while True:
                    data = s.recv(65536)
                    if not data:
                        break
                    chunks.append(data)
            head = b"".join(chunks).split(b"\r\n", 1)[0].decode("latin-1")
            status = int(head.split(" ", 2)[1]) if head.startswith("HTTP/") else 0
        except OSError:
            status = 0
        results.append(((time.perf_counter() - t0) * 1000, status))
    return results


def _load(port: int, warmup: list[bytes], measured: list[bytes], concurrency: int):
    with mp.get_context("fork").Pool(concurrency) as pool:
        warm = pool.map(_client, [(port, warmup[i::concurrency]) for i in range(concurrency)])
        t0 = time.perf_counter()
        parts = pool.map(_client, [(port, measured[i::concurrency]) for i in range(concurrency)])
        wall = time.perf_counter() - t0
    return [r for p in warm for r in p], [r for p in parts for r in p], wall


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def _serve(target: str, port: int, env: dict[str, str]) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        "python:app.gunicorn_conf",
        "-b",
        f"127.0.0.1:{port}",
        target,
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait(port)
    return proc


def _private_redis(workdir: Path) -> tuple[subprocess.Popen, str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise click.ClickException("redis-server not found; pass --redis-url")
    port = _free_port()
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait(port)
    return proc, f"redis://127.0.0.1:{port}/0"


def _prepare_db(url: str) -> int:
    from sqlmodel import Session, select

    from app.db import get_engine
    from app.migrate import upgrade
    from app.models.base import utcnow
    from app.models.shop import Shop

    upgrade(url)
    with Session(get_engine(url)) as s:
        shop = s.exec(select(Shop).where(Shop.domain == SHOP)).first()
        if shop is None:
            shop = Shop(domain=SHOP, access_token_enc="bench", installed_at=utcnow(), scopes="read_orders")
            s.add(shop)
            s.commit()
            s.refresh(shop)
        return shop.id


def _count(url: str, shop_id: int, prefix: str) -> int:
    from sqlalchemy import func
    from sqlmodel import Session, select

    from app.db import get_engine
    from app.models.inbox import WebhookInbox

    with Session(get_engine(url)) as s:
        return s.exec(
            select(func.count())
            .select_from(WebhookInbox)
            .where(WebhookInbox.shop_id == shop_id, WebhookInbox.event_id.startswith(prefix + "-"))  # type: ignore[attr-defined]
        ).one()


def _commit_latency(url: str, shop_id: int, body: bytes, n: int = 200) -> float:
    """Median time of one durable inbox insert on its own (one writer, no HTTP/HMAC/Redis), in ms."""
    from app.db import get_engine
    from app.models.base import utcnow
    from webhooks.routes import _insert_inbox

    engine = get_engine(url)
    payload, times = body.decode(), []
    for _ in range(n):
        t0 = time.perf_counter()
        with engine.begin() as conn:
            _insert_inbox(
                conn,
                {
                    "shop_id": shop_id,
                    "shop_domain": SHOP,
                    "event_id": f"commit-{uuid.uuid4()}",
                    "topic": "orders/create",
                    "payload": payload,
                    "status": "dropped",
                    "attempts": 0,
                    "error": "bench commit timing",
                    "received_at": utcnow(),
                },
            )
        times.append((time.perf_counter() - t0) * 1000)
    return _pct(times, 0.5)


def _cleanup(url: str, shop_id: int) -> None:
    """Remove the bench shop (and, by cascade, its inbox rows) from a database that outlives the run."""
    from sqlalchemy import delete

    from app.db import get_engine
    from app.models.inbox import WebhookInbox
    from app.models.shop import Shop

    with get_engine(url).begin() as conn:
        conn.execute(delete(WebhookInbox).where(WebhookInbox.shop_id == shop_id))
        conn.execute(delete(Shop).where(Shop.id == shop_id))


def _machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({model}), {platform.system()} {platform.release()}, Python {platform.python_version()}"


@click.command("ingest")
@click.option("--requests", "n", default=4000, show_default=True, help="Measured requests per server.")
@click.option("--warmup", default=200, show_default=True, help="Unmeasured requests per server first.")
@click.option("--concurrency", default=4, show_default=True, help="Load-generator processes (closed loop).")
@click.option(
    "--database-url", default=None, help="Database for the inbox (default: a temporary SQLite file)."
)
@click.option("--redis-url", default=None, help="Redis for the jobs (default: a private redis-server).")
@click.option("--out", default="benchmarks/ingest.md", show_default=True, type=click.Path(dir_okay=False))
def ingest(
    n: int, warmup: int, concurrency: int, database_url: str | None, redis_url: str | None, out: str
) -> None:
    """Webhooks/s and p99 of POST /webhooks vs a WSGI hello-world; proves zero lost, zero non-2xx."""
    from redis import Redis

    from app import gunicorn_conf

    body = order_body()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        url = database_url or f"sqlite:///{workdir / 'ingest.sqlite3'}"
        shop_id = _prepare_db(url)
        redis_proc = None
        if redis_url is None:
            redis_proc, redis_url = _private_redis(workdir)
        prefix = f"bench-{uuid.uuid4().hex[:8]}"
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "REDIS_URL": redis_url,
            "SHOPIFY_API_SECRET": BENCH_SECRET,
            "SHOPIFY_API_SECRET_PREVIOUS": "",
            "ATTUNE_ENV": "development",
        }
        env.pop("GUNICORN_ACCESS_LOG", None)
        runs = {}
        try:
            before_jobs = Redis.from_url(redis_url).llen("rq:queue:webhooks")
            for name, target in (("hello-world", "app.bench.ingest:hello_app"), ("webhooks", "app.wsgi:app")):
                port = _free_port()
                server = _serve(target, port, env)
                try:
                    runs[name] = _load(
                        port, _requests(warmup, body, prefix), _requests(n, body, prefix), concurrency
                    )
                finally:
                    server.terminate()
                    server.wait(20)
            rows_stored = _count(url, shop_id, prefix)
            jobs_queued = Redis.from_url(redis_url).llen("rq:queue:webhooks") - before_jobs
            commit_ms = _commit_latency(url, shop_id, body)
            if database_url:
                _cleanup(url, shop_id)
        finally:
            if redis_proc is not None:
                redis_proc.terminate()
                redis_proc.wait(10)

    warm, ours, wall = runs["webhooks"]
    _, hello, hello_wall = runs["hello-world"]
    sent = len(warm) + len(ours)
    ok = sum(1 for _, s in warm + ours if 200 <= s < 300)
    non_2xx = sent - ok
    lost = ok - rows_stored
    rate, hello_rate = len(ours) / wall, len(hello) / hello_wall
    ratio = rate / hello_rate
    p50, p99 = _pct([e for e, _ in ours], 0.5), _pct([e for e, _ in ours], 0.99)
    h50, h99 = _pct([e for e, _ in hello], 0.5), _pct([e for e, _ in hello], 0.99)
    backend = url.split(":", 1)[0]
    command = f"attune bench ingest --requests {n} --warmup {warmup} --concurrency {concurrency}" + (
        " --database-url <URL>" if database_url else ""
    )
    report = [
        "# Benchmark: webhook ingest (POST /webhooks)",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {_machine()}.",
        f"Server: gunicorn `app.gunicorn_conf` ({gunicorn_conf.workers} {gunicorn_conf.worker_class} workers, "
        f"{gunicorn_conf.threads} thread(s)) on loopback for both; database: {backend}; Redis: "
        f"{'private redis-server' if redis_proc else 'given'}; {concurrency} closed-loop client processes on the "
        "same CPUs, a new connection per request; signed `orders/create` (about "
        f"{len(body) // 100 / 10:.1f} KB), unique event ids.",
        "",
        "| figure | POST /webhooks | bare WSGI hello-world |",
        "|---|---|---|",
        f"| measured requests | {len(ours)} | {len(hello)} |",
        f"| throughput (req/s) | {rate:.0f} | {hello_rate:.0f} |",
        f"| latency p50 (ms) | {p50:.2f} | {h50:.2f} |",
        f"| latency p99 (ms) | {p99:.2f} | {h99:.2f} |",
        "",
        f"Same database, same run: one durable inbox insert on its own (single writer, no HTTP/HMAC/Redis) "
        f"takes **{commit_ms:.2f} ms** (median). Every webhook is committed (fsynced) before its 200.",
        "",
        f"Throughput ratio: **{ratio:.2f}×** hello-world (goal ≥ {RATIO_TARGET}×: "
        f"{'met' if ratio >= RATIO_TARGET else 'NOT met'}).",
        f"p99: **{p99:.2f} ms** (goal ≤ {P99_TARGET_MS:.0f} ms: {'met' if p99 <= P99_TARGET_MS else 'NOT met'}).",
        f"Webhooks sent (incl. warm-up): {sent}; 2xx: {ok}; non-2xx: **{non_2xx}**; inbox rows stored: {rows_stored}; "
        f"lost: **{lost}**; jobs queued: {jobs_queued}.",
        "",
    ]
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text("\n".join(report))
    click.echo("\n".join(report))
    if non_2xx or lost:
        raise click.ClickException(f"{non_2xx} non-2xx responses, {lost} webhooks lost")
