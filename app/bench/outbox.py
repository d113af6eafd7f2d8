"""``attune bench outbox``: messages per second through the action layer (policy → outbox row → relay job →
channel → loopback sink), against the same messages sent straight through the same client in the same run.

The pipeline: the bench submits one browse-abandonment proposal per shopper through
``app.jobs.orchestrate.submit`` in its own transaction (decide, record, commit; the relay job is queued after
the commit), as an agent job would, while real ``attune worker`` processes (``rq.Worker``, as the Procfile
runs them) relay them with ``app.jobs.outbox.relay_due`` (batches of due rows, one connection each). The peer:
the same rendered messages, sent one after another by one process through the same channel client
(``EmailChannel`` over SMTP, ``SmsChannel`` over the twilio SDK), over one kept connection as the relay's
batches use it, with no policy, outbox or relay. Both are timed from the first message to the last one the
sink accepted; the rounds alternate which goes first. Every message must arrive exactly once.

It writes ``benchmarks/outbox.md`` (``benchmarks/outbox-postgresql.md`` with a PostgreSQL ``--database-url``).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from app.bench.outbox_setup import ACCOUNT, AUTH_TOKEN, World, build_world, peer_messages, proposal, utc_now
from app.bench.report import write_report
from app.bench.servers import private_redis, wait_until_settled
from app.bench.sinks import Sinks

TARGET_RATIO = 0.8
TARGET_P95_MS = 20.0
CHANNELS = ("email", "sms")


@dataclass
class Round:
    pipeline_per_s: float
    peer_per_s: float
    decision_ms: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.pipeline_per_s / self.peer_per_s


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _wait_for(sinks: Sinks, n: int, timeout_s: float) -> float:
    """Until the sinks hold ``n`` messages; the time they were seen to."""
    deadline = time.perf_counter() + timeout_s
    while True:
        now = time.perf_counter()
        if sinks.count() >= n:
            return now
        if now > deadline:
            raise click.ClickException(f"only {sinks.count()} of {n} messages arrived in {timeout_s:.0f} s")
        time.sleep(0.005)


def _exactly_once(sinks: Sinks, channel: str, expected: set[int]) -> None:
    email, sms = sinks.keys()
    got = email if channel == "email" else sms
    other = sms if channel == "email" else email
    twice = {k: c for k, c in got.items() if c > 1}
    if set(got) != expected or twice or other:
        missing, extra = expected - set(got), set(got) - expected
        raise click.ClickException(
            f"{channel}: {len(missing)} missing, {len(extra)} unexpected, {len(twice)} sent more than once, "
            f"{sum(other.values())} on the wrong channel"
        )


def run_pipeline(
    settings: Any, world: World, sinks: Sinks, channel: str, customers: range, submit_batch: int = 1
) -> tuple[float, list[float]]:  # noqa: ANN401
    """(messages/s, decision latencies in ms) for one round through the action layer: the proposals handed to
    ``submit`` ``submit_batch`` at a time, each batch in its own transaction (an agent job submits all of a
    shop's proposals in one); every proposal's latency is its whole batch's."""
    from sqlmodel import select

    from app.db import session_scope
    from app.jobs.orchestrate import submit
    from app.models.messaging import SENT, OutboxMessage

    now = utc_now()
    proposals = [proposal(world.shop_id, channel, i, now) for i in customers]
    sinks.clear()
    latencies = []
    start = time.perf_counter()
    for k in range(0, len(proposals), submit_batch):
        batch = proposals[k : k + submit_batch]
        t0 = time.perf_counter()
        with session_scope(settings.database_url) as s:
            submit(s, world.shop_id, batch)
        latencies += [(time.perf_counter() - t0) * 1000] * len(batch)
    end = _wait_for(sinks, len(proposals), timeout_s=120 + len(proposals))
    keys = [f"customer:{i}" for i in customers]
    deadline = time.monotonic() + 30
    while True:  # the last relays record 'sent' just after the sink took their messages
        with session_scope(settings.database_url) as s:
            rows = s.exec(
                select(OutboxMessage.id, OutboxMessage.status).where(
                    OutboxMessage.shop_id == world.shop_id, OutboxMessage.shopper_key.in_(keys)
                )
            ).all()
        if len(rows) == len(proposals) and all(status == SENT for _, status in rows):
            break
        if time.monotonic() > deadline:
            statuses = Counter(status for _, status in rows)
            raise click.ClickException(
                f"{channel}: outbox rows {dict(statuses)}, expected {len(proposals)} sent"
            )
        time.sleep(0.02)
    _exactly_once(sinks, channel, {outbox_id for outbox_id, _ in rows})
    return len(proposals) / (end - start), latencies


def _send_all(client: Any, messages: list) -> None:  # noqa: ANN401 - runs in the peer's process
    """One after another over one kept connection where the client can hold one (as the relay's batches do)."""
    from app.channels.base import held_open

    with held_open(client):
        for message in messages:
            client.send(message)


def run_peer(
    settings: Any, world: World, sinks: Sinks, channel: str, customers: range, first_id: int, workers: int = 1
) -> float:  # noqa: ANN401
    """Messages/s for the same messages straight through the same client, in as many processes as the relay
    has workers (each sending its share one after another), so both sides send with the same concurrency."""
    client, messages = peer_messages(settings, world, channel, customers, first_id)
    sinks.clear()
    fork = mp.get_context("fork")
    procs = [fork.Process(target=_send_all, args=(client, messages[k::workers])) for k in range(workers)]
    start = time.perf_counter()
    for proc in procs:
        proc.start()
    end = _wait_for(sinks, len(messages), timeout_s=60 + len(messages))
    for proc in procs:
        proc.join(30)
        if proc.exitcode != 0:
            raise click.ClickException(f"the {channel} peer exited with {proc.exitcode}")
    _exactly_once(sinks, channel, {m.outbox_id for m in messages})
    return len(messages) / (end - start)


def start_workers(count: int, env: dict[str, str], *, fork: bool = False) -> list[subprocess.Popen]:
    """``count`` workers of the Procfile's fast lane on the default queue (``attune worker --no-fork``: jobs in
    the worker process), or with ``fork`` the forking ``rq.Worker`` (a work horse per job, the slow lane's
    kind), once each has finished starting."""
    argv = ["-m", "app", "worker", "--queues", "default", *([] if fork else ["--no-fork"])]
    procs = [
        subprocess.Popen(
            [sys.executable, *argv], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for _ in range(count)
    ]
    for proc in procs:
        wait_until_settled(proc.pid, workers=0, quiet_s=1.0)
        if proc.poll() is not None:
            raise click.ClickException(f"a worker exited at start with {proc.returncode}")
    return procs


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def measure(
    settings: Any,
    world: World,
    sinks: Sinks,
    channel: str,
    messages: int,
    rounds: int,
    warmup: int,
    first: int,
    submit_batch: int = 1,
    workers: int = 1,
) -> list[Round]:  # noqa: ANN401
    """Warm-up, then ``rounds`` alternating rounds of the pipeline and the peer; customers from ``first`` on."""
    peer_id = 10_000_000 * (CHANNELS.index(channel) + 1)
    if warmup:
        customers = range(first, first + warmup)
        run_pipeline(settings, world, sinks, channel, customers, submit_batch)
        run_peer(settings, world, sinks, channel, customers, peer_id, workers)
        first += warmup
    out = []
    for r in range(rounds):
        customers = range(first + r * messages, first + (r + 1) * messages)
        peer_first = peer_id + (r + 1) * messages
        click.echo(f"{channel} round {r + 1}/{rounds}: {messages} messages each way ...", err=True)
        if r % 2 == 0:
            pipe, latencies = run_pipeline(settings, world, sinks, channel, customers, submit_batch)
            peer = run_peer(settings, world, sinks, channel, customers, peer_first, workers)
        else:
            peer = run_peer(settings, world, sinks, channel, customers, peer_first, workers)
            pipe, latencies = run_pipeline(settings, world, sinks, channel, customers, submit_batch)
        out.append(Round(pipe, peer, latencies))
        click.echo(f"  pipeline {pipe:,.0f}/s, peer {peer:,.0f}/s: {pipe / peer:.2f}x", err=True)
    return out


def report(
    results: dict[str, list[Round]],
    command: str,
    backend: str,
    workers: int,
    place: tuple[str, str | None],
    fork: bool = False,
) -> tuple[str, bool]:
    """The page, and whether both targets were met on every channel."""
    from app.jobs.outbox import BATCH_SIZE

    load = os.getloadavg()
    relay = (
        "(`attune worker` with `rq.Worker`, a work horse forked per job: the slow lane's kind, for comparison)"
        if fork
        else "(`attune worker --no-fork`: jobs in the worker process, as the Procfile's fast lane runs them)"
    )
    lines = [
        f"# Benchmark: the outbox (policy → outbox → relay → channel) on "
        f"{'PostgreSQL' if backend == 'postgresql' else 'SQLite'}",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {os.cpu_count()} CPUs ({_cpu_name()}), {platform.system()} {platform.release()}, Python "
        f"{platform.python_version()}; shared with other work (load average {load[0]:.1f} / {load[1]:.1f} / "
        f"{load[2]:.1f} over 1 / 5 / 15 min at the end of the run). Measured {utc_now():%Y-%m-%d %H:%M} UTC.",
        f"Database: {backend}. Redis: private redis-server. Relay: {workers} worker process"
        f"{'es' if workers != 1 else ''} {relay}. "
        "Sinks: the loopback SMTP server (aiosmtpd, `app/channels/email_loopback.py`) and the loopback Twilio "
        "Messages endpoint (`app/channels/sms_loopback.py`, reached by the real twilio SDK), in a process of "
        f"their own. Shoppers: marketing-subscribed, one message each, living in {'/'.join(p for p in place if p)}.",
        "",
        f"Peer: the same messages through the same client in {workers} process{'es' if workers != 1 else ''} (as "
        "many as the relay has workers), each over one kept connection for its whole share; the relay keeps one "
        f"per run of `relay_due` (across its batches of {BATCH_SIZE}).",
        "",
        "| channel | round | pipeline (msg/s) | peer: same client, no outbox (msg/s) | ratio | decision p95 (ms) |",
        "|---|---|---|---|---|---|",
    ]
    met = True
    summary = []
    for channel, rounds in results.items():
        for n, r in enumerate(rounds, 1):
            lines.append(
                f"| {channel} | {n} | {r.pipeline_per_s:,.1f} | {r.peer_per_s:,.1f} | {r.ratio:.2f}× "
                f"| {percentile(r.decision_ms, 0.95):.2f} |"
            )
        ratio = statistics.median(r.ratio for r in rounds)
        all_ms = [ms for r in rounds for ms in r.decision_ms]
        p50, p95 = percentile(all_ms, 0.5), percentile(all_ms, 0.95)
        ok = ratio >= TARGET_RATIO and p95 <= TARGET_P95_MS
        met = met and ok
        summary.append(
            f"- **{channel}**: ratio **{ratio:.2f}×** (median of {len(rounds)} rounds; goal ≥ {TARGET_RATIO}×: "
            f"{'met' if ratio >= TARGET_RATIO else 'NOT met'}); pipeline "
            f"{statistics.median(r.pipeline_per_s for r in rounds):,.1f} msg/s, peer "
            f"{statistics.median(r.peer_per_s for r in rounds):,.1f} msg/s (medians); decision latency p50 "
            f"{p50:.2f} ms, **p95 {p95:.2f} ms** over {len(all_ms)} proposals (goal ≤ {TARGET_P95_MS:.0f} ms: "
            f"{'met' if p95 <= TARGET_P95_MS else 'NOT met'})."
        )
    lines += [
        "",
        *summary,
        "",
        "Decision latency: from handing a batch of proposals to `app.jobs.orchestrate.submit` in a new transaction",
        "(lock, facts, policy, decisions + outbox rows + thread entries) until its commit has returned and the relay",
        "job is queued, counted for every proposal of the batch, measured while the workers relay the earlier",
        "ones. Throughput: from the first proposal (or the peer's first send) until the sink holds the round's",
        "last message. Every message arrived exactly once and every outbox row ended `sent` (checked each round;",
        "the bench fails otherwise).",
    ]
    return "\n".join(lines) + "\n", met


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


@click.command("outbox")
@click.option("--messages", default=200, show_default=True, help="Messages per round, each way, per channel.")
@click.option("--rounds", default=3, show_default=True, help="Alternating rounds per channel.")
@click.option("--warmup", default=20, show_default=True, help="Warm-up messages each way per channel.")
@click.option("--workers", default=1, show_default=True,
              help="`attune worker` processes (the Procfile runs one).")  # fmt: skip
@click.option(
    "--channel", "channels", multiple=True, type=click.Choice(CHANNELS), help="Only these (repeatable)."
)
@click.option("--submit-batch", default=10, show_default=True,
              help="Proposals per submit (one transaction), as an agent job hands a shop's proposals over.")  # fmt: skip
@click.option("--fork-per-job", is_flag=True,
              help="The forking rq.Worker (the slow lane's kind) instead of the fast lane's --no-fork: comparison.")  # fmt: skip
@click.option("--database-url", default=None,
              help="PostgreSQL to use (a scratch schema, dropped afterwards); default a scratch SQLite file.")  # fmt: skip
@click.option("--out", default=None, type=click.Path(dir_okay=False),
              help="The page (default benchmarks/outbox.md, or outbox-postgresql.md).")  # fmt: skip
def outbox(
    messages: int,
    rounds: int,
    warmup: int,
    workers: int,
    submit_batch: int,
    fork_per_job: bool,
    channels: tuple[str, ...],
    database_url: str | None,
    out: str | None,
) -> None:
    """Messages/s through policy → outbox → relay vs the same client straight (target >= 0.8x, p95 <= 20 ms)."""
    from app.bench.outbox_setup import scratch_database
    from app.config import get_settings

    channels = channels or CHANNELS
    customers = (rounds * messages + warmup) * len(channels)
    backend = "postgresql" if (database_url or "").startswith("postgresql") else "sqlite"
    out = out or ("benchmarks/outbox-postgresql.md" if backend == "postgresql" else "benchmarks/outbox.md")
    command = (
        f"attune bench outbox --messages {messages} --rounds {rounds} --warmup {warmup} --workers {workers}"
        f" --submit-batch {submit_batch}"
        + "".join(f" --channel {c}" for c in channels if len(channels) < len(CHANNELS))
        + (" --fork-per-job" if fork_per_job else "")
        + (" --database-url <URL>" if database_url else "")
    )
    results: dict[str, list[Round]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="attune-outbox-") as tmp,
        scratch_database(database_url, tmp) as url,
        Sinks({ACCOUNT: AUTH_TOKEN}) as sinks,
    ):
        redis_proc, redis_url = private_redis(Path(tmp))
        env = {
            "DATABASE_URL": url,
            "REDIS_URL": redis_url,
            "ATTUNE_TWILIO_API_URL": sinks.twilio_url,
            "ATTUNE_ENV": "development",
        }
        os.environ.update(env)
        get_settings.cache_clear()
        settings = get_settings()
        procs: list[subprocess.Popen] = []
        try:
            world = build_world(settings, sinks.smtp_url, customers, utc_now())
            click.echo(f"{customers} shoppers ready; starting {workers} worker(s) ...", err=True)
            procs = start_workers(workers, {**os.environ, **env}, fork=fork_per_job)
            first = 1
            for channel in channels:
                results[channel] = measure(
                    settings, world, sinks, channel, messages, rounds, warmup, first, submit_batch, workers
                )
                first += rounds * messages + warmup
        finally:
            stop(procs)
            redis_proc.terminate()
            redis_proc.wait(10)
    page, met = report(results, command, backend, workers, world.place, fork_per_job)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    write_report(out, page)
    click.echo(page)
    if not met:
        click.echo("target not met (see the page)", err=True)
