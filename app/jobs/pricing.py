"""The pricing agent's entry points. ``offer_for`` is what the rescue, replenishment, journey and nudge agents'
jobs call before a message carries an incentive: the decision (``app.stores.pricing_offers.decide_offer``, every
guardrail and the bandit, one per asking proposal key, so a retry gets the same answer and the same code) and,
for an offer, the shopper's code through the Admin API. An Admin API error means no offer (recorded as
``failed``), never an error for the shopper or the asking agent.

``attach_offers`` is the second half for an asking agent's job, after the orchestrator decided: the messages it
will send get their code written in (the e-mail's offer line, the cart link's ``?discount=``); a reservation
made before the orchestrator (the journey's win-back) whose message is held out or suppressed is released, and
one whose code failed loses the words that promised it.

``settle_offers`` (daily) closes each decision's 14-day window: the gross margin of the shopper's orders,
one observation for the bandit."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from app.channels.copy import localize, offer_text
from app.config import Settings, get_settings
from app.db import get_engine, session_scope
from app.models.base import utcnow
from app.models.messaging import OutboxMessage
from app.models.pricing import PricingOffer
from app.models.shop import Shop
from app.orchestrator.policy import shopper_arm
from app.orchestrator.proposal import Arm, ContactPolicy
from app.shopify.admin import AdminAPIError, AdminClient
from app.shopify.discounts import CodeSpec, create_code
from app.stores.pricing import load_policy, settle
from app.stores.pricing_offers import Ask, arm_of, code_for, decide_offer, release
from app.stores.shops import installed_shop_ids

log = logging.getLogger(__name__)
CODE_LIFETIME = timedelta(hours=72)  # within the 48-72 h


__all__ = [
    "Ask", "Offer", "attach_offers", "code_for", "offer_for", "reserve_offer", "settle_all", "settle_offers",
    "with_offer",
]  # fmt: skip


@dataclass(frozen=True)
class Offer:
    """The answer: a code to attach (``code`` None means attach nothing) and why."""

    arm: str
    reason: str
    code: str | None = None
    kind: str | None = None
    value: float = 0.0
    ends_at: datetime | None = None


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
    found, policy = decide_offer(session, shop_id, ask, now)
    if found.status != "pending":
        return _answer(found, policy.arms)
    cid = ask.shopper.customer_id
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


def reserve_offer(
    session: Session, shop_id: int, ask: Ask, now: datetime, contact: ContactPolicy
) -> Offer | None:
    """The approval an agent gets *before* it proposes, so its words can speak of the offer (the journey's
    win-back): only for a known customer whom the orchestrator will not hold out from ``ask.agent`` and whose
    agent card is on; the decision is recorded and an offer reserved (``pending``). Its code is made by
    ``attach_offers`` once the orchestrator decided to send the message, and released if it did not. Returns
    the offer (``code``: the code it will have) or None."""
    if ask.shopper.customer_id is None or not contact.switch_for(ask.agent).enabled:
        return None
    if shopper_arm(shop_id, ask.agent, ask.shopper, contact) is Arm.HOLDOUT:
        return None
    row, policy = decide_offer(session, shop_id, ask, now)
    arm = arm_of(policy, row.arm)
    if row.status not in ("pending", "created") or arm is None:
        return None
    code = row.code or code_for(shop_id, ask.key)
    return Offer(row.arm, row.reason, code, arm.kind, arm.value, row.expires_at)


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
    asks: Mapping[Any, Ask],
    now: datetime,
) -> int:
    """For an asking agent's job, after the orchestrator decided: each message it will send whose dedupe key
    has an ``Ask`` gets the offer, if any (its code valid from the send time), written into the outbox row's
    words in the shopper's language. Nothing is asked for a held-out or suppressed message, and a reservation
    made for one is released. Never raises: a failure here leaves the message without an offer. Returns how
    many messages carry a code. ``asks`` is keyed by the dedupe key, or by (shopper key, dedupe key) where the
    dedupe key alone names one message per shopper."""
    attached = 0
    for d in decisions:
        ask = asks.get(d.proposal.dedupe_key) or asks.get((d.proposal.shopper.key, d.proposal.dedupe_key))
        if ask is None:
            continue
        if not d.creates_message:
            release(session, shop_id, ask.key, d.reason)
            continue
        offer: Offer | None = None
        try:
            with session.begin_nested():
                offer = offer_for(session, settings, shop_id, replace(ask, starts_at=d.send_at), now)
        except Exception:  # noqa: BLE001 - an offer must never stop the asking agent's message
            log.exception("pricing: shop %s, no offer for %s", shop_id, d.proposal.dedupe_key)
        row = session.exec(
            select(OutboxMessage).where(
                OutboxMessage.shop_id == shop_id,
                OutboxMessage.shopper_key == d.proposal.shopper.key,
                OutboxMessage.dedupe_key == d.proposal.dedupe_key,
            )
        ).first()
        if row is None:
            continue
        try:
            row.data = with_offer(row.data, offer if offer is not None and offer.code else None)
        except ValueError:  # copy it cannot write: the message stays as the agent wrote it, without a code
            log.exception("pricing: shop %s, offer not written into %s", shop_id, d.proposal.dedupe_key)
            continue
        session.add(row)
        attached += bool(offer is not None and offer.code)
    return attached


def with_offer(data: dict[str, Any], offer: Offer | None) -> dict[str, Any]:
    """The message's data with the offer written in (``offer``: code, kind, value, until), or, without one,
    without the words an agent wrote in advance for it (``incentive``): no message promises a code it lacks.
    Copy-driven messages say it through their writer; a message with its own words gets the offer line as a
    paragraph; a cart link applies the code at checkout (``?discount=``)."""
    out = {k: v for k, v in data.items() if k not in ("incentive", "incentive_code")}
    locale = str(out.get("locale") or "en")
    if offer is None or not offer.code:
        return localize(out, locale) if out != data else data
    until = offer.ends_at.isoformat() if offer.ends_at else None
    out["offer"] = {"code": offer.code, "kind": offer.kind, "value": offer.value, "until": until}
    if out.get("copy") is None and isinstance(out.get("paragraphs"), list):
        out["paragraphs"] = [*out["paragraphs"], offer_text(out["offer"], locale)]
    cta = out.get("cta_url")
    if isinstance(cta, str) and "/cart/" in cta and "discount=" not in cta:
        out["cta_url"] = f"{cta}{'&' if '?' in cta else '?'}discount={offer.code}"
    return localize(out, locale)
