"""The pricing agent's entry points. ``offer_for`` is what the rescue, replenishment and journey agents' jobs
call before they attach an incentive: it reads the shop's facts, lets ``app.agents.pricing.decide`` apply
every guardrail and the bandit, records the decision (one per asking proposal key, so a retry gets the same
answer and the same code) and, for an offer, creates the shopper's code through the Admin API. An Admin API
error means no offer (recorded as ``failed``), never an error for the shopper or the asking agent.

``settle_offers`` (daily) closes each decision's 14-day window: the gross margin of the shopper's orders,
one observation for the bandit."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlmodel import Session, select

from app.agents.pricing import (
    OfferContext,
    OfferDecision,
    OfferRequest,
    decide,
    waits_for_codes,
)
from app.channels.copy import localize
from app.config import Settings, get_settings
from app.db import get_engine, session_scope
from app.modelling.offer_response import with_pool
from app.models.base import utcnow
from app.models.messaging import OutboxMessage
from app.models.pricing import PricingOffer
from app.models.shop import Shop
from app.orchestrator.proposal import Shopper
from app.shopify.admin import AdminAPIError, AdminClient
from app.shopify.discounts import CodeSpec, create_code
from app.stores.pricing import (
    discounted_after_abandonment,
    hesitations,
    last_offer_at,
    load_policy,
    model_stats,
    offer_by_key,
    settle,
    unit_costs,
    week_spend,
)
from app.stores.shops import installed_shop_ids

log = logging.getLogger(__name__)
CODE_LIFETIME = timedelta(hours=72)  # within the 48-72 h


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


@dataclass(frozen=True)
class Offer:
    """The answer: a code to attach (``code`` None means attach nothing) and why."""

    arm: str
    reason: str
    code: str | None = None
    kind: str | None = None
    value: float = 0.0
    ends_at: datetime | None = None


def _context(features: dict[str, Any] | None, margin_rate: float, cart_value: float) -> OfferContext:
    f = features or {}
    num = lambda k, d: float(f[k]) if isinstance(f.get(k), int | float) else d  # noqa: E731
    return OfferContext(
        num("price_sensitivity", 0.5), num("intent", 0.5), num("clv", 0.0), margin_rate, cart_value
    )


def code_for(shop_id: int, key: str) -> str:
    """The offer's code: stable per shop and proposal (a retry makes the same code), not guessable."""
    return "ATN-" + hashlib.sha256(f"{shop_id}:pricing:{key}".encode()).hexdigest()[:10].upper()


def _answer(row: PricingOffer, policy_arms: Sequence[Any]) -> Offer:
    if row.status != "created" or not row.code:
        return Offer(row.arm if row.status != "failed" else "none", row.error or row.reason)
    arm = next((a for a in policy_arms if a.key == row.arm), None)
    return Offer(
        row.arm, row.reason, row.code, arm.kind if arm else None, arm.value if arm else 0.0, row.expires_at
    )


def offer_for(
    session: Session,
    settings: Settings,
    shop_id: int,
    ask: Ask,
    now: datetime,
    client: AdminClient | None = None,
) -> Offer:
    """Decide (once per ``ask.key``) and, for an offer, create its code. Flushes, never commits."""
    policy = load_policy(session, shop_id)
    found = offer_by_key(session, shop_id, ask.key)
    if found is not None and found.status != "pending":
        return _answer(found, policy.arms)
    cid = ask.shopper.customer_id
    if found is None:  # decide once; a pending row (its code not made yet) keeps the arm it was given
        found = _decide(session, shop_id, ask, policy, now)
        if found.status != "pending":
            return _answer(found, policy.arms)
    row = found
    arm = next((a for a in policy.arms if a.key == row.arm), None)
    if arm is None:
        row.status, row.error = "failed", f"the arm {row.arm} was removed before its code was made"
        session.add(row)
        return _answer(row, policy.arms)
    starts = max(ask.starts_at or now, now)
    spec = CodeSpec(
        code=code_for(shop_id, ask.key), title=f"Attune offer ({arm.key}) for {ask.shopper.key}",
        kind=arm.kind, percentage=arm.value / 100, starts_at=starts,
        ends_at=starts + CODE_LIFETIME, customer_id=cid,
    )  # fmt: skip
    try:
        created = create_code(client or AdminClient.for_shop(settings, shop_id), spec)
    except (AdminAPIError, OSError) as exc:
        log.warning("pricing: shop %s, no code for %s: %s", shop_id, ask.key, exc)
        row.status, row.error = "failed", f"Admin API: {str(exc)[:250]}"
        session.add(row)
        session.flush()
        return _answer(row, policy.arms)
    row.status, row.code, row.code_gid, row.expires_at = "created", created.code, created.gid, spec.ends_at
    session.add(row)
    session.flush()
    return _answer(row, policy.arms)


def _decide(session: Session, shop_id: int, ask: Ask, policy: Any, now: datetime) -> PricingOffer:
    """Every guardrail and the bandit, on the shop's facts; the decision recorded (``pending`` for an offer)."""
    cid = ask.shopper.customer_id
    costs = unit_costs(session, shop_id, [v for v, _ in ask.lines if v])
    known = all(v in costs for v, _ in ask.lines) and ask.lines
    cart_cost = sum(costs[v] * q for v, q in ask.lines) if known else None  # type: ignore[index]
    cost = cart_cost if cart_cost is not None else ask.cart_value * policy.default_cost_share
    margin_rate = max(ask.cart_value - cost, 0.0) / ask.cart_value if ask.cart_value > 0 else 0.0
    context = _context(ask.features, margin_rate, float(ask.cart_value))
    request = OfferRequest(
        shop_id=shop_id, shopper_key=ask.shopper.key, key=ask.key, agent=ask.agent, context=context,
        cart_value=float(ask.cart_value), cart_cost=cart_cost, hesitations=hesitations(session, shop_id, cid),
        waits_for_codes=waits_for_codes(discounted_after_abandonment(session, shop_id, cid)),
        last_offer_at=last_offer_at(session, shop_id, ask.shopper.key),
        spent_this_week=week_spend(session, shop_id, now), now=now,
    )  # fmt: skip
    own, pooled = model_stats(session, shop_id)
    return _record(session, shop_id, ask, request, decide(request, policy, with_pool(own, pooled)), cost)


def _record(
    session: Session, shop_id: int, ask: Ask, request: OfferRequest, decision: OfferDecision, cost: float
) -> PricingOffer:
    c = request.context
    row = PricingOffer(
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
    session.add(row)
    session.flush()
    return row


def settle_offers(shop_id: int, now: datetime | None = None) -> dict[str, Any]:
    """RQ job: close every decision whose 14-day window is over and teach the bandit its outcome."""
    settings = get_settings()
    now = now or utcnow()
    with Session(get_engine(settings.database_url)) as session:
        if session.get(Shop, shop_id) is None:
            return {"shop_id": shop_id, "settled": 0}
        settled = settle(session, shop_id, now, load_policy(session, shop_id))
        session.commit()
    return {"shop_id": shop_id, "settled": settled}


def settle_all() -> int:
    """Daily: settle every installed shop. Returns how many decisions were settled."""
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        shops = installed_shop_ids(session)
    return sum(settle_offers(int(s))["settled"] for s in shops)


def attach_offers(
    session: Session,
    settings: Settings,
    shop_id: int,
    decisions: Sequence[Any],
    asks: dict[str, Ask],
    now: datetime,
) -> int:
    """For an asking agent's job, after the orchestrator decided: each message it will send whose dedupe key
    has an ``Ask`` gets the offer, if any (its code valid from the send time), written into the outbox row's
    words in the shopper's language. Nothing is asked for a held-out or suppressed message. Never raises: a
    failure here leaves the message as it was. Returns how many messages carry a code."""
    attached = 0
    for d in decisions:
        ask = asks.get(d.proposal.dedupe_key)
        if ask is None or not d.creates_message:
            continue
        try:
            with session.begin_nested():
                offer = offer_for(session, settings, shop_id, replace(ask, starts_at=d.send_at), now)
                if offer.code is None:
                    continue
                row = session.exec(
                    select(OutboxMessage).where(
                        OutboxMessage.shop_id == shop_id,
                        OutboxMessage.shopper_key == d.proposal.shopper.key,
                        OutboxMessage.dedupe_key == d.proposal.dedupe_key,
                    )
                ).first()
                if row is None:
                    continue
                until = offer.ends_at.isoformat() if offer.ends_at else None
                data = {
                    **row.data,
                    "offer": {"code": offer.code, "kind": offer.kind, "value": offer.value, "until": until},
                }
                row.data = localize(data, str(data.get("locale") or "en"))
                session.add(row)
                attached += 1
        except Exception:  # noqa: BLE001 - an offer must never stop the asking agent's message
            log.exception("pricing: shop %s, no offer attached to %s", shop_id, d.proposal.dedupe_key)
    return attached
