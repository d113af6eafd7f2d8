"""``attune bench ingest``: POST /webhooks under production gunicorn vs a bare WSGI hello-world.

Both servers run with ``app.gunicorn_conf`` (same workers, same worker class and threads) side by side,
measured in alternating rounds so load from elsewhere on a shared machine falls on both alike, and driven by
the same bounded load generator (``app.bench.ingest_load``: client processes on raw loopback sockets, each
keeping a fixed number of requests in flight, a new connection per request). Every webhook is a validly
signed ``orders/create`` with a unique ``X-Shopify-Event-Id``. Afterwards the inbox rows are counted
(nothing may be lost) and every stored row must be carried by a queued job. A private ``redis-server`` on a
free loopback port takes the jobs (unless ``--redis-url`` is given), and the database is a temporary SQLite
file unless ``--database-url`` names another (it is migrated).

Longer than about 400 lines: the servers, the alternating rounds, both client modes and the loss check share
one set-up and must stay side by side to be compared fairly.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import click

from app.bench.ingest_load import drive
from app.bench.report import write_report
from app.bench.servers import HELLO_APP, free_port, private_redis, serve_gunicorn

BENCH_SECRET = "bench-secret-0123456789abcdef0123"
SHOP = "attune-ingest-bench.myshopify.com"
P99_TARGET_MS, RATIO_TARGET = 50.0, 0.5


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


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


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


def _commit_latency(url: str, body: bytes, n: int = 200) -> float:
    """Median time of one durable inbox commit on its own (one writer, batches of one, no HTTP/HMAC/Redis),
    in ms: what every delivery would pay without group commit."""
    from app.models.base import utcnow
    from webhooks.inbox_writer import InboxWriter

    writer = InboxWriter(url)
    payload, times = body.decode(), []
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            writer.record(
                {
                    "shop_domain": SHOP,
                    "event_id": f"commit-{uuid.uuid4()}",
                    "webhook_id": None,
                    "topic": "bench/commit-timing",  # no handler: recorded as dropped, never queued
                    "api_version": None,
                    "triggered_at": None,
                    "payload": payload,
                    "attempts": 0,
                    "received_at": utcnow(),
                    "processed_at": None,
                }
            )
            times.append((time.perf_counter() - t0) * 1000)
    finally:
        writer.close()
    return _pct(times, 0.5)


def _durability(url: str) -> str:
    """The database's commit durability setting, as the server processes see it."""
    from sqlalchemy import text

    from app.db import get_engine

    engine = get_engine(url)
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            level = conn.execute(text("PRAGMA synchronous")).scalar()
            mode = conn.execute(text("PRAGMA journal_mode")).scalar()
            name = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(level, str(level))
            return f"SQLite journal_mode={mode}, synchronous={name}"
        value = conn.execute(text("SHOW synchronous_commit")).scalar()
        fsync = conn.execute(text("SHOW fsync")).scalar()
        return f"PostgreSQL synchronous_commit={value}, fsync={fsync}"


def _queued_jobs(redis_url: str) -> tuple[int, set[int]]:
    """(jobs in the webhooks queue, the inbox ids they carry)."""
    from redis import Redis
    from rq import Queue

    jobs = Queue("webhooks", connection=Redis.from_url(redis_url)).jobs
    return len(jobs), {i for job in jobs for i in job.args[0]}


def _queued_ids(redis_url: str) -> set[int]:
    return _queued_jobs(redis_url)[1]


def _stored_ids(url: str, shop_id: int, prefix: str) -> set[int]:
    from sqlmodel import Session, select

    from app.db import get_engine
    from app.models.inbox import WebhookInbox

    with Session(get_engine(url)) as s:
        return set(
            s.exec(
                select(WebhookInbox.id).where(
                    WebhookInbox.shop_id == shop_id,
                    WebhookInbox.event_id.startswith(prefix + "-"),  # type: ignore[attr-defined]
                )
            )
        )


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
@click.option("--concurrency", default=4, show_default=True, help="Load-generator processes.")
@click.option(
    "--inflight", default=8, show_default=True, help="Requests in flight per load-generator process."
)
@click.option("--rounds", default=4, show_default=True, help="Alternating rounds per server.")
@click.option(
    "--database-url", default=None, help="Database for the inbox (default: a temporary SQLite file)."
)
@click.option("--redis-url", default=None, help="Redis for the jobs (default: a private redis-server).")
@click.option("--out", default="benchmarks/ingest.md", show_default=True, type=click.Path(dir_okay=False))
def ingest(
    n: int,
    warmup: int,
    concurrency: int,
    inflight: int,
    rounds: int,
    database_url: str | None,
    redis_url: str | None,
    out: str,
) -> None:
    """Webhooks/s and p99 of POST /webhooks vs a WSGI hello-world; proves zero lost, zero non-2xx."""

    from app import gunicorn_conf

    body = order_body()
    per_round = [n // rounds + (1 if i < n % rounds else 0) for i in range(rounds)]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        url = database_url or f"sqlite:///{workdir / 'ingest.sqlite3'}"
        shop_id = _prepare_db(url)
        redis_proc = None
        if redis_url is None:
            redis_proc, redis_url = private_redis(workdir)
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
        servers: dict[str, tuple[subprocess.Popen, int]] = {}
        runs: dict[str, list[tuple[list, float]]] = {"hello-world": [], "webhooks": []}
        warm: list = []
        try:
            before = _queued_ids(redis_url)
            for name, target in (("hello-world", HELLO_APP), ("webhooks", "app.wsgi:app")):
                port = free_port()
                servers[name] = (serve_gunicorn(target, port, env), port)
            for name, (_, port) in servers.items():
                results, _ = drive(port, _requests(warmup, body, prefix), concurrency, inflight)
                if name == "webhooks":
                    warm = results
            for size in per_round:  # alternating, so load from elsewhere falls on both alike
                for name, (_, port) in servers.items():
                    runs[name].append(drive(port, _requests(size, body, prefix), concurrency, inflight))
        finally:
            for proc, _ in servers.values():
                proc.terminate()  # graceful: each worker commits and enqueues what it holds, then exits
            for proc, _ in servers.values():
                proc.wait(30)
        try:
            rows_stored = _count(url, shop_id, prefix)
            jobs, queued_ids = _queued_jobs(redis_url)
            not_queued = len(_stored_ids(url, shop_id, prefix) - (queued_ids - before))
            commit_ms = _commit_latency(url, body)
            durability = _durability(url)
            if database_url:
                _cleanup(url, shop_id)
        finally:
            if redis_proc is not None:
                redis_proc.terminate()
                redis_proc.wait(10)

    def totals(name: str) -> tuple[list, float, float]:
        results = [r for part, _ in runs[name] for r in part]
        wall = sum(w for _, w in runs[name])
        return results, wall, len(results) / wall

    ours, _, rate = totals("webhooks")
    hello, _, hello_rate = totals("hello-world")
    round_ratios = [
        (len(a) / wa) / (len(b) / wb)
        for (a, wa), (b, wb) in zip(runs["webhooks"], runs["hello-world"], strict=True)
    ]
    sent = len(warm) + len(ours)
    ok = sum(1 for _, s in warm + ours if 200 <= s < 300)
    non_2xx = sent - ok
    lost = ok - rows_stored
    ratio = rate / hello_rate
    p50, p99 = _pct([e for e, _ in ours], 0.5), _pct([e for e, _ in ours], 0.99)
    h50, h99 = _pct([e for e, _ in hello], 0.5), _pct([e for e, _ in hello], 0.99)
    backend = url.split(":", 1)[0].split("+", 1)[0]
    command = (
        f"attune bench ingest --requests {n} --warmup {warmup} --concurrency {concurrency} "
        f"--inflight {inflight} --rounds {rounds}" + (" --database-url <URL>" if database_url else "")
    )
    report = [
        "# Benchmark: webhook ingest (POST /webhooks)",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {_machine()}.",
        f"Server: gunicorn `app.gunicorn_conf` ({gunicorn_conf.workers} {gunicorn_conf.worker_class} workers, "
        f"{gunicorn_conf.threads} thread(s) each) on loopback for both; database: {backend} ({durability}); "
        f"Redis: {'private redis-server' if redis_proc else 'given'}. Load: {concurrency} client processes on "
        f"the same CPUs with up to {inflight} requests in flight each ({concurrency * inflight} in all, the same "
        f"for both servers), a new connection per request; {rounds} alternating rounds per server after "
        f"{warmup} warm-up requests each; signed `orders/create` (about {len(body) // 100 / 10:.1f} KB), "
        "unique event ids.",
        "",
        "| figure | POST /webhooks | bare WSGI hello-world |",
        "|---|---|---|",
        f"| measured requests | {len(ours)} | {len(hello)} |",
        f"| throughput (req/s) | {rate:.0f} | {hello_rate:.0f} |",
        f"| latency p50 (ms) | {p50:.2f} | {h50:.2f} |",
        f"| latency p99 (ms) | {p99:.2f} | {h99:.2f} |",
        "",
        f"Same database, same run: one durable inbox commit on its own (one writer, a batch of one, no "
        f"HTTP/HMAC/Redis) takes **{commit_ms:.2f} ms** (median). Every webhook's row is committed before its "
        "200; concurrent deliveries in one worker share a commit (group commit), and the job is queued after "
        "the 200 by a background thread.",
        "",
        f"Throughput ratio: **{ratio:.3f}×** hello-world (goal ≥ {RATIO_TARGET}×: "
        f"{'met' if ratio >= RATIO_TARGET else 'NOT met'}); per round: "
        + ", ".join(f"{r:.2f}×" for r in round_ratios)
        + ".",
        f"p99: **{p99:.2f} ms** (goal ≤ {P99_TARGET_MS:.0f} ms: {'met' if p99 <= P99_TARGET_MS else 'NOT met'}).",
        f"Webhooks sent (incl. warm-up): {sent}; 2xx: {ok}; non-2xx: **{non_2xx}**; inbox rows stored: "
        f"{rows_stored}; lost: **{lost}**; rows without a queued job: **{not_queued}** ({jobs} jobs queued).",
        "",
    ]
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    write_report(out, "\n".join(report))
    click.echo("\n".join(report))
    if non_2xx or lost or not_queued:
        raise click.ClickException(f"{non_2xx} non-2xx, {lost} webhooks lost, {not_queued} not queued")
