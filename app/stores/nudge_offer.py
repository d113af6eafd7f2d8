"""The in-session incentive's approval, safe on the storefront request path (the nudge ladder's incentive rung).

Why not ``app.jobs.pricing.offer_for`` here: it calls the Admin API (``discountCodeBasicCreate``), which may take
seconds or fail, and a request never calls job code. Why not a pool of codes made ahead: a pooled code cannot be
customer-specific, and unused pooled codes would hold the weekly budget. So the approval is split in two:

1. **the request** (this module, stores and domain only): the shopper must be a signed-in customer (a code is
   customer-specific; an anonymous shopper is never offered one) in the treatment arm of the orchestrator's
   ``nudge`` holdout and the global one (so the message that delivers the code cannot be held out later), with
   the ``nudge`` card on; then ``app.stores.pricing_offers.decide_offer`` applies every pricing guardrail and
   the bandit (control group, first hesitation: the checkouts abandoned before plus this session, waits for
   codes, 30 days, margin floor, weekly budget, posterior) and records the decision under the key
   ``nudge:<session>``. An offer is recorded ``pending``: budget and 30 days are reserved in the same commit as
   the nudge's decision. A held-out session only previews it (nothing recorded) for its counterfactual rung.
2. **after the commit**, the proxy queues ``app.jobs.nudge_offer.deliver_nudge_offer``: the code is made
   (``offer_for``: customer-specific, single use, 72 h, idempotent per key) and delivered by the nudge agent
   through the orchestrator as an on-site message (``app.agents.nudge.offer_proposal``), which the embed picks
   up from ``GET /proxy/nudges``. An Admin API error: no code, no message, the reservation is ``failed``; the
   shopper saw nothing promised and sees nothing.

A reservation the ladder did not use (it chose another rung) is released (``release``). The nudge's own record
keeps the incentive rung as decided even when its code then fails (intention to treat, like pricing's readout).
Concurrent approvals of one shop are serialised by ``decide_offer``'s per-shop lock (``lock_budget``): the
weekly budget and the shopper's 30 days are checked and reserved by one request at a time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from app.agents.nudge import AGENT, IncentiveOffer
from app.measurement.exposure_features import profile_features
from app.models.base import utcnow
from app.models.profiles import CustomerProfile
from app.orchestrator.policy import shopper_arm
from app.orchestrator.proposal import Arm, Shopper
from app.stores.contact_policy import load_policy
from app.stores.pricing import offer_by_key
from app.stores.pricing_offers import Ask, arm_of, decide_offer, release

__all__ = ["approve", "offer_key", "release"]


def offer_key(session_key: str) -> str:
    return f"nudge:{session_key}"[:128]


def _features(session: Session, shop_id: int, customer_id: int, now: datetime) -> dict[str, Any]:
    row = session.exec(
        select(CustomerProfile.derived, CustomerProfile.explicit, CustomerProfile.event_count).where(
            CustomerProfile.shop_id == shop_id, CustomerProfile.customer_key == f"customer:{customer_id}"
        )
    ).first()
    derived, explicit, events = row if row is not None else (None, None, 0)
    return profile_features(derived, explicit, int(events or 0), now)


def label(kind: str | None, value: float) -> str:
    """A short, language-neutral label of the arm (the card's words come from the delivered message)."""
    return "free shipping" if kind == "free_shipping" else f"{value:g} %"


def approve(session: Session, shop_id: int, ask: Any) -> IncentiveOffer | None:
    """The nudge store's incentive approver (``app.stores.nudge.IncentiveApprover``): an approved, reserved
    offer whose code is still to be made (``code`` None), or None."""
    if ask.customer_id is None:
        return None  # codes are customer-specific: an anonymous shopper is never offered one
    now = ask.now or utcnow()
    shopper = Shopper(customer_id=ask.customer_id)
    decided = offer_by_key(session, shop_id, offer_key(ask.session_key))
    if decided is None:  # (a later signal of the same session reads its one decision, nothing more)
        policy = load_policy(session, shop_id)  # (a held-out session's counterfactual follows the same rules)
        if (
            not policy.switch_for(AGENT).enabled
            or shopper_arm(shop_id, AGENT, shopper, policy) is Arm.HOLDOUT
        ):
            return None  # its delivery would be held out or suppressed: no reservation
    request = Ask(
        key=offer_key(ask.session_key), agent=AGENT, shopper=shopper, cart_value=float(ask.cart_value),
        features=_features(session, shop_id, ask.customer_id, now), live_hesitation=True,
    )  # fmt: skip
    row, offers = decide_offer(session, shop_id, request, now, record=not ask.holdout)
    if row.status not in ("pending", "created"):
        return None
    arm = arm_of(offers, row.arm)
    if arm is None:
        return None
    return IncentiveOffer(
        code=row.code, label=label(arm.kind, arm.value), reason=row.reason, key=row.key,
        expires_at=row.expires_at.isoformat() if row.expires_at else None,
    )  # fmt: skip
