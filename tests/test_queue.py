"""Queues: deduplicated enqueues, and the zero-install demo's in-process Redis (one server per process)."""

from __future__ import annotations

import threading
import time

import fakeredis
from rq.job import JobStatus

import app.queue as queue


def _race(n: int) -> tuple[list[object], list]:
    """``n`` fresh threads use the in-process Redis for the first time at the same moment; returns the
    server each thread's client talks to, and the clients."""
    start = threading.Barrier(n)
    servers: list[object] = []
    clients: list = []
    lock = threading.Lock()

    def first_use() -> None:
        start.wait()
        client = queue.get_redis(None)
        with lock:
            servers.append(client.connection_pool.connection_kwargs["server"])
            clients.append(client)

    threads = [threading.Thread(target=first_use) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return servers, clients


def test_threads_racing_on_first_use_share_one_server(monkeypatch):
    """Web and worker threads start together; a job enqueued by one must be visible to all.

    The first use imports fakeredis and builds the server, which is slow: a slow constructor stands for it."""
    real = fakeredis.FakeServer

    def slow_server(*args, **kwargs):
        time.sleep(0.02)
        return real(*args, **kwargs)

    monkeypatch.setattr(fakeredis, "FakeServer", slow_server)
    for _ in range(3):
        monkeypatch.setattr(queue, "_fake_servers", [])
        servers, clients = _race(8)
        assert len(servers) == 8 and len({id(s) for s in servers}) == 1
        clients[0].set("attune:probe", "1")
        assert all(c.get("attune:probe") == b"1" for c in clients)
        assert queue._fake_server() is servers[0]


def test_each_thread_has_its_own_client(monkeypatch):
    monkeypatch.setattr(queue, "_fake_servers", [])
    main = queue.get_redis(None)
    other: list[object] = []
    t = threading.Thread(target=lambda: other.append(queue.get_redis(None)))
    t.start()
    t.join(5)
    assert other[0] is not main and queue.get_redis(None) is main


def test_a_job_id_already_waiting_is_not_queued_twice(redis_url):
    redis = queue.get_redis(redis_url)
    redis.flushdb()
    q = queue.get_queue(redis_url, "low")
    assert queue.enqueue(
        redis_url, "app.jobs.recommendations.refresh_for_shop", 7, queue="low", job_id="recs-shop-7"
    )
    assert queue.enqueue(
        redis_url, "app.jobs.recommendations.refresh_for_shop", 7, queue="low", job_id="recs-shop-7"
    )
    assert q.job_ids == ["recs-shop-7"]

    # once it has started it may have read stale rows: a new change queues it again
    job = q.dequeue_any([q], None, connection=redis)[0]
    job.set_status(JobStatus.STARTED)
    assert queue.enqueue(
        redis_url, "app.jobs.recommendations.refresh_for_shop", 7, queue="low", job_id="recs-shop-7"
    )
    assert q.job_ids == ["recs-shop-7"]

    # jobs without an id are never deduplicated
    queue.enqueue(redis_url, "app.jobs.recommendations.refresh_for_shop", 7, queue="low")
    queue.enqueue(redis_url, "app.jobs.recommendations.refresh_for_shop", 7, queue="low")
    assert len(q.job_ids) == 3
    redis.flushdb()
