"""One nudge request, end to end, in the caller's transaction: fold the signals into the live session, score
its risk, and when it is at risk and undecided, gather the ladder's facts, decide once and record the decision.
No commits (the proxy's ``session_scope`` commits)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from redis import Redis
from sqlmodel import Session, select

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
from app.models.nudge import NudgeSession
from app.stores import nudge as store
from app.stores import nudge_facts, nudge_live, nudge_offer, nudge_outcomes

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
    row: NudgeSession | nudge_live.LiveSession  # the live session as this request left it
    reads: dict[str, Any] | None = None  # database reads made by this request, for the live cache
    offer_key: str | None = None  # an approved incentive whose code a job makes after the commit


@dataclass
class Preloaded:
    """What the caller already read from Redis in its rate-limit round trip: the live row (None: a new
    session) and the session's cached reads (``app.stores.nudge_live.parse_reads``)."""

    row: nudge_live.LiveSession | None
    reads: dict[str, Any]
    steps: list[tuple[str, float]] | None = (
        None  # the pixel's steps from their Redis fact; None: not known there
    )


def step(
    session: Session,
    shop_id: int,
    req: NudgeRequest,
    now: datetime,
    live: Redis | None = None,
    preloaded: Preloaded | None = None,
) -> NudgeResult:
    """With ``live`` (Redis), the session's fold is read from and returned for Redis (the caller saves it after
    the commit, ``app.stores.nudge_live.save``) and the database is written only for a decision; without, the
    fold lives on the database row. ``preloaded``: the live row and cached reads the caller already has."""
    key = store.session_key(shop_id, req.customer_id, req.client_id, req.sid)
    row = _live_row(session, shop_id, key, req, now, live, preloaded)
    state, new = fold(row.state or {}, req.signals)
    steps, intent, reads = _reads(
        session,
        shop_id,
        req,
        now,
        preloaded.reads if preloaded else {},
        preloaded.steps if preloaded else None,
    )
    h = with_checkout(features_of(state), steps, now.timestamp()) if steps else features_of(state)
    settings, layer = store.shop_config(session, shop_id)
    r = risk(intent, h, ShopRiskLayer.from_dict(layer))
    row.state, row.features, row.risk = state, {**h.as_dict(), "intent": intent}, round(r.probability, 6)
    row.events = (row.events or 0) + new
    if req.cart_token:
        row.cart_token = req.cart_token[:255]
    row.cart_value = max(req.cart_value, 0.0)
    row.updated_at = now
    if live is None:
        session.add(row)
    base = NudgeFacts(
        risk=r.probability, signals=h.signals(), holdout=row.holdout, decided=row.action is not None
    )
    decision = decide(base)
    facts: NudgeFacts | None = None
    if not store.switches(session, shop_id).enabled:  # the merchant switched the agent off: it only listens
        decision = NudgeDecision("wait", None, "in-session help is switched off in the control room")
    elif decision.action == "wait" and not base.decided and base.signals and r.probability >= base.threshold:
        facts = _facts(session, shop_id, req, base, h, settings, key, now)
        decision = decide(facts)
    if decision.final:
        stored = row if live is None else _stored_row(session, shop_id, key, row)
        if (
            stored.decided_at is not None
        ):  # decided before (the live entry was lost): one decision per session
            decision = NudgeDecision("wait", None, "one intervention per session: already decided")
        else:  # the row and its decision go out in one INSERT (or UPDATE) at the commit, not two statements
            store.record_decision(session, stored, decision, r, product_ids=req.product_ids, now=now)
        row.action, row.rung, row.reason, row.decided_at = (
            stored.action,
            stored.rung,
            stored.reason,
            stored.decided_at,
        )
    return NudgeResult(decision, r, h, new, row, reads, _offer_to_deliver(session, shop_id, facts, decision))


def _reads(
    session: Session,
    shop_id: int,
    req: NudgeRequest,
    now: datetime,
    cached: Mapping[str, Any],
    known_steps: list[tuple[str, float]] | None = None,
) -> tuple[list[tuple[str, float]], float | None, dict[str, Any] | None]:
    """The pixel's checkout steps and the shopper's intent prior. The steps: ``known_steps`` when the caller read
    them from the pixel's Redis fact (``app.stores.nudge_live.parse_steps``), else from the live cache while
    younger than ``READS_TTL_S`` (re-read when the shopper reports coming back from checkout), else from the
    database; the intent prior from the live cache, else the database. The third value is what to cache (None:
    nothing new was read)."""
    t = now.timestamp()

    def fresh(name: str) -> bool:
        at = cached.get(f"{name}_at")
        return name in cached and isinstance(at, int | float) and 0 <= t - at < nudge_live.READS_TTL_S

    back = any(s.get("kind") == "checkout_back" for s in req.signals)
    out = dict(cached)
    if known_steps is not None:
        steps = known_steps
    elif fresh("steps") and not back and isinstance(cached["steps"], list):
        steps = [(str(n), float(at)) for n, at in cached["steps"]]
    else:
        steps = store.checkout_steps(session, shop_id, req.client_id, now - CHECKOUT_LOOKBACK)
        out.update(steps=[[n, at] for n, at in steps], steps_at=t)
    if fresh("intent") and isinstance(cached["intent"], int | float | None):
        intent = cached["intent"]
    else:
        intent = store.intent_prior(session, shop_id, req.customer_id, req.client_id)
        out.update(intent=intent, intent_at=t)
    return steps, intent, (out if out != cached else None)


def _offer_to_deliver(
    session: Session, shop_id: int, facts: NudgeFacts | None, decision: NudgeDecision
) -> str | None:
    """The key of the pricing reservation whose code the proxy queues after the commit, when the shown rung is
    the incentive; a reservation the ladder did not use is released."""
    reserved = facts.incentive if facts is not None else None
    if (
        reserved is None
        or reserved.key is None
        or reserved.code is not None
        or facts is None
        or facts.holdout
    ):
        return None
    if decision.action == "show" and decision.rung == "incentive":
        return reserved.key
    nudge_offer.release(session, shop_id, reserved.key, f"the nudge chose otherwise ({decision.reason})")
    return None


def _live_row(
    session: Session,
    shop_id: int,
    key: str,
    req: NudgeRequest,
    now: datetime,
    live: Redis | None,
    preloaded: Preloaded | None = None,
) -> NudgeSession | nudge_live.LiveSession:
    if live is None:
        return store.live_session(session, shop_id, key, customer_id=req.customer_id, client_id=req.client_id)
    found = preloaded.row if preloaded is not None else nudge_live.load(live, shop_id, key)
    if found is not None:
        return found
    return nudge_live.LiveSession(
        shop_id=shop_id,
        session_key=key,
        client_id=req.client_id,
        customer_shopify_id=req.customer_id,
        holdout=store.draw_holdout(session, shop_id, key, req.customer_id, req.client_id),
        state={},
        features={},
        events=0,
        cart_value=0.0,
        started_at=now,
        updated_at=now,
    )


def _stored_row(
    session: Session, shop_id: int, key: str, live_row: nudge_live.LiveSession | NudgeSession
) -> NudgeSession:
    """The database row of a live session (created with its arm as drawn), with the live fold copied on."""
    stored = session.exec(
        select(NudgeSession).where(NudgeSession.shop_id == shop_id, NudgeSession.session_key == key)
    ).first() or NudgeSession(shop_id=shop_id, session_key=key)
    nudge_live.copy_into(stored, live_row)
    session.add(stored)
    return stored


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
    # the incentive is never for a first hesitation (one sign): pricing is not even asked then
    if ((help_ is None and not alternatives) or by_uplift) and base.signals >= 2:
        ask = store.IncentiveAsk(
            key, req.customer_id, req.client_id, req.cart_value, req.product_ids, base.risk, base.holdout, now
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
