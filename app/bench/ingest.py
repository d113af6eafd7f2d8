"""``attune bench ingest``: POST /webhooks under production gunicorn vs a bare WSGI hello-world.

Both servers run with ``app.gunicorn_conf`` (same workers, same worker class and threads) side by side and
are measured in alternating rounds, so load from elsewhere on a shared machine falls on both alike, by the
same load generators (``app.bench.ingest_load``) in two client modes: a new connection per request (as
Shopify opens them), and wrk-style persistent connections. Every webhook is a validly signed
``orders/create`` with a unique ``X-Shopify-Event-Id``. Afterwards every acknowledged event id must be in
the inbox and every stored row carried by a queued job. A private ``redis-server`` on a free loopback port
takes the jobs (unless ``--redis-url`` is given), and the database is a temporary SQLite file unless
``--database-url`` names another (it is migrated).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
import uuid
from pathlib import Path

import click

from app.bench import ingest_db as db
from app.bench.ingest_db import SHOP
from app.bench.ingest_load import drive, drive_keepalive
from app.bench.ingest_report import Mode, Tally, render
from app.bench.report import write_report
from app.bench.servers import HELLO_APP, cpu_seconds, free_port, private_redis, serve_gunicorn

BENCH_SECRET = "bench-secret-0123456789abcdef0123"


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


def request_parts(body: bytes) -> tuple[bytes, bytes]:
    """(head, tail) of a signed delivery of ``body``: a request is ``head`` + an ``X-Shopify-Event-Id``
    header line + ``tail`` (any further headers, the blank line and the body)."""
    from app.shopify.verify import webhook_hmac

    head = (
        "POST /webhooks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nX-Shopify-Topic: orders/create\r\n"
        f"X-Shopify-Shop-Domain: {SHOP}\r\nX-Shopify-Hmac-Sha256: {webhook_hmac(body, BENCH_SECRET)}\r\n"
        f"X-Shopify-Webhook-Id: {uuid.uuid4()}\r\nX-Shopify-API-Version: 2026-07\r\n"
    )
    return head.encode(), b"\r\n" + body


def _requests(n: int, body: bytes, prefix: str) -> tuple[list[bytes], list[str]]:
    """``n`` deliveries on connections the server closes after answering; (requests, their event ids)."""
    head, tail = request_parts(body)
    ids = [f"{prefix}-{uuid.uuid4().hex}" for _ in range(n)]
    close = b"Connection: close\r\n"
    return [head + f"X-Shopify-Event-Id: {i}\r\n".encode() + close + tail for i in ids], ids


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
@click.option(
    "--requests",
    "n",
    default=4000,
    show_default=True,
    help="New-connection mode: measured requests per server.",
)
@click.option(
    "--warmup", default=200, show_default=True, help="Unmeasured new-connection requests per server first."
)
@click.option("--concurrency", default=4, show_default=True, help="New-connection mode: client processes.")
@click.option(
    "--inflight", default=8, show_default=True, help="New-connection mode: requests in flight per process."
)
@click.option(
    "--rounds", default=4, show_default=True, help="New-connection mode: alternating rounds per server."
)
@click.option("--connections", default=32, show_default=True, help="Keep-alive mode: persistent connections.")
@click.option("--keepalive-clients", default=2, show_default=True, help="Keep-alive mode: client processes.")
@click.option(
    "--keepalive-rounds",
    default=3,
    show_default=True,
    help="Keep-alive mode: alternating rounds per server (0: skip the mode).",
)
@click.option(
    "--keepalive-seconds", default=8.0, show_default=True, help="Keep-alive mode: length of each round."
)
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
    connections: int,
    keepalive_clients: int,
    keepalive_rounds: int,
    keepalive_seconds: float,
    database_url: str | None,
    redis_url: str | None,
    out: str,
) -> None:
    """Webhooks/s and p99 of POST /webhooks vs a WSGI hello-world, with a new connection per request and
    with persistent connections; proves zero lost, zero non-2xx."""
    from app import gunicorn_conf

    body = order_body()
    head, tail = request_parts(body)
    per_round = [n // rounds + (1 if i < n % rounds else 0) for i in range(rounds)]
    fresh = Mode(
        "new connection",
        f"a new connection per request, closed by the server after its answer; {concurrency} client "
        f"processes with up to {inflight} requests in flight each ({concurrency * inflight} in all); "
        f"{rounds} alternating rounds per server after {warmup} warm-up requests each.",
    )
    kept = Mode(
        "keep-alive",
        f"{connections} persistent HTTP/1.1 connections from {keepalive_clients} client processes, wrk-style "
        f"(each sends its next request as soon as the last answer is read); {keepalive_rounds} alternating "
        f"rounds of {keepalive_seconds:g} s per server, after the new-connection rounds.",
    )
    sent: list[int] = []  # statuses of every delivery to the webhooks server
    acked: set[str] = set()  # event ids it answered 2xx
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        url = database_url or f"sqlite:///{workdir / 'ingest.sqlite3'}"
        shop_id = db.prepare_db(url)
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

        def new_connections(name: str, count: int) -> tuple[list[float], float, float]:
            """(latencies, seconds, server CPU seconds) of ``count`` deliveries."""
            proc, port = servers[name]
            requests, ids = _requests(count, body, prefix)
            cpu = cpu_seconds(proc.pid)
            results, wall = drive(port, requests, concurrency, inflight)
            cpu = cpu_seconds(proc.pid) - cpu
            if name == "webhooks":
                sent.extend(s for _, s, _ in results)
                acked.update(ids[i] for _, s, i in results if 200 <= s < 300)
            return [ms for ms, _, _ in results], wall, cpu

        try:
            before = db.queued_jobs(redis_url)[1]
            for name, target in (("hello-world", HELLO_APP), ("webhooks", "app.wsgi:app")):
                port = free_port()
                servers[name] = (serve_gunicorn(target, port, env, recycle=False), port)
            for name in servers:
                new_connections(name, warmup)
            for size in per_round:  # alternating, so load from elsewhere falls on both alike
                for name in servers:
                    (fresh.webhooks if name == "webhooks" else fresh.hello).add(*new_connections(name, size))
            for r in range(keepalive_rounds):
                for name, (proc, port) in servers.items():
                    cpu = cpu_seconds(proc.pid)
                    run = drive_keepalive(
                        port, head, tail, f"{prefix}-k{r}", keepalive_clients, connections, keepalive_seconds
                    )
                    cpu = cpu_seconds(proc.pid) - cpu  # the late answers' work too: within noise
                    if name == "webhooks":
                        sent.extend([s for _, s in run.results] + run.late)
                        acked.update(run.acked)
                    (kept.webhooks if name == "webhooks" else kept.hello).add(
                        [ms for ms, _ in run.results], run.seconds, cpu
                    )
        finally:
            for proc, _ in servers.values():
                proc.terminate()  # graceful: each worker commits and enqueues what it holds, then exits
            for proc, _ in servers.values():
                proc.wait(30)
        try:
            stored = db.stored_rows(url, shop_id, prefix)
            jobs, queued = db.queued_jobs(redis_url)
            tally = Tally(
                sent=len(sent),
                ok=sum(1 for s in sent if 200 <= s < 300),
                stored=len(stored),
                lost=len(acked - stored.keys()),
                not_queued=len(set(stored.values()) - (queued - before)),
                jobs=jobs,
            )
            commit_ms = db.commit_latency(url, body)
            durability = db.durability(url)
            if database_url:
                db.cleanup(url, shop_id)
        finally:
            if redis_proc is not None:
                redis_proc.terminate()
                redis_proc.wait(10)

    backend = url.split(":", 1)[0].split("+", 1)[0]
    command = (
        f"attune bench ingest --requests {n} --warmup {warmup} --concurrency {concurrency} "
        f"--inflight {inflight} --rounds {rounds} --connections {connections} --keepalive-clients "
        f"{keepalive_clients} --keepalive-rounds {keepalive_rounds} --keepalive-seconds {keepalive_seconds:g}"
        + (" --database-url <URL>" if database_url else "")
    )
    server = (
        f"gunicorn `app.gunicorn_conf` ({gunicorn_conf.workers} {gunicorn_conf.worker_class} workers, "
        f"{gunicorn_conf.threads} thread(s) each, keepalive {gunicorn_conf.keepalive} s; worker recycling off) on "
        "loopback for both; "
        f"database: {backend} ({durability}); Redis: {'private redis-server' if redis_proc else 'given'}."
    )
    modes = [fresh] + ([kept] if keepalive_rounds else [])
    report = render(
        command=command,
        machine=_machine(),
        server=server,
        modes=modes,
        commit_ms=commit_ms,
        tally=tally,
        body_kb=len(body) // 100 / 10,
    )
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    write_report(out, report)
    click.echo(report)
    if tally.non_2xx or tally.lost or tally.not_queued:
        raise click.ClickException(
            f"{tally.non_2xx} non-2xx, {tally.lost} webhooks lost, {tally.not_queued} not queued"
        )
