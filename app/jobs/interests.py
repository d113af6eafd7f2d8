"""Per-shop use-case inference: worker jobs that find and store the shop's interests (``shop_interest``).

- ``infer_for_shop(shop_id)``: loads the live catalogue (title, type, tags), the stored product vectors and the
  order × product incidence (``app.stores.interests``), calls ``app.recommend.interests.infer_interests`` and
  rewrites the shop's interests. When they changed it queues the shop's recommendation refresh, whose
  personal reasons name them ("For your interest in coffee").
- ``infer_all_shops()``: nightly, one job per installed shop (co-purchase drifts with new orders); the
  catalogue embedding job queues one whenever it changed a vector.
"""

from __future__ import annotations

import logging

from sqlmodel import Session

from app import tasks
from app.config import Settings, get_settings
from app.db import after_commit, get_engine
from app.jobs.fan_out import for_each_installed_shop
from app.recommend.interests import infer_interests
from app.stores.interests import gather, replace_interests

log = logging.getLogger(__name__)


def infer_for_shop(shop_id: int, settings: Settings | None = None) -> int:
    """Worker job: recompute and store the shop's interests. Returns how many it found."""
    settings = settings or get_settings()
    redis_url = settings.redis_url
    with Session(get_engine(settings.database_url), expire_on_commit=False) as session:
        items, vectors, order_item = gather(session, shop_id)
        found = infer_interests(items, vectors, order_item)
        changed = replace_interests(session, shop_id, found)
        if changed:
            after_commit(session, lambda: tasks.refresh_shop_lists(redis_url, shop_id))
        session.commit()
    log.info("interests: shop %s, %s found (%s)", shop_id, len(found), "changed" if changed else "unchanged")
    return len(found)


def infer_all_shops() -> int:
    """Nightly: queue an inference for every installed shop (low queue). Returns how many."""
    return for_each_installed_shop(tasks.infer_interests)
