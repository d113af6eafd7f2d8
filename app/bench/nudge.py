"""``attune bench nudge``: the in-session nudge decision (POST /proxy/nudge) under production gunicorn vs a bare
WSGI hello-world, side by side in the same run, in alternating rounds (the ``attune bench proxy`` method).

Each simulated browser session sends three signed requests in order, as the embed does: an add to cart; a removal
and re-add; two views of the shipping information and a return from checkout (the third reaches the decision:
help, or held out for the shop's 10 % holdout). Every request folds signals into the session's live state (Redis)
and scores its risk after reading the pixel's checkout steps (Redis, as production reads them once the pixel
ingress has written them for over the lookback) and, on a new session, the shopper's intent (SQLite, WAL); the
third also gathers the ladder's facts and writes the decision to the database. Both servers run under the same
gunicorn settings and get the same bytes from the same load generator (a new connection per request).
"""

from __future__ import annotations

import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import click

from app.bench.proxy import BENCH_SECRET, SHOP, _pct, alternate
from app.bench.report import write_report
from app.bench.servers import HELLO_APP

STEPS = 3


def _bodies(sid: str, variant: int) -> list[dict]:
    cart = {"token": f"cart-{sid}", "total": 38.0, "currency": "USD", "product_ids": [1002]}
    return [
        {
            "session": sid,
            "signals": [{"id": "n1", "kind": "cart_add", "variant": variant, "qty": 1}],
            "cart": cart,
        },
        {
            "session": sid,
            "signals": [
                {"id": "n2", "kind": "cart_remove", "variant": variant},
                {"id": "n3", "kind": "cart_add", "variant": variant, "qty": 1},
            ],
            "cart": cart,
        },
        {
            "session": sid,
            "signals": [
                {"id": "n4", "kind": "info_view", "topic": "shipping"},
                {"id": "n5", "kind": "info_view", "topic": "shipping"},
                {"id": "n6", "kind": "checkout_back"},
            ],
            "cart": cart,
            "country": "US",
            "locale": "en",
        },
    ]


def _line(body: dict, client: str) -> bytes:
    from app.shopify.verify import proxy_signature

    pairs = [
        ("client_id", client),
        ("shop", SHOP),
        ("logged_in_customer_id", ""),
        ("path_prefix", "/apps/attune"),
        ("timestamp", str(int(time.time()))),
    ]
    pairs.append(("signature", proxy_signature(pairs, BENCH_SECRET)))
    data = json.dumps(body).encode()
    head = (
        f"POST /proxy/nudge?{urlencode(pairs)} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


def request_lines(sessions: int, concurrency: int) -> list[bytes]:
    """Sessions' requests laid out so that ``lines[i::concurrency]`` (one load generator's share) holds whole
    sessions in order."""
    from app.storefront.demo_data import VARIANT

    rng = random.Random(1)
    shards: list[list[bytes]] = [[] for _ in range(concurrency)]
    for s in range(sessions):
        sid = f"bench{s:08d}{rng.randrange(10**6):06d}"
        for body in _bodies(sid, VARIANT[1002]):
            shards[s % concurrency].append(_line(body, f"client-{s}"))
    depth = max(len(x) for x in shards)
    return [shards[i][k] for k in range(depth) for i in range(concurrency) if k < len(shards[i])]


def _forget_live_sessions(redis_url: str) -> None:
    """Drop the live sessions, rate-limit windows and checkout-step facts an earlier run left in this Redis: the
    sessions' ids are the same every run, so a second run would otherwise find them all decided and measure no
    decision."""
    from redis import Redis

    from app.stores.nudge_live import STEPS, STEPS_SINCE

    redis = Redis.from_url(redis_url)
    for pattern in ("attune:nudge:*", "attune:rl:nudge:*", f"{STEPS}:*"):
        keys = list(redis.scan_iter(pattern, count=1000))
        for i in range(0, len(keys), 500):
            redis.delete(*keys[i : i + 500])
    # production's steady state: the pixel ingress has written browsers' checkout steps to Redis for longer than
    # the nudge looks back (app.stores.nudge_live.STEPS_SINCE), so a browser without steps there has none
    redis.set(STEPS_SINCE, f"{time.time() - 3 * 3600:.3f}")


def _setup(workdir: Path) -> dict[str, str]:
    from sqlmodel import Session

    from app.db import get_engine
    from app.migrate import upgrade
    from app.storefront.demo_data import seed_demo_shop
    from app.stores.nudge import save_settings

    url = f"sqlite:///{workdir / 'bench.sqlite3'}"
    upgrade(url)
    with Session(get_engine(url)) as s:
        shop = seed_demo_shop(s, SHOP)
        shipping = {
            "currency": "USD",
            "free_over": 50,
            "rates": {"*": {"cost": 4.5, "min_days": 3, "max_days": 5}},
        }
        save_settings(s, shop.shop_id, {"shipping": shipping})
        s.commit()
    return {"DATABASE_URL": url}


@click.command("nudge")
@click.option("--sessions", default=2000, show_default=True, help="Browser sessions (3 requests each).")
@click.option("--concurrency", default=4, show_default=True, help="Load-generator processes.")
@click.option(
    "--rounds", default=6, show_default=True, help="Alternating rounds the requests are split into."
)
@click.option(
    "--redis-url",
    default=lambda: os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14"),
    show_default="$REDIS_URL or db 14",
    help="Redis for the per-shopper rate limit.",
)
@click.option("--out", default="benchmarks/nudge.md", show_default=True, type=click.Path(dir_okay=False))
def nudge(sessions: int, concurrency: int, rounds: int, redis_url: str, out: str) -> None:
    """p95 server time and throughput of POST /proxy/nudge vs a WSGI hello-world."""
    _forget_live_sessions(redis_url)
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            **_setup(Path(tmp)),
            "REDIS_URL": redis_url,
            "SHOPIFY_API_SECRET": BENCH_SECRET,
            "ATTUNE_ENV": "development",
            "NUDGE_RATE_SHOP_PER_MIN": "10000000",
        }
        env.pop("GUNICORN_ACCESS_LOG", None)
        lines = request_lines(sessions, concurrency)
        n = len(lines)
        targets = {"hello-world": HELLO_APP, "nudge": "app.wsgi:app"}
        results: dict[str, list[tuple[float, float | None, int]]] = {k: [] for k in targets}
        walls = {k: 0.0 for k in targets}
        step = concurrency * STEPS  # whole sessions per round, each in one load generator's share, in order
        per_round = -(-n // rounds // step) * step
        ratios = alternate(
            targets,
            env,
            lines,
            results,
            walls,
            rounds=rounds,
            concurrency=concurrency,
            per_round=per_round,
            warmup=False,
        )
        decided = _decisions(env["DATABASE_URL"])
    ours, hello = results["nudge"], results["hello-world"]
    bad = [s for _, _, s in ours if s != 200]
    if bad:
        raise click.ClickException(f"{len(bad)} nudge requests failed (statuses {sorted(set(bad))})")
    server_ms = [t for _, t, _ in ours if t is not None]
    deciding = [t for i, (_, t, _) in enumerate(ours) if t is not None and i % STEPS == STEPS - 1]
    rps = {k: len(results[k]) / walls[k] for k in targets}
    ratio = rps["nudge"] / rps["hello-world"]
    p95 = _pct(server_ms, 0.95)
    from app import gunicorn_conf

    rows = [
        ("requests per server", f"{len(ours)}", f"{len(hello)}"),
        ("throughput (req/s)", f"{rps['nudge']:.0f}", f"{rps['hello-world']:.0f}"),
        ("client latency p50 / p95 (ms)", _pair([e for e, _, _ in ours]), _pair([e for e, _, _ in hello])),
        ("server time p50 / p95, all requests (ms)", f"{statistics.median(server_ms):.2f} / {p95:.2f}", "-"),
        ("server time p95, deciding requests (ms)", f"{_pct(deciding, 0.95):.2f}" if deciding else "-", "-"),
    ]
    report = [
        "# Benchmark: in-session nudge decision",
        "",
        f"Command: `attune bench nudge --sessions {sessions} --concurrency {concurrency} --rounds {rounds}`",
        "",
        f"Machine: {os.cpu_count()} CPUs; gunicorn `app.gunicorn_conf` ({gunicorn_conf.workers} "
        f"{gunicorn_conf.worker_class} workers, {gunicorn_conf.threads} thread(s)); SQLite (WAL); Redis for the "
        "rate limit; a new connection per request.",
        "",
        "| figure | POST /proxy/nudge | bare WSGI hello-world |",
        "|---|---|---|",
        *[f"| {a} | {b} | {c} |" for a, b, c in rows],
        "",
        f"Throughput ratio: **{ratio:.2f}×** hello-world (target ≥ 0.7×: {'met' if ratio >= 0.7 else 'NOT met'});"
        f" per round: {', '.join(f'{x:.2f}' for x in ratios)}.",
        f"p95 server time: **{p95:.2f} ms** (target ≤ 10 ms: {'met' if p95 <= 10 else 'NOT met'}).",
        f"Decisions recorded: {decided} for {sessions} sessions.",
        "",
        "Server time is measured inside the app (signature check to response, `Server-Timing: app;dur=`): the",
        "signature, the rate limit with the session's live state and the pixel's checkout steps (one Redis round",
        "trip), a new session's intent prior (database), the risk, the live state saved (Redis), and on the",
        "deciding request the ladder's facts and the decision written and committed. Client latency includes",
        "gunicorn, the TCP connection and the load generator.",
        "",
    ]
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    write_report(out, "\n".join(report))
    click.echo("\n".join(report))


def _pair(values: list[float]) -> str:
    return f"{_pct(values, 0.5):.2f} / {_pct(values, 0.95):.2f}"


def _decisions(url: str) -> int:
    from sqlalchemy import func
    from sqlmodel import Session, select

    from app.db import get_engine
    from app.models.messaging import MessageDecision

    with Session(get_engine(url)) as s:
        return int(s.exec(select(func.count()).select_from(MessageDecision)).one())
