"""Fixed-window rate limits for the pixel ingress (and the nudge endpoint's signals, under their own
``prefix``), per client and per shop, counted in events (Redis)."""

from __future__ import annotations

import logging
import math
import time

from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)
WINDOW_S = 60


class RateLimited(Exception):
    def __init__(self, scope: str, retry_after: int) -> None:
        super().__init__(f"rate limited ({scope})")
        self.scope = scope
        self.retry_after = retry_after


def check_rate(
    redis: Redis,
    shop_id: int,
    client_id: str,
    *,
    cost: int,
    per_client: int,
    per_shop: int,
    now: float | None = None,
    prefix: str = "pixel",
    also_get: tuple[str, ...] = (),
) -> list[bytes | None] | None:
    """Count ``cost`` events against both windows; raise RateLimited when either is over its limit.

    When Redis is unreachable the request is let through (logged): losing analytics to an outage of the
    limiter would be worse than a minute without limits.

    ``also_get``: keys read in the same round trip (the nudge endpoint's live session); their values are
    returned, or None when Redis was unreachable.
    """
    now = time.time() if now is None else now
    bucket = int(now // WINDOW_S)
    retry_after = max(1, math.ceil((bucket + 1) * WINDOW_S - now))
    keys = (
        ("client", f"attune:rl:{prefix}:c:{shop_id}:{client_id}:{bucket}", per_client),
        ("shop", f"attune:rl:{prefix}:s:{shop_id}:{bucket}", per_shop),
    )
    try:
        pipe = redis.pipeline(transaction=not also_get)
        for _, key, _ in keys:
            pipe.incrby(key, cost)
            pipe.expire(key, WINDOW_S + 5)
        for key in also_get:
            pipe.get(key)
        found = pipe.execute()
    except RedisError as exc:
        log.warning("pixel rate limiter unavailable, request allowed: %s", exc)
        return None
    counts = found[0 : 2 * len(keys) : 2]
    for (scope, _, limit), count in zip(keys, counts, strict=True):
        if int(count) > limit:
            raise RateLimited(scope, retry_after)
    return found[2 * len(keys) :]
