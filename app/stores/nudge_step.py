"""One nudge request, end to end, in the caller's transaction: fold the signals into the live session, score
its risk, and when it is at risk and undecided, gather the ladder's facts, decide once and record the decision.
No commits (the proxy's ``session_scope`` commits)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from app.agents.nudge import LADDER, NudgeDecision, NudgeFacts, decide
from app.modelling.hesitation import (
    Hesitation,
    Risk,
    ShopRiskLayer,
    features_of,
    fold,
    risk,
    with_checkout,
)
from app.stores import nudge as store
from app.stores import nudge_facts, nudge_outcomes

# The pixel's checkout steps this far back count for the live session (its row may start only when the shopper
# comes back from checkout, after the steps).
CHECKOUT_LOOKBACK = timedelta(hours=2)


@dataclass(frozen=True)
class NudgeRequest:
    sid: str
    customer_id: int | None
    client_id: str | None
    signals: Sequence[Mapping[str, Any]]
    cart_token: str | None = None
    cart_value: float = 0.0
    currency: str = "USD"
    product_ids: tuple[int, ...] = ()
    product_id: int | None = None
    country: str | None = None


@dataclass(frozen=True)
class NudgeResult:
    decision: NudgeDecision
    risk: Risk
    features: Hesitation
    new_signals: int


def step(session: Session, shop_id: int, req: NudgeRequest, now: datetime) -> NudgeResult:
    key = store.session_key(shop_id, req.customer_id, req.client_id, req.sid)
    row = store.live_session(session, shop_id, key, customer_id=req.customer_id, client_id=req.client_id)
    state, new = fold(row.state or {}, req.signals)
    steps = store.checkout_steps(session, shop_id, req.client_id, now - CHECKOUT_LOOKBACK)
    h = with_checkout(features_of(state), steps, now.timestamp()) if steps else features_of(state)
    settings, layer = store.shop_config(session, shop_id)
    intent = store.intent_prior(session, shop_id, req.customer_id, req.client_id)
    r = risk(intent, h, ShopRiskLayer.from_dict(layer))
    row.state, row.features, row.risk = state, {**h.as_dict(), "intent": intent}, round(r.probability, 6)
    row.events += new
    if req.cart_token:
        row.cart_token = req.cart_token[:255]
    row.cart_value = max(req.cart_value, 0.0)
    row.updated_at = now
    session.add(row)
    decided = row.decided_at is not None
    base = NudgeFacts(risk=r.probability, signals=h.signals(), holdout=row.holdout, decided=decided)
    decision = decide(base)
    if decision.action == "wait" and not decided and base.signals and r.probability >= base.threshold:
        decision = decide(_facts(session, shop_id, req, base, h, settings, key, now))
    if decision.final:
        session.flush()
        store.record_decision(session, row, decision, r, product_ids=req.product_ids, now=now)
    return NudgeResult(decision, r, h, new)


def _facts(
    session: Session,
    shop_id: int,
    req: NudgeRequest,
    base: NudgeFacts,
    h: Hesitation,
    settings: dict[str, Any],
    key: str,
    now: datetime,
) -> NudgeFacts:
    """The ladder's facts, gathered in ladder order; while the shop chooses by ladder order, gathering stops
    at the first rung that can be given (the rest would not be used)."""
    evidence = nudge_outcomes.rung_evidence(session, shop_id, now)
    by_uplift = all(evidence.get(r) is not None and evidence[r].uplift() is not None for r in LADDER)
    topic = h.likely_question() or ("size" if req.product_id and h.size_views else None)
    help_ = nudge_facts.help_answer(
        session,
        shop_id,
        topic,
        settings=settings,
        country=req.country,
        cart_value=req.cart_value,
        product_id=req.product_id,
    )
    alternatives: list = []
    offer = None
    if help_ is None or by_uplift:
        alternatives = nudge_facts.alternatives(session, shop_id, req.product_ids, req.currency)
    if (help_ is None and not alternatives) or by_uplift:
        ask = store.IncentiveAsk(
            key, req.customer_id, req.client_id, req.cart_value, req.product_ids, base.risk
        )
        offer = store.incentive_for(session, shop_id, ask)
    return NudgeFacts(
        risk=base.risk,
        signals=base.signals,
        holdout=base.holdout,
        decided=False,
        help=help_,
        alternatives=alternatives,
        incentive=offer,
        evidence=evidence,
    )
