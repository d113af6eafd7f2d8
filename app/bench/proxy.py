"""``attune bench proxy``: GET /proxy/recommendations under production gunicorn vs a bare WSGI hello-world.

Both servers run with ``app.gunicorn_conf`` (same workers, same worker class) side by side in the same run
and are hit by the same load generator (worker processes on raw sockets, a new connection per request, as
sync workers close) in alternating rounds, so a burst of load from elsewhere on a shared machine falls on
both sides alike instead of on whichever ran second. Requests are validly signed app-proxy calls spread over signed-in customers, anonymous clients and
placements, against a seeded demo shop whose lists were precomputed by the real job.
"""

from __future__ import annotations

import os
import random
import socket
import statistics
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import click

from app.bench.report import write_report
from app.bench.servers import HELLO_APP, client_pool, free_port, serve_gunicorn

BENCH_SECRET = "bench-secret-0123456789abcdef0123"
SHOP = "attune-bench.myshopify.com"


def _request_lines(n: int, customers: list[int], products: list[int]) -> list[bytes]:
    from app.shopify.verify import proxy_signature

    rng = random.Random(1)
    out = []
    for i in range(n):
        customer = rng.choice(customers) if i % 2 == 0 else None
        placement = rng.choice(["product", "fbt", "home", "cart"] + (["buy_again"] if customer else []))
        params = [("placement", placement), ("product_id", str(rng.choice(products))), ("limit", "4")]
        if customer is None:
            params.append(("client_id", f"client-{rng.randrange(10_000)}"))
        pairs = params + [
            ("shop", SHOP),
            ("logged_in_customer_id", str(customer or "")),
            ("path_prefix", "/apps/attune"),
            ("timestamp", str(int(time.time()))),
        ]
        pairs.append(("signature", proxy_signature(pairs, BENCH_SECRET)))
        out.append(
            # a new connection per request, closed by the server after its answer (the client reads to EOF;
            # without the header a keep-alive server holds it open for its keepalive timeout)
            f"GET /proxy/recommendations?{urlencode(pairs)} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Connection: close\r\n\r\n".encode()
        )
    return out


def _client(args: tuple[int, list[bytes]]) -> list[tuple[float, float | None, int]]:
    port, lines = args
    results = []
    for line in lines:
        t0 = time.perf_counter()
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(line)
            chunks = []
            while True:
                data = s.recv(65536)
                if not data:
                    break
                chunks.append(data)
        elapsed = (time.perf_counter() - t0) * 1000
        raw = b"".join(chunks)
        head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        status = int(head.split(" ", 2)[1]) if head.startswith("HTTP/") else 0
        server = None
        for h in head.split("\r\n"):
            if h.lower().startswith("server-timing:") and "dur=" in h:
                server = float(h.split("dur=", 1)[1].split(";")[0])
        results.append((elapsed, server, status))
    return results


WARMUP = 20  # requests per load-generator process before the measured run


def _load(
    port: int, lines: list[bytes], concurrency: int, warmup: bool = True
) -> tuple[list[tuple[float, float | None, int]], float]:
    shards = [(port, lines[i::concurrency]) for i in range(concurrency)]
    with client_pool(concurrency) as pool:
        if warmup:
            pool.map(_client, [(port, s[1][:WARMUP]) for s in shards])
        t0 = time.perf_counter()
        parts = pool.map(_client, shards)
        wall = time.perf_counter() - t0
    return [r for p in parts for r in p], wall


def alternate(
    targets: dict[str, str],
    env: dict[str, str],
    lines: list[bytes],
    results: dict[str, list[tuple[float, float | None, int]]],
    walls: dict[str, float],
    *,
    rounds: int,
    concurrency: int,
    per_round: int | None = None,
    warmup: bool = True,
) -> list[float]:
    """Serve each target under gunicorn and load them with the same requests in alternating rounds (the order
    flips every round), adding to ``results`` and ``walls``; returns each round's throughput ratio of the last
    target to the first (ours to the peer)."""
    ports = {k: free_port() for k in targets}
    peer, ours = next(iter(targets)), list(targets)[-1]
    servers = {}
    ratios: list[float] = []
    per_round = per_round or -(-len(lines) // rounds)
    try:
        for name, target in targets.items():
            servers[name] = serve_gunicorn(target, ports[name], env)
        for r in range(rounds):
            chunk = lines[r * per_round : (r + 1) * per_round]
            if not chunk:
                break
            rps = {}
            for name in list(targets) if r % 2 == 0 else list(reversed(targets)):
                got, wall = _load(ports[name], chunk, concurrency, warmup=warmup and r == 0)
                results[name] += got
                walls[name] += wall
                rps[name] = len(got) / wall
            ratios.append(rps[ours] / rps[peer])
            click.echo(
                f"round {r + 1}/{rounds}: {len(chunk)} requests each, ratio {ratios[-1]:.2f}", err=True
            )
    finally:
        for server in servers.values():
            server.terminate()
        for server in servers.values():
            server.wait(30)
    return ratios


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def _setup(workdir: Path) -> dict[str, str]:
    from sqlmodel import Session

    from app.config import load_settings
    from app.db import get_engine
    from app.jobs.recommendations import refresh_for_shop
    from app.migrate import upgrade
    from app.storefront.demo_data import seed_demo_shop

    url = f"sqlite:///{workdir / 'bench.sqlite3'}"
    upgrade(url)
    with Session(get_engine(url)) as s:
        shop = seed_demo_shop(s, SHOP)
    refresh_for_shop(shop.shop_id, load_settings(database_url=url))
    return {"DATABASE_URL": url}


@click.command("proxy")
@click.option("--requests", "n", default=16000, show_default=True, help="Measured requests per server.")
@click.option("--concurrency", default=4, show_default=True, help="Load-generator processes.")
@click.option(
    "--rounds", default=8, show_default=True, help="Alternating rounds the requests are split into."
)
@click.option(
    "--redis-url",
    default=lambda: os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14"),
    show_default="$REDIS_URL or db 14",
    help="Redis for the served-list log.",
)
@click.option("--out", default="benchmarks/proxy.md", show_default=True, type=click.Path(dir_okay=False))
def proxy(n: int, concurrency: int, rounds: int, redis_url: str, out: str) -> None:
    """p95 server time and throughput of GET /proxy/recommendations vs a WSGI hello-world."""
    from redis import Redis

    from app.storefront.demo_data import CATALOG, DEMO_CUSTOMER, STOVE_CUSTOMER
    from app.stores.served_log import SERVED_LOG_KEY

    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            **_setup(Path(tmp)),
            "REDIS_URL": redis_url,
            "SHOPIFY_API_SECRET": BENCH_SECRET,
            "ATTUNE_ENV": "development",
        }
        env.pop("GUNICORN_ACCESS_LOG", None)
        lines = _request_lines(
            n, [DEMO_CUSTOMER, STOVE_CUSTOMER] + list(range(600, 660)), [p for p, *_ in CATALOG]
        )
        targets = {"hello-world": HELLO_APP, "proxy": "app.wsgi:app"}
        results: dict[str, list[tuple[float, float | None, int]]] = {k: [] for k in targets}
        walls: dict[str, float] = {k: 0.0 for k in targets}
        logged_before = Redis.from_url(redis_url).llen(SERVED_LOG_KEY)
        ratios = alternate(targets, env, lines, results, walls, rounds=rounds, concurrency=concurrency)
        logged = Redis.from_url(redis_url).llen(SERVED_LOG_KEY) - logged_before
        runs = {k: (results[k], walls[k]) for k in targets}
    served = len(runs["proxy"][0]) + WARMUP * concurrency
    hello, ours = runs["hello-world"], runs["proxy"]
    bad = [s for _, _, s in ours[0] if s != 200]
    if bad:
        raise click.ClickException(f"{len(bad)} proxy requests failed (statuses {sorted(set(bad))})")
    server_ms = [t for _, t, _ in ours[0] if t is not None]
    rps = {k: len(v[0]) / v[1] for k, v in runs.items()}
    ratio = rps["proxy"] / rps["hello-world"]
    p95_server = _pct(server_ms, 0.95)
    rows = [
        ("requests per server", f"{n}", f"{n}"),
        ("throughput (req/s)", f"{rps['proxy']:.0f}", f"{rps['hello-world']:.0f}"),
        (
            "client latency p50 (ms)",
            f"{_pct([e for e, _, _ in ours[0]], 0.5):.2f}",
            f"{_pct([e for e, _, _ in hello[0]], 0.5):.2f}",
        ),
        (
            "client latency p95 (ms)",
            f"{_pct([e for e, _, _ in ours[0]], 0.95):.2f}",
            f"{_pct([e for e, _, _ in hello[0]], 0.95):.2f}",
        ),
        (
            "server time p50 / p95 (ms, Server-Timing)",
            f"{statistics.median(server_ms):.2f} / {p95_server:.2f}",
            "-",
        ),
    ]
    from app import gunicorn_conf

    report = [
        "# Benchmark: app proxy recommendations",
        "",
        f"Command: `attune bench proxy --requests {n} --concurrency {concurrency} --rounds {rounds}`",
        "",
        f"Machine: {os.cpu_count()} CPUs; gunicorn `app.gunicorn_conf` ({gunicorn_conf.workers} {gunicorn_conf.worker_class} "
        f"workers, {gunicorn_conf.threads} thread(s)); SQLite; Redis for the served-list log; a new connection per request.",
        "",
        "| figure | GET /proxy/recommendations | bare WSGI hello-world |",
        "|---|---|---|",
        *[f"| {a} | {b} | {c} |" for a, b, c in rows],
        "",
        f"Throughput ratio: **{ratio:.2f}×** hello-world (target ≥ 0.7×: {'met' if ratio >= 0.7 else 'NOT met'});"
        f" per round: {', '.join(f'{x:.2f}' for x in ratios)}.",
        f"p95 server time: **{p95_server:.2f} ms** (target ≤ 10 ms: {'met' if p95_server <= 10 else 'NOT met'}).",
        "",
        f"Served-list log entries in Redis after the workers exited: {logged} of {served} answers"
        f" ({'none lost' if logged >= served else 'SOME LOST'}).",
        "",
        "Server time is measured inside the app (signature check to response, `Server-Timing: app;dur=`);",
        "client latency includes gunicorn, the TCP connection and the load generator sharing the same CPUs.",
        "The hot path is `app.web.proxy_fast` (WSGI, in front of Flask): signature check, cached lists and",
        "pre-rendered JSON, a served-list log append that a background thread batches to Redis (drained by",
        "gunicorn's `worker_exit`); each worker warms its caches in `post_worker_init`.",
        "",
    ]
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    write_report(out, "\n".join(report))
    click.echo("\n".join(report))
