"""The replenishment oracle's worker jobs (issue 17).

- ``forecast_shop(shop_id)``: loads the shop's purchase history (``app.stores.replenishment``), calls
  ``app.recommend.replenishment.forecast_history`` (the function ``attune backtest replenishment`` measures) at
  the current time and rewrites the shop's ``replenishment_forecast`` rows; customers whose next due date moved
  get their ``next_replenishment_due`` metafield synced. Idempotent: a rerun rewrites the same.
- ``forecast_all_shops()``: nightly, one job per installed shop; each forecast queues the shop's agent run.
- ``run_replenishment(shop_id)``: the replenishment agent (``app.agents.replenishment``) proposes a reminder to
  every shopper with a due consumable, and the orchestrator decides (holdout, consent, quiet hours, budget) and
  records them with their outbox rows in this job's transaction. Idempotent: a second run finds the same
  reminders already decided (one per shopper and due cycle) and records nothing. Each reminder asks the pricing
  agent (``app.jobs.pricing.attach_offers``) once it is decided: only where pricing approves (every guardrail)
  does the sent reminder carry a single-use code (its line, and ``?discount=`` on the cart link).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session

from app import tasks
from app.agents.replenishment import (
    AGENT,
    FLOW_TRIGGER,
    LEAD,
    ReplenishmentFacts,
    Supply,
    due_items,
    propose,
)
from app.config import Settings, get_settings
from app.db import after_commit, get_engine
from app.jobs.fan_out import for_each_installed_shop
from app.jobs.orchestrate import submit
from app.jobs.pricing import Ask, attach_offers
from app.models.replenishment import ReplenishmentForecast
from app.models.shop import Shop
from app.orchestrator.proposal import Proposal, Shopper
from app.recommend.replenishment import Forecast, forecast_history
from app.stores.browse import shopper_profiles
from app.stores.orchestrator import load_facts
from app.stores.replenishment import due_forecasts, history, next_due_dates, replace_forecasts
from app.stores.replenishment_supplies import delivery_time, supplies

log = logging.getLogger(__name__)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _at(days: float) -> datetime:
    return EPOCH + timedelta(days=float(days))


def forecast_shop(shop_id: int, settings: Settings | None = None, now: datetime | None = None) -> int:
    """Worker job: recompute and store every forecast of the shop. Returns how many are stored."""
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    today = (now - EPOCH).total_seconds() / 86400.0
    with Session(get_engine(settings.database_url), expire_on_commit=False) as session:
        before = next_due_dates(session, shop_id)
        lines = history(session, shop_id)
        types = {}
        if lines.types is not None:
            types = {p: t for p, t in zip(lines.products, lines.types, strict=True) if t}
        _, fc = forecast_history(
            lines.customers, lines.products, lines.days, lines.quantities, lines.orders, today, types
        )
        stored = replace_forecasts(session, shop_id, rows(shop_id, fc, now))
        session.flush()
        after = next_due_dates(session, shop_id)
        moved = sorted(c for c in set(before) | set(after) if before.get(c) != after.get(c))
        redis_url = settings.redis_url
        after_commit(session, lambda: tasks.run_replenishment(redis_url, shop_id))
        if moved:  # the next_replenishment_due metafield of these customers changed
            after_commit(session, lambda: tasks.sync_metafields(redis_url, shop_id, moved))
        session.commit()
    log.info("replenishment: shop %s, %s forecasts", shop_id, stored)
    return stored


def rows(shop_id: int, fc: Forecast, now: datetime) -> list[ReplenishmentForecast]:
    """The forecast as table rows (pairs whose ids are not Shopify's numeric ids are left out)."""
    out = []
    for k in range(len(fc.customer)):
        if not (str(fc.customer[k]).isdigit() and str(fc.product[k]).isdigit()):
            continue
        out.append(
            ReplenishmentForecast(
                shop_id=shop_id,
                customer_shopify_id=int(fc.customer[k]),
                product_shopify_id=int(fc.product[k]),
                purchase_days=int(fc.n_days[k]),
                usual_quantity=int(fc.usual_quantity[k]),
                last_purchase_at=_at(fc.last_day[k]),
                cycle_days=round(float(fc.cycle_days[k]), 2),
                due_at=_at(fc.due_at[k]),
                due_low=_at(fc.due_low[k]),
                due_high=_at(fc.due_high[k]),
                predicted_next_at=_at(fc.predicted_next_at[k]),
                p_within_14d=round(float(fc.p_within_14d[k]), 4),
                p_within_30d=round(float(fc.p_within_30d[k]), 4),
                supply_left=round(float(fc.supply_left[k]), 3),
                p_active=round(float(fc.p_active[k]), 4),
                status=str(fc.status[k]),
                basis=str(fc.basis[k]),
                consumable=bool(fc.consumable[k]),
                computed_at=now,
            )
        )
    return out


def forecast_all_shops() -> int:
    """Nightly: queue a forecast for every installed shop (low queue). Returns how many."""
    return for_each_installed_shop(tasks.forecast_replenishment)


def run_replenishment(shop_id: int, now: datetime | None = None) -> dict[str, int]:
    """RQ job: propose this shop's replenishment reminders and let the orchestrator decide them."""
    settings = get_settings()
    now = now or datetime.now(UTC)
    with Session(get_engine(settings.database_url)) as session:
        shop = session.get(Shop, shop_id)
        if shop is None:
            return {"shop_id": shop_id, "proposals": 0}
        delivery = delivery_time(session, shop_id)
        due = due_forecasts(session, shop_id, now + delivery + LEAD)
        if not due:
            return {"shop_id": shop_id, "proposals": 0}
        name, supplies_of, complements = supplies(session, shop_id, due, now)
        profiles = shopper_profiles(session, shop_id, [f"customer:{c}" for c in supplies_of], now)
        proposals = []
        asks: dict[tuple[str, str], Ask] = {}
        for customer, items in supplies_of.items():
            hours, zone, features = profiles.get(f"customer:{customer}", ([0] * 24, None, {}))
            facts = ReplenishmentFacts(Shopper(customer_id=customer), items, hours, zone, features)
            mine = propose(shop_id, name, shop.domain, facts, now, complements, delivery)
            proposals += mine
            asks.update(_asks(mine, items, now, delivery, features))
        taken = load_facts(session, shop_id, proposals, now) if proposals else {}
        # a reminder already sent, scheduled or held out is not proposed again, nor its Flow trigger (which the
        # budget suppressed beside it and would otherwise fire on the next day's run)
        proposals = [
            p
            for p in proposals
            if p.dedupe_key not in (keys := taken[p.shopper.key].taken_keys)
            and p.dedupe_key.removeprefix("flow:") not in keys
        ]
        decisions = submit(session, shop_id, proposals, now)
        offers = attach_offers(session, settings, shop_id, decisions, asks, now)
        session.commit()
    counts: dict[str, int] = {"shop_id": shop_id, "proposals": len(proposals), "offers": offers}
    for d in decisions:
        counts[str(d.action)] = counts.get(str(d.action), 0) + 1
    log.info("%s: shop %s, %s", AGENT, shop_id, counts)
    return counts


def _asks(
    proposals: list[Proposal], items: Sequence[Supply], now: datetime, delivery: timedelta, features: Any
) -> dict[tuple[str, str], Ask]:
    """The reminder (not its Flow trigger) asks the pricing agent whether an incentive pays on the due items'
    reorder; ``attach_offers`` makes and writes the code only where it approves and the reminder is sent."""
    due = [s for s in due_items(items, now, delivery) if s.variant_id]
    out = {}
    for p in proposals:
        if p.content.template == FLOW_TRIGGER or not due:
            continue
        out[(p.shopper.key, p.dedupe_key)] = Ask(
            key=f"{p.dedupe_key}:{p.shopper.key}"[:128], agent=AGENT, shopper=p.shopper,
            cart_value=round(sum(s.value * max(s.usual_quantity, 1) for s in due), 2),
            lines=[(s.variant_id, max(s.usual_quantity, 1)) for s in due], features=dict(features or {}),
        )  # fmt: skip
    return out
