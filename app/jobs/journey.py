"""The journey agent as RQ jobs.

- ``run_journey(shop_id)``: daily per shop. Fits the interest timing model on the shop's own orders
  (``app.recommend.interest_timing.predict``, the function ``attune backtest interest-timing`` scores), builds
  each known customer's facts (stage, orders, churn risk, subscription, spend rank, the interests they are likely
  to buy from in the next 30 days and each interest's checklist of products they do not own), asks
  ``app.agents.journey.propose`` and hands every proposal to the orchestrator in this job's transaction.
  Idempotent: the dedupe keys make a second run in the same period propose nothing new.
- ``refresh_stages(shop_id)``: nightly, recomputes every stored stage (buyers move to lapsing and lost with
  the clock, not with an event).

Win-back incentives: the agent stays pure and is handed the pricing agent's approvals as a function over facts
the job gathered first (``pricing_approver``): for each lapsing candidate the orchestrator would not hold out,
``app.jobs.pricing.reserve_offer`` applies every pricing guardrail and records the decision (an offer reserved,
key ``win_back:<shopper>:<last order day>``). After the orchestrator decided, ``attach_offers`` makes the code
(customer-specific, single use) for the win-backs it will send and writes it in; one held out or suppressed is
released, and one whose Admin API call failed goes out without the incentive's words.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from app import tasks
from app.agents.journey import (
    AGENTS,
    WIN_BACK,
    ApproveIncentive,
    Incentive,
    InterestOutlook,
    Item,
    JourneyFacts,
    propose,
)
from app.config import get_settings
from app.db import get_engine
from app.jobs.fan_out import for_each_installed_shop
from app.jobs.message_locale import ensure_shop_locale
from app.jobs.orchestrate import count_actions, submit_new
from app.jobs.pricing import Ask, attach_offers, reserve_offer
from app.models.base import utcnow
from app.models.profiles import CustomerProfile
from app.models.shop import Shop
from app.orchestrator.proposal import Shopper
from app.profiles.journey import stage_of
from app.recommend import interest_timing as timing
from app.recommend.interests import Interest
from app.stores.browse import reminder_content, shopper_profiles
from app.stores.contact_policy import load_policy
from app.stores.interests import load_interests
from app.stores.journey import save_stages
from app.stores.journey_facts import customer_rows, order_lines, subscriptions
from app.stores.pricing_offers import release

log = logging.getLogger(__name__)
CHECKLIST_CANDIDATES = 8


def _outlooks(
    customer: str,
    likely: dict[str, list[tuple[str, float]]],
    interests: dict[str, Interest],
    owned: set[str],
) -> dict[str, tuple[Interest, float, list[int]]]:
    out = {}
    for key, p in likely.get(customer, [])[:3]:
        interest = interests.get(key)
        if interest is None:
            continue
        missing = [int(pid) for pid in interest.product_ids if pid not in owned][:CHECKLIST_CANDIDATES]
        out[key] = (interest, p, missing)
    return out


def _spend_ranks(rows: list[tuple[int, str, dict[str, Any], dict[str, Any]]]) -> dict[int, float]:
    spent = {c: float(((e.get("orders") or {}).get("spent")) or 0.0) for c, _, e, _ in rows}
    ordered = sorted(spent, key=lambda c: -spent[c])
    return {c: i / len(ordered) for i, c in enumerate(ordered)} if ordered else {}


def gather_facts(session: Session, shop_id: int, now: datetime) -> tuple[str, list[JourneyFacts]]:
    """The shop's name and every known customer's facts for the journey agent."""
    rows = customer_rows(session, shop_id)
    interests = {i.key: i for i in load_interests(session, shop_id)}
    interest_of = {pid: i.key for i in interests.values() for pid in i.product_ids}
    lines = order_lines(session, shop_id, now)
    owned: dict[str, set[str]] = defaultdict(set)
    for customer, _, product in lines:
        owned[customer].add(product)
    histories, orders = timing.histories_from_orders(lines, interest_of)
    likely = timing.predict(histories, orders, now.timestamp() / 86400).by_customer() if histories else {}
    outlooks = {str(c): _outlooks(str(c), likely, interests, owned[str(c)]) for c, *_ in rows}
    wanted = {pid for per in outlooks.values() for _, _, missing in per.values() for pid in missing}
    shop_name, cards, _ = reminder_content(session, shop_id, wanted)
    subscribed = subscriptions(session, shop_id, [c for c, *_ in rows])
    ranks = _spend_ranks(rows)
    profiles = shopper_profiles(session, shop_id, [f"customer:{c}" for c, *_ in rows], now)
    aovs = [float((e.get("orders") or {}).get("average_order_value") or 0) for _, _, e, _ in rows]
    shop_aov = sum(a for a in aovs if a > 0) / max(sum(1 for a in aovs if a > 0), 1)
    out = []
    for customer, stage, explicit, derived in rows:
        o = explicit.get("orders") or {}
        last = o.get("last_at")
        hours, zone, features = profiles.get(f"customer:{customer}", ([0] * 24, None, {}))
        churn = (derived.get("churn_risk") or {}).get("value")
        out.append(
            JourneyFacts(
                shopper=Shopper(customer_id=customer),
                stage=stage,
                orders=int(o.get("count") or 0),
                last_order_at=datetime.fromisoformat(last) if isinstance(last, str) else None,
                average_order_value=float(o.get("average_order_value") or 0.0),
                shop_average_order_value=shop_aov,
                spent=float(o.get("spent") or 0.0),
                spend_rank=ranks.get(customer),
                churn_risk=float(churn) if isinstance(churn, int | float) else None,
                subscribed_at=subscribed.get(customer),
                interests=[
                    InterestOutlook(
                        key,
                        interest.name,
                        p,
                        [
                            Item(c.product_id, c.title, c.url, c.price, c.value, c.currency, c.available)
                            for pid in missing
                            if (c := cards.get(pid)) is not None
                        ],
                    )
                    for key, (interest, p, missing) in outlooks[str(customer)].items()
                ],
                hours=hours,
                time_zone=zone,
                features=dict(features),
            )
        )
    return shop_name, out


def run_journey(
    shop_id: int, now: datetime | None = None, approve_incentive: ApproveIncentive | None = None
) -> dict[str, Any]:
    """RQ job: propose this shop's journey messages and let the orchestrator decide them."""
    settings = get_settings()
    now = now or utcnow()
    ensure_shop_locale(settings, shop_id)
    with Session(get_engine(settings.database_url)) as session:
        if session.get(Shop, shop_id) is None:
            return {"shop_id": shop_id, "proposals": 0}
        shop_name, facts = gather_facts(session, shop_id, now)
        asked: dict[str, Ask] = {}
        approve = approve_incentive or pricing_approver(session, shop_id, facts, now, asked)
        proposals = [p for f in facts for p in propose(shop_id, shop_name, f, now, approve)]
        proposals, decisions = submit_new(session, shop_id, proposals, now)
        asks = {(p.shopper.key, p.dedupe_key): asked.pop(p.shopper.key)
                for p in proposals if p.agent == WIN_BACK and p.shopper.key in asked}  # fmt: skip
        for ask in asked.values():  # approved for a win-back already decided before: give it back
            release(session, shop_id, ask.key, "the win-back was already decided")
        offers = attach_offers(session, settings, shop_id, decisions, asks, now)
        session.commit()
    counts = count_actions(decisions)
    by_agent = {a: sum(p.agent == a for p in proposals) for a in AGENTS}
    log.info("journey: shop %s, %s proposals %s %s", shop_id, len(proposals), by_agent, counts)
    return {
        "shop_id": shop_id,
        "customers": len(facts),
        "proposals": len(proposals),
        "by_agent": by_agent,
        "offers": offers,
        **counts,
    }


def pricing_approver(
    session: Session, shop_id: int, facts: list[JourneyFacts], now: datetime, asked: dict[str, Ask]
) -> ApproveIncentive:
    """The win-back's approval function, from the pricing agent (``reserve_offer``: every guardrail; nothing for
    a shopper the orchestrator holds out from the win-back). Each approval asked is noted in ``asked`` by
    shopper, for ``attach_offers`` after the orchestrator decided."""
    by_shopper = {f.shopper.key: f for f in facts}
    contact = load_policy(session, shop_id)

    def approve(shopper: Shopper, value: float) -> Incentive | None:
        f = by_shopper.get(shopper.key)
        if f is None or f.last_order_at is None:
            return None
        day = f"{f.last_order_at:%Y-%m-%d}"
        ask = Ask(
            key=f"{WIN_BACK}:{shopper.key}:{day}", agent=WIN_BACK, shopper=shopper,
            cart_value=f.average_order_value, features=dict(f.features),
        )  # fmt: skip
        asked[shopper.key] = ask
        offer = reserve_offer(session, shop_id, ask, now, contact)
        if offer is None or offer.code is None:
            return None
        what = "free shipping" if offer.kind == "free_shipping" else f"{offer.value:g} % off"
        return Incentive(code=offer.code, description=what)

    return approve


def refresh_stages(shop_id: int, now: datetime | None = None) -> int:
    """Nightly: recompute every profile's stage (the clock moves buyers to lapsing and lost). Returns moves."""
    settings = get_settings()
    now = now or utcnow()
    with Session(get_engine(settings.database_url)) as session:
        rows = session.exec(select(CustomerProfile).where(CustomerProfile.shop_id == shop_id)).all()
        states = [(r.customer_key, {"behavioural": r.behavioural, "explicit": r.explicit, "derived": r.derived})
                  for r in rows]  # fmt: skip
        moved = save_stages(session, shop_id, [(key, stage_of(state, now)) for key, state in states], now)
        session.commit()
    return moved


def journey_for_shop(shop_id: int) -> dict[str, Any]:
    """RQ job: the clock's stage moves first, then the agent (whose facts read the stages)."""
    moved = refresh_stages(shop_id)
    return {**run_journey(shop_id), "stage_moves": moved}


def run_all_journeys() -> int:
    """Daily: queue the journey job for every installed shop. Returns how many were queued."""
    return for_each_installed_shop(tasks.run_journey)
