"""The pricing agent's decision for one asking proposal, without the Admin API: the half of an offer that is
safe on any path, a storefront request included.

``decide_offer`` reads the shop's facts (hesitations, the waits-for-codes signature, the 30-day gap, the week's
spend, the response model), lets ``app.agents.pricing.decide`` apply every guardrail and the bandit, and records
the decision (one ``pricing_offer`` row per asking key: a retry, or a second request of the same session, finds
it). An offer is recorded ``pending``: it already counts against the weekly budget and the shopper's 30 days, so
two asks cannot both spend the last of the budget, and its code is made later by a job
(``app.jobs.pricing.offer_for``, the only caller of ``discountCodeBasicCreate``). ``release`` gives a pending
reservation back when the asking agent does not send it. No commits; every query is scoped by shop.

Concurrent deciders of one shop (two storefront requests, a request and a job) are serialised by
``lock_budget`` before the week's spend and the shopper's last offer are read, until the transaction ends: the
second one reads the first one's reservation, so the weekly budget and the 30 days cannot be overshot."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlmodel import Session

from app.agents.pricing import (
    OfferArm,
    OfferContext,
    OfferDecision,
    OfferPolicy,
    OfferRequest,
    decide,
    waits_for_codes,
)
from app.modelling.offer_response import with_pool
from app.models.pricing import PricingOffer
from app.orchestrator.proposal import Shopper
from app.stores.pricing import (
    ABANDONED_AFTER,
    discounted_after_abandonment,
    hesitations,
    last_offer_at,
    load_policy,
    model_stats,
    offer_by_key,
    unit_costs,
    week_spend,
)


@dataclass(frozen=True)
class Ask:
    """What an asking agent knows: its proposal's key, the shopper, the cart and the profile's features."""

    key: str
    agent: str
    shopper: Shopper
    cart_value: float
    lines: Sequence[tuple[int | None, int]] = ()  # (variant id, quantity)
    features: dict[str, float | str | None] | None = None
    starts_at: datetime | None = None  # when the message with the code goes out (default: now)
    # the hesitation is happening now (in-session): it counts as one, beside the checkouts abandoned before
    live_hesitation: bool = False


def code_for(shop_id: int, key: str) -> str:
    """The offer's code: stable per shop and proposal (a retry makes the same code), not guessable."""
    return "ATN-" + hashlib.sha256(f"{shop_id}:pricing:{key}".encode()).hexdigest()[:10].upper()


def arm_of(policy: OfferPolicy, key: str) -> OfferArm | None:
    return next((a for a in policy.arms if a.key == key), None)


def _context(features: dict[str, Any] | None, margin_rate: float, cart_value: float) -> OfferContext:
    f = features or {}
    num = lambda k, d: float(f[k]) if isinstance(f.get(k), int | float) else d  # noqa: E731
    return OfferContext(
        num("price_sensitivity", 0.5), num("intent", 0.5), num("clv", 0.0), margin_rate, cart_value
    )


def _hesitations(session: Session, shop_id: int, ask: Ask, now: datetime) -> int:
    if not ask.live_hesitation:
        return hesitations(session, shop_id, ask.shopper.customer_id)
    # in-session: the checkouts abandoned before (over an hour ago, so not this session's own) plus this one
    return hesitations(session, shop_id, ask.shopper.customer_id, before=now - ABANDONED_AFTER) + 1


# the advisory-lock key space of offer reservations: one lock per shop (the one-argument bigint key space, apart
# from ``lock_shoppers``' two-integer keys)
_BUDGET_LOCK = 0x41545052 << 32  # "ATPR"


def lock_budget(session: Session, shop_id: int) -> None:
    """Hold the shop's offer-reservation lock until the transaction ends. PostgreSQL: a transaction-scoped
    advisory lock (a READ COMMITTED statement after it sees what the previous holder committed). SQLite: a
    no-op write, so the transaction is the one writer from here on (pysqlite starts it only at the first write:
    without this, the reads below would run before it and another writer could commit between them)."""
    if session.get_bind().dialect.name == "postgresql":
        session.exec(text("SELECT pg_advisory_xact_lock(:k)").bindparams(k=_BUDGET_LOCK + shop_id))
    else:
        session.exec(text("UPDATE pricing_offer SET shop_id = shop_id WHERE 0"))


def decide_offer(
    session: Session, shop_id: int, ask: Ask, now: datetime, *, record: bool = True
) -> tuple[PricingOffer, OfferPolicy]:
    """The recorded decision for ``ask.key`` (made now if there is none). With ``record=False`` nothing is
    written (a held-out shopper's counterfactual): the row returned is not added to the session."""
    policy = load_policy(session, shop_id)
    found = offer_by_key(session, shop_id, ask.key)
    if found is not None:
        return found, policy
    if record:
        lock_budget(session, shop_id)
        found = offer_by_key(session, shop_id, ask.key)  # (decided while this one waited for the lock)
        if found is not None:
            return found, policy
    cid = ask.shopper.customer_id
    costs = unit_costs(session, shop_id, [v for v, _ in ask.lines if v])
    known = all(v in costs for v, _ in ask.lines) and ask.lines
    cart_cost = sum(costs[v] * q for v, q in ask.lines) if known else None  # type: ignore[index]
    cost = cart_cost if cart_cost is not None else ask.cart_value * policy.default_cost_share
    margin_rate = max(ask.cart_value - cost, 0.0) / ask.cart_value if ask.cart_value > 0 else 0.0
    context = _context(ask.features, margin_rate, float(ask.cart_value))
    request = OfferRequest(
        shop_id=shop_id, shopper_key=ask.shopper.key, key=ask.key, agent=ask.agent, context=context,
        cart_value=float(ask.cart_value), cart_cost=cart_cost, hesitations=_hesitations(session, shop_id, ask, now),
        waits_for_codes=waits_for_codes(discounted_after_abandonment(session, shop_id, cid)),
        last_offer_at=last_offer_at(session, shop_id, ask.shopper.key),
        spent_this_week=week_spend(session, shop_id, now), now=now,
    )  # fmt: skip
    own, pooled = model_stats(session, shop_id)
    row = _row(shop_id, ask, request, decide(request, policy, with_pool(own, pooled)), cost)
    if record:
        session.add(row)
        session.flush()
    return row, policy


def _row(shop_id: int, ask: Ask, request: OfferRequest, decision: OfferDecision, cost: float) -> PricingOffer:
    c = request.context
    return PricingOffer(
        shop_id=shop_id, key=ask.key[:128], agent=ask.agent[:32], shopper_key=ask.shopper.key[:80],
        customer_shopify_id=ask.shopper.customer_id, arm=decision.arm.key, control=decision.control,
        eligible=decision.eligible,
        trial=decision.trial, reason=decision.reason[:280], cart_value=request.cart_value, cart_cost=cost,
        discount=Decimal(str(decision.discount)) if decision.offers else None,
        predicted_incremental=decision.predicted_incremental,
        context={"price_sensitivity": c.price_sensitivity, "intent": c.intent, "clv": c.clv,
                 "margin_rate": c.margin_rate, "cart_value": c.cart_value,
                 "p_no_offer": decision.p_no_offer},
        status="pending" if decision.offers else "no_offer", decided_at=request.now,
    )  # fmt: skip


def release(session: Session, shop_id: int, key: str, why: str) -> bool:
    """A pending offer its asking agent will not send: no code is made, and it stops counting against the
    budget and the shopper's 30 days (``failed``: the readout counts it as treated without an offer)."""
    row = offer_by_key(session, shop_id, key)
    if row is None or row.status != "pending":
        return False
    row.status, row.error = "failed", f"not sent: {why}"[:280]
    session.add(row)
    session.flush()
    return True
