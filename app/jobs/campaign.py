"""Newsletters as RQ jobs.

- ``send_campaign(shop_id, campaign_id, wave=None)``: proposes the newsletter to the next ``wave`` recipients who
  have no decision for it yet (all of them without ``wave``), each personalised (``app.agents.newsletter``), and
  hands the proposals to the orchestrator in this job's transaction (consent, quiet hours, the contact budget,
  the global holdout and the campaign's own; the bandit gives each one of the campaign's variants). Sending in
  waves lets the bandit learn between them: each wave's draws read what the earlier waves' treated recipients
  bought. Idempotent: the dedupe key ``newsletter:<id>`` is taken once per shopper, so a second run (or a retry
  after a crash) proposes to nobody twice: a recipient has one decision per campaign, whatever it was (a
  newsletter turned down by the contact budget is not sent later). The campaign is ``sending`` until every recipient has a decision.
- ``continue_campaigns()``: daily, queues the next wave of every campaign still sending.

The admin's per-recipient preview is ``app.stores.campaign_preview`` (requests never call job code).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlmodel import Session

from app import tasks
from app.agents.newsletter import agent_name, propose
from app.config import get_settings
from app.db import get_engine
from app.jobs.message_locale import ensure_shop_locale, localized
from app.jobs.orchestrate import count_actions, submit
from app.models.base import utcnow
from app.models.campaigns import SENDING, SENT
from app.stores import campaigns as store
from app.stores.campaign_preview import newsletter_of, shop_aov

log = logging.getLogger(__name__)


def send_campaign(
    shop_id: int, campaign_id: int, wave: int | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """RQ job: propose the newsletter to the next recipients and let the orchestrator decide them."""
    settings = get_settings()
    now = now or utcnow()
    ensure_shop_locale(settings, shop_id)
    with Session(get_engine(settings.database_url)) as session:
        row = store.get(session, shop_id, campaign_id)
        if row is None:
            return {"shop_id": shop_id, "campaign": campaign_id, "proposals": 0, "missing": True}
        shop_name, people = store.recipients(session, shop_id, now)
        newsletter = newsletter_of(row)
        aov = shop_aov(session, shop_id)
        proposals = [propose(shop_id, shop_name, newsletter, r, now, aov) for r in people]
        decided = store.decided(session, shop_id, agent_name(campaign_id))
        waiting = [p for p in proposals if p.shopper.customer_id not in decided]  # one decision per recipient
        batch = waiting if wave is None else waiting[: max(wave, 0)]
        decisions = submit(session, shop_id, localized(session, shop_id, batch), now)
        row.status = SENT if len(batch) == len(waiting) else SENDING
        row.started_at = row.started_at or now
        if row.status == SENT:
            row.finished_at = row.finished_at or now
        session.add(row)
        session.commit()
    counts = count_actions(decisions)
    log.info("newsletter %s: shop %s, %s proposals %s", campaign_id, shop_id, len(batch), counts)
    return {
        "shop_id": shop_id,
        "campaign": campaign_id,
        "wave": wave,
        "recipients": len(people),
        "proposals": len(batch),
        "remaining": len(waiting) - len(batch),
        **counts,
    }


def continue_campaigns() -> int:
    """Daily: queue the next wave of every newsletter still sending. Returns how many were queued."""
    settings = get_settings()
    with Session(get_engine(settings.database_url)) as session:
        sending = store.sending(session)
    return sum(tasks.send_campaign(settings.redis_url, shop, cid, wave) for shop, cid, wave in sending)
