"""Move the storefront's served-list log from Redis into ``served_list``, where lift is measured from.

``flush_served_log`` runs every 15 s (``app.worker``). Entries are read, inserted (deduplicated by
``serve_id``) and committed, and only then trimmed from Redis, so a crash between the two re-inserts nothing
and loses nothing; a retried or concurrent run is harmless.
"""

from __future__ import annotations

import json
import logging

from app.config import get_settings
from app.db import session_scope
from app.queue import get_redis
from app.stores.served_log import SERVED_LOG_KEY, insert_entries

log = logging.getLogger(__name__)


def flush_served_log(database_url: str | None = None, redis_url: str | None = None, batch: int = 1000) -> int:
    """RQ job (periodic): move logged entries into ``served_list``. Returns how many were new."""
    if database_url is None:
        settings = get_settings()
        database_url, redis_url = settings.database_url, settings.redis_url
    redis = get_redis(redis_url)
    moved = 0
    while True:
        raw = redis.lrange(SERVED_LOG_KEY, 0, batch - 1)
        if not raw:
            return moved
        entries = []
        for item in raw:
            try:
                entries.append(json.loads(item))
            except ValueError:
                log.warning("served-list log: dropping a malformed entry")
        with session_scope(database_url) as session:
            moved += insert_entries(session, entries)
        redis.ltrim(SERVED_LOG_KEY, len(raw), -1)
        if len(raw) < batch:
            return moved
