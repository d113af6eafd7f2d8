"""``attune bench memory``: resident memory of a web worker and of an RQ worker, after warm-up and after
10,000 mixed requests / jobs, next to the targets and, for the web, the old web worker measured in the same run
(the page: ``app.bench.memory_report``; the requests and jobs: ``app.bench.memory_load``).

Web: two production gunicorn servers (``app.gunicorn_conf``, ``app.wsgi:app``) run side by side on one scratch
SQLite database (the demo shop, its precomputed lists and its MiniLM product vectors) and one private Redis:
ours, whose workers embed search queries with MiniLM on NumPy (``ATTUNE_QUERY_EMBEDDER=numpy``, the default),
and the peer, the same commit with torch in every web worker (``ATTUNE_QUERY_EMBEDDER=torch``: what every
worker held before). Each gets a warm-up, then the measured requests in alternating rounds (the mix is in
``app.bench.memory_load``); every worker's memory is read from ``/proc`` after the warm-up and after each
round, and the answers must all succeed.

RQ worker, twice with the same preloads (MiniLM on torch, the intent model) on one stream of mixed jobs:
first the worker running jobs in its own process (RQ's ``SimpleWorker``, so whatever a job leaves behind
stays: the growth test) drains what the web phase's requests queued (their webhooks, pixel batches and
follow-ups), then takes a warm-up and the ``--jobs`` measured jobs in rounds; then ``attune worker`` as
deployed, which forks a work horse per job, takes a warm-up and ``--fork-jobs`` measured jobs (its horses are
read every 20 ms: a horse holds the preloaded models and whatever its job loads). Each worker process is read
after each round. (Forking costs a few hundred ms per job on a busy 2-core machine, which is why the backlog
and the long growth test go to the in-process worker.)

Figures are MiB (VmRSS: resident; PSS: shared pages divided among the processes mapping them).
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import click

from app.bench.memory_load import (
    LIGHT_JOBS,
    children_of,
    job_mix,
    memory_of,
    request_mix,
    send_all,
    stored_pixel_batches,
    touch_product,
)
from app.bench.memory_report import markdown
from app.bench.proxy import BENCH_SECRET, SHOP, _setup
from app.bench.report import write_report
from app.bench.servers import client_pool, free_port, private_redis, serve_gunicorn, wait_until_settled

BACKENDS = {"ours": "numpy", "peer": "torch"}
QUEUE_NAMES = ("webhooks", "default", "low")


def _prepare(workdir: Path, redis_url: str) -> tuple[dict[str, str], int, str, list[int]]:
    """The scratch database (demo shop, lists, MiniLM vectors); returns (env, shop id, pixel key, products)."""
    from sqlmodel import Session, select

    from app.db import get_engine
    from app.embedding import get_embedder
    from app.models.shop import Shop
    from app.storefront.demo_data import CATALOG
    from app.stores.catalog import sync_embeddings

    env = _setup(workdir)
    with Session(get_engine(env["DATABASE_URL"])) as session:
        shop = session.exec(select(Shop).where(Shop.domain == SHOP)).one()
        sync_embeddings(session, shop.id, get_embedder("minilm"))
        session.commit()
        shop_id, pixel_key = shop.id, shop.pixel_key
    env = {
        **os.environ,
        **env,
        "REDIS_URL": redis_url,
        "SHOPIFY_API_SECRET": BENCH_SECRET,
        "ATTUNE_ENV": "development",
        "ATTUNE_EMBEDDER": "minilm",
    }
    env.pop("GUNICORN_ACCESS_LOG", None)
    return env, shop_id, pixel_key, [p for p, *_ in CATALOG]


def _drive(port: int, requests: list[tuple[str, bytes]], concurrency: int) -> list[tuple[str, float, int]]:
    with client_pool(concurrency) as pool:
        parts = pool.map(send_all, [(port, requests[i::concurrency]) for i in range(concurrency)])
    return [r for part in parts for r in part]


def _workers(master: int) -> dict[int, dict[str, float]]:
    return {pid: m for pid in sorted(children_of(master)) if (m := memory_of(pid)) is not None}


def run_web(env, pixel_key, products, *, requests, warmup, rounds, concurrency) -> dict:
    """Both servers, warm-up then alternating rounds; samples of every worker's memory and latencies."""
    servers, ports = {}, {name: free_port() for name in BACKENDS}
    out = {name: {"samples": [], "latency": {}, "failed": 0, "requests": 0} for name in BACKENDS}
    try:
        for name, backend in BACKENDS.items():
            servers[name] = serve_gunicorn(
                "app.wsgi:app", ports[name], {**env, "ATTUNE_QUERY_EMBEDDER": backend}
            )
        seed = 0

        def load(name: str, n: int, measured: bool) -> None:
            nonlocal seed
            seed += 1
            results = _drive(ports[name], request_mix(n, pixel_key, products, seed), concurrency)
            out[name]["failed"] += sum(1 for _, _, status in results if status != 200)
            out[name]["requests"] += len(results) if measured else 0
            if measured:
                for kind, ms, _ in results:
                    out[name]["latency"].setdefault(kind, []).append(ms)

        for name in BACKENDS:
            load(name, warmup, measured=False)
            out[name]["samples"].append((0, _workers(servers[name].pid)))
        per_round = -(-requests // rounds)
        for r in range(rounds):
            for name in list(BACKENDS) if r % 2 == 0 else list(reversed(BACKENDS)):
                load(name, min(per_round, requests - r * per_round), measured=True)
                out[name]["samples"].append((out[name]["requests"], _workers(servers[name].pid)))
    finally:
        for server in servers.values():
            server.terminate()
        for server in servers.values():
            server.wait(60)
    return out


class HorseWatch(threading.Thread):
    """Polls the worker's children (its work horses) every ``interval`` s; keeps the largest VmRSS seen."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak: dict[str, float] = {}
        self.seen = 0
        self._halt = threading.Event()

    def run(self) -> None:
        horses: set[int] = set()
        while not self._halt.is_set():
            for child in children_of(self.pid):
                m = memory_of(child)
                if m is None:
                    continue
                horses.add(child)
                if m.get("VmRSS", 0) > self.peak.get("VmRSS", 0):
                    self.peak = m
            self.seen = len(horses)
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join(5)


def _drain(connection, timeout: float = 1800.0) -> None:  # noqa: ANN001 - a Redis client
    """Until no job is queued or running on any queue (twice in a row, 0.3 s apart). A failed job waiting
    for its retry is not waited for: the worker's failure count reports it, and the bench then fails."""
    from rq import Queue
    from rq.registry import StartedJobRegistry

    queues = [Queue(q, connection=connection) for q in QUEUE_NAMES]
    deadline, idle = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        busy = sum(q.count + StartedJobRegistry(queue=q).count for q in queues)
        idle = idle + 1 if busy == 0 else 0
        if idle >= 2:
            return
        time.sleep(0.3)
    raise click.ClickException(f"the worker did not drain its queues within {timeout:.0f} s")


IN_PROCESS_WORKER = "from app.bench.memory import work_in_process; work_in_process()"


def work_in_process() -> None:
    """``attune worker`` with its jobs run in its own process (RQ's SimpleWorker) instead of a forked work
    horse each: the same preloads, and whatever a job leaves behind stays, so growth shows."""
    from rq import SimpleWorker

    from app.config import get_settings
    from app.queue import get_redis
    from app.worker import preload

    preload()
    SimpleWorker(list(QUEUE_NAMES), connection=get_redis(get_settings().redis_url)).work(with_scheduler=True)


def run_worker(env, shop_id, plan, *, command, warmup, jobs, rounds, log: Path) -> dict:
    """Start the worker ``command``; drain what is queued, then ``plan``'s first ``warmup`` jobs, then the
    next ``jobs`` in ``rounds``, reading its memory after each (and its horses' all along)."""
    from redis import Redis
    from rq import Queue, Worker

    connection = Redis.from_url(env["REDIS_URL"])
    out = open(log, "wb")  # noqa: SIM115 - closed after the worker exits
    worker = subprocess.Popen([sys.executable, *command], env=env, stdout=out, stderr=out)
    watch = HorseWatch(worker.pid)
    watch.start()
    samples: list[tuple[int, dict[str, float]]] = []
    titles = itertools.count(len(plan) * 7)  # a new title for every embedding job, also across workers

    def enqueue(part: list[tuple[str, str, tuple]]) -> None:
        for queue, name, args in part:
            if name.endswith("embed_shop_products"):
                touch_product(env["DATABASE_URL"], shop_id, next(titles))
            Queue(queue, connection=connection).enqueue(name, *args)

    try:
        _drain(connection)  # its preload, then whatever is queued already
        wait_until_settled(worker.pid, workers=0, timeout=300)
        enqueue(plan[:warmup])
        _drain(connection)
        samples.append((0, memory_of(worker.pid) or {}))
        per_round = -(-jobs // rounds)
        for r in range(rounds):
            part = plan[warmup + r * per_round : warmup + min(jobs, (r + 1) * per_round)]
            enqueue(part)
            _drain(connection)
            samples.append((samples[-1][0] + len(part), memory_of(worker.pid) or {}))
        stats = [w for w in Worker.all(connection=connection) if w.pid == worker.pid]
        done = sum(w.successful_job_count for w in stats)
        failed = sum(w.failed_job_count for w in stats)
    finally:
        watch.stop()
        worker.terminate()
        worker.wait(120)
        out.close()
    return {
        "samples": samples,
        "horse_peak": watch.peak,
        "horses_seen": watch.seen,
        "done": done,
        "failed": failed,
    }


def run_workers(env, shop_id, *, fork_jobs, jobs, warmup, rounds, workdir: Path) -> dict:
    """The in-process worker (it drains the web phase's backlog) on ``jobs``, then the production worker (a
    forked horse per job) on ``fork_jobs``."""
    total = 2 * warmup + fork_jobs + jobs
    folds = sum(share for kind, share in LIGHT_JOBS if kind == "fold")
    batches = stored_pixel_batches(env["DATABASE_URL"], shop_id, total * folds // 100 + folds)
    plan = job_mix(total, shop_id, iter(batches))
    in_process = run_worker(
        env, shop_id, plan[: warmup + jobs], command=["-c", IN_PROCESS_WORKER], warmup=warmup,
        jobs=jobs, rounds=rounds, log=workdir / "worker-in-process.log",
    )  # fmt: skip
    forked = run_worker(
        env, shop_id, plan[warmup + jobs :], command=["-m", "app", "worker"], warmup=warmup,
        jobs=fork_jobs, rounds=2, log=workdir / "worker.log",
    )  # fmt: skip
    return {"forked": forked, "in_process": in_process}


@click.command("memory")
@click.option("--requests", default=10_000, show_default=True, help="Measured requests per web server.")
@click.option("--warmup", default=500, show_default=True, help="Warm-up requests per web server.")
@click.option("--jobs", default=1000, show_default=True,
              help="Measured jobs, RQ worker running jobs in process (after the web phase's backlog).")  # fmt: skip
@click.option("--fork-jobs", default=100, show_default=True,
              help="Measured jobs, `attune worker` (a forked horse per job: slower per job).")  # fmt: skip
@click.option("--warmup-jobs", default=50, show_default=True, help="Warm-up jobs per RQ worker.")
@click.option("--rounds", default=5, show_default=True, help="Rounds (memory is read after each).")
@click.option("--concurrency", default=4, show_default=True, help="Load-generator processes.")
@click.option("--out", default="benchmarks/memory.md", show_default=True, type=click.Path(dir_okay=False))
def memory(
    requests: int,
    warmup: int,
    jobs: int,
    fork_jobs: int,
    warmup_jobs: int,
    rounds: int,
    concurrency: int,
    out: str,
) -> None:
    """Resident memory of web workers (vs torch in every worker) and of an RQ worker, before and after load."""
    opts = {"warmup": warmup, "warmup_jobs": warmup_jobs, "rounds": rounds}
    opts["command"] = (
        f"attune bench memory --requests {requests} --warmup {warmup} --jobs {jobs} --fork-jobs {fork_jobs}"
        f" --warmup-jobs {warmup_jobs} --rounds {rounds} --concurrency {concurrency}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        redis, redis_url = private_redis(Path(tmp))
        try:
            env, shop_id, pixel_key, products = _prepare(Path(tmp), redis_url)
            click.echo(f"web: {requests} requests per server ...", err=True)
            web = run_web(
                env, pixel_key, products, requests=requests, warmup=warmup, rounds=rounds,
                concurrency=concurrency,
            )  # fmt: skip
            click.echo(f"RQ workers: {jobs} jobs in process, {fork_jobs} forked ...", err=True)
            worker = run_workers(
                env, shop_id, fork_jobs=fork_jobs, jobs=jobs, warmup=warmup_jobs, rounds=rounds,
                workdir=Path(tmp),
            )  # fmt: skip
        finally:
            redis.terminate()
            redis.wait(30)
    report = markdown(web, worker, opts)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    write_report(out, report)
    click.echo(report)
    failed = web["ours"]["failed"] + web["peer"]["failed"]
    failed_jobs = worker["forked"]["failed"] + worker["in_process"]["failed"]
    if failed or failed_jobs:
        raise click.ClickException(f"{failed} requests and {failed_jobs} jobs failed")
