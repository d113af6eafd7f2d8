"""In-session rescue: the intervention ladder for a hesitating shopper. Pure: facts in, a decision out.

The ladder is **help** (the answer to the likely question from the shop's own facts) → **compare** (in-stock
alternatives, better rated or cheaper, each with a reason) → **incentive** (only an offer the pricing rules
approved; ``NudgeFacts.incentive`` is None until they have). Rules:

- at most one intervention per session: a session that already has a decision gets nothing more;
- nothing without a hesitation sign, nothing below the risk threshold;
- the incentive is never offered on a first hesitation (one sign only);
- before the shop has ``MIN_RANDOMISED`` treated and held-out sessions for every eligible rung, the first
  eligible rung in ladder order; after, the eligible rung with the largest predicted uplift (treated minus
  held-out conversion of sessions that rung was meant for), and nothing when none is predicted to help;
- the arm was drawn before: a held-out session's decision is recorded with the rung it would have had
  (its counterfactual) and shows nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from app.orchestrator.proposal import Content, Proposal, Purpose, Shopper

AGENT = "nudge"
LADDER = ("help", "compare", "incentive")
RISK_THRESHOLD = 0.8  # P(abandon): above the base rate of a shopper we know nothing about (0.85 at most)
MIN_RANDOMISED = 100  # treated and held-out sessions per rung before choosing by predicted uplift


@dataclass(frozen=True)
class HelpAnswer:
    topic: str  # shipping | returns | size | product
    facts: Mapping[str, Any]  # what the copy quotes: cost, days, gap to free shipping, policy text …
    source: str  # where the facts come from (shown as the reason)
    url: str | None = None


@dataclass(frozen=True)
class Alternative:
    product_id: int
    title: str
    url: str
    price: float
    currency: str
    rating: float | None
    reason: str  # cheaper | better_rated
    instead_of: str  # the cart item's title


@dataclass(frozen=True)
class IncentiveOffer:
    """An offer the pricing rules approved (margin floor, budget, not a code-waiter): a single-use code. On the
    request path the code does not exist yet (``code`` None): the approval is a reservation under ``key``, and
    the code reaches the shopper's on-site thread once a job has made it (``offer_proposal``)."""

    code: str | None
    label: str
    expires_at: str | None = None
    reason: str = ""
    key: str | None = None  # the pricing reservation's key (the proposal that will deliver the code)


@dataclass(frozen=True)
class RungEvidence:
    treated: int = 0
    treated_converted: int = 0
    holdout: int = 0
    holdout_converted: int = 0

    def uplift(self) -> float | None:
        if self.treated < MIN_RANDOMISED or self.holdout < MIN_RANDOMISED:
            return None
        return self.treated_converted / self.treated - self.holdout_converted / self.holdout


@dataclass(frozen=True)
class NudgeFacts:
    risk: float
    signals: int  # distinct hesitation signs
    holdout: bool
    decided: bool  # the session already had its one decision
    help: HelpAnswer | None = None
    alternatives: Sequence[Alternative] = ()
    incentive: IncentiveOffer | None = None
    evidence: Mapping[str, RungEvidence] = field(default_factory=dict)
    threshold: float = RISK_THRESHOLD


@dataclass(frozen=True)
class NudgeDecision:
    action: str  # show | hold_out | none | wait
    rung: str | None  # the rung shown, or meant for a held-out session
    reason: str
    help: HelpAnswer | None = None
    alternatives: Sequence[Alternative] = ()
    incentive: IncentiveOffer | None = None

    @property
    def final(self) -> bool:
        """True when this is the session's one recorded decision (``wait`` and ``none`` before it are not)."""
        return self.action in ("show", "hold_out", "none")


def eligible(f: NudgeFacts) -> list[str]:
    out = []
    if f.help is not None:
        out.append("help")
    if f.alternatives:
        out.append("compare")
    if f.incentive is not None and f.signals >= 2:
        out.append("incentive")
    return out


def choose(rungs: Sequence[str], evidence: Mapping[str, RungEvidence]) -> tuple[str | None, str]:
    uplifts = {r: evidence.get(r, RungEvidence()).uplift() for r in rungs}
    if any(u is None for u in uplifts.values()):
        return rungs[0], f"ladder order (fewer than {MIN_RANDOMISED} randomised sessions per rung yet)"
    best = max(rungs, key=lambda r: uplifts[r] or 0.0)
    if (uplifts[best] or 0.0) <= 0:
        return None, "no rung is predicted to raise conversion in this shop"
    return best, f"largest predicted uplift ({uplifts[best]:+.1%} conversion)"


def decide(f: NudgeFacts) -> NudgeDecision:
    if f.decided:
        return NudgeDecision("wait", None, "one intervention per session: already decided")
    if f.signals == 0:
        return NudgeDecision("wait", None, "no hesitation sign yet")
    if f.risk < f.threshold:
        return NudgeDecision("wait", None, f"risk {f.risk:.0%} is below {f.threshold:.0%}")
    rungs = eligible(f)
    if not rungs:
        return NudgeDecision(
            "wait", None, f"risk {f.risk:.0%}: no help, alternative or approved offer to give"
        )
    rung, why = choose(rungs, f.evidence)
    if rung is None:
        return NudgeDecision("none", None, f"risk {f.risk:.0%}: {why}")
    reason = f"risk {f.risk:.0%} after {f.signals} hesitation sign(s); {rung} by {why}"
    if f.holdout:
        return NudgeDecision("hold_out", rung, f"held out (would have shown {rung}): {reason}")
    return NudgeDecision(
        "show",
        rung,
        reason,
        help=f.help if rung == "help" else None,
        alternatives=f.alternatives if rung == "compare" else (),
        incentive=f.incentive if rung == "incentive" else None,
    )


OFFER_LIFETIME = timedelta(hours=72)  # the code's own lifetime: the on-site message lives as long


def offer_proposal(
    shop_id: int, shopper: Shopper, key: str, reason: str, product_ids: Sequence[int], now: datetime
) -> Proposal:
    """The approved incentive of a session, as the on-site message that delivers its code (the pricing agent's
    job writes the code in; ``onsite_kind`` lets the embed find it). A purchase since cancels it."""
    return Proposal(
        agent=AGENT,
        shop_id=shop_id,
        shopper=shopper,
        purpose=Purpose.MARKETING,
        content=Content("nudge_offer", {"copy": "nudge_offer", "onsite_kind": "offer"}),
        channels=("onsite",),
        earliest=now,
        latest=now + OFFER_LIFETIME,
        dedupe_key=key[:128],
        reason=f"in-session incentive approved by pricing: {reason}"[:280],
        product_ids=tuple(product_ids),
        cancel_on_purchase=True,
        proposed_at=now,
    )
