"""Redis and RQ queues. Jobs are enqueued by dotted path with ids only, after the commit that made them."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from functools import lru_cache
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.job import Job, JobStatus

log = logging.getLogger(__name__)

QUEUES = ("webhooks", "default", "low")
# Seconds a job may run. The low queue holds a shop's whole-shop work (the install backfill, reconciliation,
# training, list rebuilds), which takes minutes on a big shop: the full Online Retail II's initial sync ran past
# RQ's default 180 s and was retried from the start, forever. The other queues keep RQ's default.
JOB_TIMEOUTS = {"low": 2 * 3600}
DEFAULT_RETRY = Retry(max=5, interval=[5, 30, 120, 600, 1800])


@lru_cache(maxsize=4)
def _redis_for(url: str) -> Redis:
    return Redis.from_url(url, socket_connect_timeout=1, socket_timeout=5)


_fake = threading.local()
_fake_lock = threading.Lock()
_fake_servers: list[Any] = []


def _fake_server() -> Any:
    """The one in-process Redis server of this process.

    Created under a lock: ``lru_cache`` may run its function once per thread when threads race on the first
    call, and workers bound to a second server would never see the jobs the web threads enqueue."""
    with _fake_lock:
        if not _fake_servers:
            import fakeredis  # heavy: fakeredis, only for the zero-install demo

            _fake_servers.append(fakeredis.FakeServer())
        return _fake_servers[0]


def get_redis(url: str | None) -> Redis:
    """Redis at ``url``; without one (the zero-install demo only), an in-process Redis.

    The in-process server is shared by every thread of this process, each thread with its own client, as
    threads of a real app each hold their own connection (one shared client races between threads)."""
    if url:
        return _redis_for(url)
    client = getattr(_fake, "client", None)
    if client is None:
        import fakeredis  # heavy: fakeredis, only for the zero-install demo

        client = _fake.client = fakeredis.FakeRedis(server=_fake_server())
    return client


def get_queue(url: str | None, name: str = "default") -> Queue:
    if name not in QUEUES:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=get_redis(url), default_timeout=JOB_TIMEOUTS.get(name))


def _waiting(queue: Queue, job_id: str) -> JobStatus | None:
    """``QUEUED`` or ``SCHEDULED`` when the job ``job_id`` waits in (or for) ``queue`` and has not started yet,
    else None."""
    # the two fields alone, in one round trip: Job.fetch would also read and unpickle the job's arguments
    status, origin = (
        v.decode() if isinstance(v, bytes) else v
        for v in queue.connection.hmget(Job.key_for(job_id), "status", "origin")
    )
    if origin != queue.name or status not in (JobStatus.QUEUED, JobStatus.SCHEDULED):
        return None
    return JobStatus(status)


def enqueue(
    url: str | None,
    func: str | Callable[..., Any],
    *args: Any,
    queue: str = "default",
    job_id: str | None = None,
    retry: Retry | None = DEFAULT_RETRY,
    delay_s: float = 0.0,
    **kwargs: Any,
) -> bool:
    """Enqueue a job (``delay_s`` > 0: schedule it that far ahead; the workers run RQ's scheduler); return False
    instead of raising when Redis is unreachable.

    With ``job_id``, a job of that id still waiting in the queue, or scheduled, is not queued a second time.

    Callers that must not lose work record it durably first (an inbox row), so a sweeper can
    enqueue it later.
    """
    try:
        q = get_queue(url, queue)
        waiting = _waiting(q, job_id) if job_id is not None else None
        if waiting == JobStatus.QUEUED or (waiting == JobStatus.SCHEDULED and delay_s > 0):
            # it has not started, so it will read the latest rows when it runs: queueing it again would
            # only push its id a second time (RQ runs a re-enqueued id twice)
            return True
        if waiting == JobStatus.SCHEDULED:  # wanted now: the one scheduled for later is not needed
            q.scheduled_job_registry.remove(job_id)
        if delay_s > 0:
            q.enqueue_in(timedelta(seconds=delay_s), func, *args, job_id=job_id, retry=retry, **kwargs)
        else:
            q.enqueue(func, *args, job_id=job_id, retry=retry, **kwargs)
        return True
    except RedisError as exc:
        log.warning("enqueue of %s failed (Redis unavailable): %s", func, exc)
        return False
