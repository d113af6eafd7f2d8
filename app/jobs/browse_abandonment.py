"""Browse abandonment as RQ jobs: every hour, each installed shop's shoppers who looked at a product twice
this week without carting or buying it are proposed one reminder (``app.agents.browse_abandonment``), and the
orchestrator decides and records them with their outbox rows in this job's transaction.

Who is contacted is decided by predicted incremental effect, not by propensity to buy: once the shop has enough
randomised exposures of this agent (``app.measurement.uplift.readiness``: 200 per arm, 10 conversions each),
its own uplift model, fitted on the features recorded with each decision, scores every candidate; a shopper it
predicts no gain for is not proposed, and the others' expected value is their predicted uplift times the
product's price. Before that, every candidate gets the prior.

Idempotent: a second run finds the same reminders already decided (the dedupe key: one per shopper and
product) and records nothing."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import pandas as pd
from sqlmodel import Session

from app import tasks
from app.agents.browse_abandonment import AGENT, UPLIFT_PRIOR, abandoned_product, propose
from app.config import get_settings
from app.db import get_engine
from app.jobs.fan_out import for_each_installed_shop
from app.jobs.message_locale import ensure_shop_locale
from app.jobs.orchestrate import count_actions, submit_new
from app.measurement.uplift import UpliftModel, fit_uplift, readiness
from app.models.base import utcnow
from app.models.shop import Shop
from app.stores.browse import agent_experiment, browse_histories, reminder_content

log = logging.getLogger(__name__)


def run_browse_abandonment(shop_id: int, now: datetime | None = None) -> dict[str, Any]:
    """RQ job: propose this shop's reminders and let the orchestrator decide them. Returns counts by action."""
    settings = get_settings()
    now = now or utcnow()
    ensure_shop_locale(settings, shop_id)  # read once from Shopify: the language of the shop's messages
    with Session(get_engine(settings.database_url)) as session:
        if session.get(Shop, shop_id) is None:
            return {"shop_id": shop_id, "proposals": 0}
        histories = browse_histories(session, shop_id, now)
        wanted = {a.product_id for h in histories if (a := abandoned_product(h, now)) is not None}
        if not wanted:
            return {"shop_id": shop_id, "shoppers": len(histories), "proposals": 0}
        shop_name, cards, pairs = reminder_content(session, shop_id, wanted)
        targeting = _uplift(session, shop_id, now)
        candidates = [h for h in histories if abandoned_product(h, now) is not None]
        uplifts = _predict(targeting, candidates)
        proposals = [
            p
            for h, u in zip(candidates, uplifts, strict=True)
            if u > 0 and (p := propose(shop_id, shop_name, h, now, cards, pairs, uplift=u)) is not None
        ]
        not_worth = sum(u <= 0 for u in uplifts)
        # a reminder already sent, scheduled or held out is not proposed again (not even as a suppression:
        # the activity feed would repeat it every hour)
        proposals, decisions = submit_new(session, shop_id, proposals, now)
        session.commit()
    counts = count_actions(decisions)
    log.info("browse abandonment: shop %s, %s proposals %s", shop_id, len(proposals), counts)
    return {
        "shop_id": shop_id,
        "shoppers": len(histories),
        "proposals": len(proposals),
        "targeting": "uplift model" if targeting is not None else "prior",
        "no_predicted_gain": not_worth,
        **counts,
    }


def _uplift(session: Session, shop_id: int, now: datetime) -> UpliftModel | None:
    """The shop's own uplift model for this agent, once its randomised exposures are enough; else None."""
    features, treated, outcome = agent_experiment(session, shop_id, AGENT, now)
    ready = readiness(treated, outcome)
    if not ready.ready:
        log.info("browse abandonment: shop %s targets by the prior: %s", shop_id, ready.reason)
        return None
    return fit_uplift(features, treated, outcome)


def _predict(model: UpliftModel | None, histories: list) -> list[float]:
    """Each shopper's predicted incremental conversion from a reminder (the prior without a model)."""
    if model is None or not histories:
        return [UPLIFT_PRIOR] * len(histories)
    return [float(u) for u in model.predict(pd.DataFrame([dict(h.features) for h in histories]))]


def run_all_browse_abandonment() -> int:
    """Hourly: queue the job for every installed shop. Returns how many were queued."""
    return for_each_installed_shop(tasks.run_browse_abandonment)
