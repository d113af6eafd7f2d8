"""Browse abandonment as RQ jobs: every hour, each installed shop's shoppers who looked at a product twice
this week without carting or buying it are proposed one reminder (``app.agents.browse_abandonment``), and the
orchestrator decides and records them with their outbox rows in this job's transaction.

Idempotent: a second run finds the same reminders already decided (the dedupe key: one per shopper and
product) and records nothing."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from app import tasks
from app.agents.browse_abandonment import abandoned_product, propose
from app.config import get_settings
from app.db import get_engine
from app.jobs.orchestrate import submit
from app.models.base import utcnow
from app.models.shop import Shop
from app.stores.browse import browse_histories, reminder_content
from app.stores.orchestrator import load_facts

log = logging.getLogger(__name__)


def run_browse_abandonment(shop_id: int, now: datetime | None = None) -> dict[str, Any]:
    """RQ job: propose this shop's reminders and let the orchestrator decide them. Returns counts by action."""
    settings = get_settings()
    now = now or utcnow()
    with Session(get_engine(settings.database_url)) as session:
        if session.get(Shop, shop_id) is None:
            return {"shop_id": shop_id, "proposals": 0}
        histories = browse_histories(session, shop_id, now)
        wanted = {a.product_id for h in histories if (a := abandoned_product(h, now)) is not None}
        if not wanted:
            return {"shop_id": shop_id, "shoppers": len(histories), "proposals": 0}
        shop_name, cards, pairs = reminder_content(session, shop_id, wanted)
        proposals = [
            p for h in histories if (p := propose(shop_id, shop_name, h, now, cards, pairs)) is not None
        ]
        # a reminder already sent, scheduled or held out is not proposed again (not even as a suppression:
        # the activity feed would repeat it every hour)
        taken = load_facts(session, shop_id, proposals, now) if proposals else {}
        proposals = [p for p in proposals if p.dedupe_key not in taken[p.shopper.key].taken_keys]
        decisions = submit(session, shop_id, proposals, now)
        session.commit()
    counts: dict[str, int] = {}
    for d in decisions:
        counts[str(d.action)] = counts.get(str(d.action), 0) + 1
    log.info("browse abandonment: shop %s, %s proposals %s", shop_id, len(proposals), counts)
    return {"shop_id": shop_id, "shoppers": len(histories), "proposals": len(proposals), **counts}


def run_all_browse_abandonment() -> int:
    """Hourly: queue the job for every installed shop. Returns how many were queued."""
    settings = get_settings()
    with Session(get_engine(settings.database_url)) as session:
        shops = session.exec(
            select(Shop.id).where(Shop.access_token_enc.is_not(None), Shop.uninstalled_at.is_(None))  # type: ignore[union-attr]
        ).all()
    return sum(tasks.run_browse_abandonment(settings.redis_url, shop_id) for shop_id in shops)
