"""Redis and RQ queues. Jobs are enqueued by dotted path with ids only, after the commit that made them."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry

log = logging.getLogger(__name__)

QUEUES = ("webhooks", "default", "low")
DEFAULT_RETRY = Retry(max=5, interval=[5, 30, 120, 600, 1800])


@lru_cache(maxsize=4)
def _redis_for(url: str) -> Redis:
    return Redis.from_url(url, socket_connect_timeout=1, socket_timeout=5)


_fake = threading.local()


@lru_cache(maxsize=1)
def _fake_server() -> Any:
    import fakeredis

    return fakeredis.FakeServer()


def get_redis(url: str | None) -> Redis:
    """Redis at ``url``; without one (the zero-install demo only), an in-process Redis.

    The in-process server is shared by every thread of this process, each thread with its own client, as
    threads of a real app each hold their own connection (one shared client races between threads)."""
    if url:
        return _redis_for(url)
    client = getattr(_fake, "client", None)
    if client is None:
        import fakeredis

        client = _fake.client = fakeredis.FakeRedis(server=_fake_server())
    return client


def get_queue(url: str | None, name: str = "default") -> Queue:
    if name not in QUEUES:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=get_redis(url))


def enqueue(
    url: str | None,
    func: str | Callable[..., Any],
    *args: Any,
    queue: str = "default",
    job_id: str | None = None,
    retry: Retry | None = DEFAULT_RETRY,
    **kwargs: Any,
) -> bool:
    """Enqueue a job; return False instead of raising when Redis is unreachable.

    Callers that must not lose work record it durably first (an inbox row), so a sweeper can
    enqueue it later.
    """
    try:
        get_queue(url, queue).enqueue(func, *args, job_id=job_id, retry=retry, **kwargs)
        return True
    except RedisError as exc:
        log.warning("enqueue of %s failed (Redis unavailable): %s", func, exc)
        return False
