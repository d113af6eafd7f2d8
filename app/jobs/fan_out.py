"""The periodic fan-out every nightly or hourly per-shop job shares: queue one job for each installed shop."""

from __future__ import annotations

from collections.abc import Callable

from app.config import get_settings
from app.db import session_scope
from app.stores.shops import installed_shop_ids


def for_each_installed_shop(queue_one: Callable[[str | None, int], object]) -> int:
    """``queue_one(redis_url, shop_id)`` for every installed shop; how many it queued (truthy answers)."""
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        shops = installed_shop_ids(session)
    return sum(1 for shop_id in shops if queue_one(settings.redis_url, shop_id))
