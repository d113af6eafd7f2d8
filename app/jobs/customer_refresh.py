"""The batched customer refresh: every customer of a shop changed since the last run, in one job.

An order, refund or checkout marks its customer changed once it commits (``app.tasks.customer_changed``), and
queues the shop's ``refresh_customers`` unless one is waiting. A run claims every customer marked so far,
refreshes their profiles (``app.jobs.profile_refresh``) and, for those whose orders or returns changed, their
personal lists ranked together with the stored ranker (``app.jobs.recommendations.refresh_customers_lists``),
``CHUNK`` customers per transaction (``RUN_LIMIT`` per run; the next run takes the rest), and drops each chunk
from the claim once it commits. A busy shop's
customers are thus refreshed in batches (one job per shop and tick, each customer once however often it
changed) and an idle shop's at once.

Idempotent and safe to retry: the job carries the shop's id only, each refresh recomputes its rows from their
sources, and a run that fails or dies leaves its claim for the next one (RQ's retry, or the next change). One
run per shop at a time: a run that finds another one busy does nothing, and the busy one queues the next run
when it finishes if customers changed meanwhile. What each customer's refresh reads is that customer's rows,
the cards of the products ranked for them and the shop's rules: its cost does not grow with the shop.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from app import tasks
from app.config import get_settings
from app.db import retry_lost_race, session_scope
from app.jobs.profile_refresh import refresh_in_session
from app.jobs.recommendations import refresh_customers_lists
from app.models.base import utcnow
from app.stores.profiles import StaleProfile
from app.stores.shop_models import load_scorers

log = logging.getLogger(__name__)
CHUNK = 20  # customers per transaction: SQLite's one write lock is held briefly (the ingress waits on it)
RUN_LIMIT = 1000  # customers per run (well within the default queue's 180 s); the rest go to the next run


def refresh_customers(shop_id: int) -> dict[str, Any]:
    """RQ job: refresh the profiles and personal lists of the shop's customers changed since the last run."""
    settings = get_settings()
    redis_url = settings.redis_url
    token = uuid.uuid4().hex
    if not tasks.start_customer_refresh(redis_url, shop_id, token):
        return {"shop_id": shop_id, "busy": True}
    out = {"shop_id": shop_id, "profiles": 0, "customers_lists": 0, "lists": 0}
    wait: float | None = None  # seconds until a retraining is due (None: not due)
    more = False
    try:
        claimed = tasks.claim_changed_customers(redis_url, shop_id)
        everyone = sorted(claimed["profile"] | claimed["lists"])
        more = len(everyone) > RUN_LIMIT
        for lo in range(0, min(len(everyone), RUN_LIMIT), CHUNK):
            chunk = everyone[lo : lo + CHUNK]
            profiles = [c for c in chunk if c in claimed["profile"]]
            lists = [c for c in chunk if c in claimed["lists"]]
            written, chunk_wait = refresh_chunk(shop_id, profiles, lists)
            tasks.customers_refreshed(redis_url, shop_id, {"profile": set(profiles), "lists": set(lists)})
            if chunk_wait is not None:
                wait = chunk_wait if wait is None else min(wait, chunk_wait)
            out["profiles"] += len(profiles)
            out["customers_lists"] += len(lists)
            out["lists"] += written
    except BaseException:
        more = False  # RQ's retry takes the claim again, after its back-off
        raise
    finally:
        tasks.finish_customer_refresh(redis_url, shop_id, token, more=more)
    if wait is not None:
        tasks.train_ranker(redis_url, shop_id, delay_s=wait)
    log.info("customer refresh: shop %s, %s", shop_id, out)
    return out


def refresh_chunk(shop_id: int, profiles: list[int], lists: list[int]) -> tuple[int, float | None]:
    """One transaction: the profiles of ``profiles`` and the personal lists of ``lists`` (customer ids).
    Returns (lists written, seconds until a retraining is due, None when none is)."""
    settings = get_settings()

    def work() -> tuple[int, float | None]:
        with session_scope(settings.database_url) as session:
            scorers = load_scorers(session, shop_id) if profiles else None
            for customer_id in profiles:
                refresh_in_session(session, shop_id, f"customer:{customer_id}", scorers=scorers)
            if not lists:
                return 0, None
            return refresh_customers_lists(session, shop_id, lists, utcnow())

    # another worker may write one of these profiles or lists meanwhile: recompute the chunk from the new rows
    return retry_lost_race(work, also=(StaleProfile,))
