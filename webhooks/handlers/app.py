"""app/uninstalled and app/scopes_update.

Uninstall deletes the tokens, marks the shop uninstalled and stops its work: pending inbox events are
dropped, its queued RQ jobs are cancelled (after commit) and every registered ``ON_UNINSTALL`` hook runs
(e.g. the outbox cancelling pending messages). The shop's data stays until shop/redact.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from redis.exceptions import RedisError
from rq.job import Job
from sqlalchemy import update
from sqlmodel import Session

from app import tasks
from app.commerce.values import ts
from app.config import get_settings
from app.db import after_commit
from app.models.base import utcnow
from app.models.inbox import DROPPED, PENDING, WebhookInbox
from app.models.shop import Shop
from app.queue import QUEUES, get_queue
from app.shopify.scopes import WRITE_CUSTOMERS, has_scope
from webhooks.topics import COMPLIANCE_TOPICS

log = logging.getLogger(__name__)

# Dotted ``module.function(session, shop_id)`` hooks run inside the uninstall transaction; modules that
# are not written yet are skipped.
# Dotted paths of ``hook(session, shop_id)`` functions that stop a shop's outgoing work on uninstall; the
# messaging outbox registers its canceller here when it exists.
ON_UNINSTALL: list[str] = []


def uninstalled(session: Session, shop: Shop, payload: dict[str, Any], event: WebhookInbox) -> None:
    triggered = ts(event.triggered_at)
    if triggered and shop.installed_at and shop.installed_at > triggered:
        log.info("app/uninstalled for %s predates the current install; ignored", shop.domain)
        return
    shop.access_token_enc = None
    shop.refresh_token_enc = None
    shop.access_token_expires_at = shop.refresh_token_expires_at = None
    if shop.uninstalled_at is None:
        shop.uninstalled_at = utcnow()
    shop.touch()
    session.add(shop)
    session.execute(
        update(WebhookInbox)
        .where(
            WebhookInbox.shop_id == shop.id,
            WebhookInbox.status == PENDING,
            WebhookInbox.id != event.id,
            WebhookInbox.topic.not_in(COMPLIANCE_TOPICS),  # type: ignore[attr-defined]
        )
        .values(status=DROPPED, error="shop uninstalled")
    )
    _run_hooks(session, shop.id)
    shop_id = shop.id
    after_commit(session, lambda: cancel_shop_jobs(shop_id))


def _run_hooks(session: Session, shop_id: int) -> None:
    for path in ON_UNINSTALL:
        module_name, func_name = path.rsplit(".", 1)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        getattr(module, func_name)(session, shop_id)


def cancel_shop_jobs(shop_id: int, redis_url: str | None = None) -> int:
    """Cancel queued and scheduled RQ jobs whose ``meta['shop_id']`` is this shop. Returns how many."""
    url = redis_url if redis_url is not None else get_settings().redis_url
    cancelled = 0
    try:
        for name in QUEUES:
            queue = get_queue(url, name)
            ids = list(queue.get_job_ids()) + list(queue.scheduled_job_registry.get_job_ids())
            for job in Job.fetch_many(ids, connection=queue.connection):
                if job is not None and (job.meta or {}).get("shop_id") == shop_id:
                    job.cancel()
                    cancelled += 1
    except RedisError as exc:  # the inbox rows are already dropped; queued jobs then find nothing to do
        log.warning("could not cancel jobs of shop %s: %s", shop_id, exc)
    return cancelled


def scopes_updated(session: Session, shop: Shop, payload: dict[str, Any], event: WebhookInbox) -> None:
    """The merchant granted or revoked (optional) scopes: store the current set; a newly granted
    ``write_customers`` replays the write-backs skipped without it, once this commits."""
    current = payload.get("current")
    if not isinstance(current, list) or not all(isinstance(s, str) for s in current):
        log.warning("app/scopes_update for %s without a list of scopes; ignored", shop.domain)
        return
    had = has_scope(shop, WRITE_CUSTOMERS)
    shop.scopes = ",".join(sorted({s.strip() for s in current if s.strip()}))
    shop.touch()
    session.add(shop)
    if not had and has_scope(shop, WRITE_CUSTOMERS):
        tasks.replay_writebacks_after_commit(session, shop.id)
