"""Late-order updates as RQ jobs (issue 18, "help before it is asked"): every hour, each installed shop's shipped
orders that run late against its shipping policy get one transactional update (``app.agents.late_orders``),
decided by the orchestrator and sent by the outbox. Idempotent: the dedupe key ``late-order:<order id>`` is
decided once, so a rerun proposes nothing new."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlmodel import Session

from app import tasks
from app.agents.late_orders import propose
from app.config import get_settings
from app.db import get_engine
from app.jobs.fan_out import for_each_installed_shop
from app.jobs.orchestrate import count_actions, submit_new
from app.models.base import utcnow
from app.models.shop import Shop
from app.stores.rescue import shop_label
from app.stores.support_orders import shipped_orders, shipping_promise

log = logging.getLogger(__name__)


def run_late_orders(shop_id: int, now: datetime | None = None) -> dict[str, Any]:
    """RQ job: propose this shop's late-order updates and let the orchestrator decide them."""
    settings = get_settings()
    now = now or utcnow()
    with Session(get_engine(settings.database_url)) as session:
        shop = session.get(Shop, shop_id)
        if shop is None:
            return {"shop_id": shop_id, "proposals": 0}
        promise = shipping_promise(session, shop_id)
        if promise is None:  # the policy promises no delivery time: nothing is ever late
            return {"shop_id": shop_id, "proposals": 0, "promise": None}
        proposals = propose(
            shop_id, shop_label(session, shop), shipped_orders(session, shop_id, now), promise, now
        )
        proposals, decisions = submit_new(session, shop_id, proposals, now)
        session.commit()
    counts = count_actions(decisions)
    log.info("late orders: shop %s, %s proposals %s", shop_id, len(proposals), counts)
    return {"shop_id": shop_id, "proposals": len(proposals), **counts}


def run_all_late_orders() -> int:
    """Hourly: queue the job for every installed shop. Returns how many were queued."""
    return for_each_installed_shop(tasks.run_late_orders)
