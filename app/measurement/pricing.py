"""The pricing agent's proof: incremental gross margin per eligible shopper against the permanent no-offer
control group (Welch 95 % interval), average order value treated against control, the discount spend against
the weekly budget, the share of redemptions that went to shoppers predicted not to need one (waste), each arm's
offers and redemptions, and the seed's "AOV +15–25 %" beside them, labelled as a reference. Plain data in.

- The unit is the decision (one per asking proposal). **Eligible**: the shopper passed the shopper guardrails
  (not a first hesitation, not waiting for codes, no offer in 30 days); this is recorded for control decisions
  too, so eligible treated and eligible control shoppers are comparable (intention to treat: a treated shopper
  whose bandit chose no offer, or whose code failed, still counts as treated).
- Only **settled** decisions count (their 14-day window is over): margin = revenue after discounts − cost.
- **Waste**: a redeemed code whose shopper the model, when it decided, expected to buy anyway (P(buy within
  14 days without an offer) ≥ ``WASTE_P``): the discount went to a shopper predicted not to need one.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.measurement.stats import welch_difference

WASTE_P = 0.5
REFERENCE = {
    "label": "Seed's figure for personalised offers: AOV +15–25 %",
    "low": 0.15,
    "high": 0.25,
    "kind": "reference (a claim, not measured here)",
}


@dataclass(frozen=True)
class OfferFact:
    arm: str
    control: bool
    eligible: bool
    status: str  # no_offer | pending | created | failed
    discount: float  # what the code would take off (0 without an offer)
    redeemed: bool
    redeemed_discount: float
    p_no_offer: float | None  # the model's P(buy without an offer) when it decided
    trial: bool
    settled: bool
    margin: float  # gross margin within 14 days (0 when unsettled)
    revenue: float
    orders: int
    decided_at: datetime


def _side(rows: Sequence[OfferFact]) -> dict[str, Any]:
    buyers = [r for r in rows if r.orders > 0]
    orders = sum(r.orders for r in buyers)
    return {
        "shoppers": len(rows),
        "buyers": len(buyers),
        "margin_per_shopper": round(statistics.fmean(r.margin for r in rows), 4) if rows else None,
        "aov": round(sum(r.revenue for r in buyers) / orders, 4) if orders else None,
    }


def _diff(a: Sequence[float], b: Sequence[float]) -> dict[str, float] | None:
    if len(a) < 2 or len(b) < 2:
        return None
    test = welch_difference(
        statistics.fmean(a),
        statistics.variance(a),
        len(a),
        statistics.fmean(b),
        statistics.variance(b),
        len(b),
    )
    if test is None:
        return None
    d = test.difference
    return {"estimate": round(d.estimate, 4), "low": round(d.low, 4), "high": round(d.high, 4)}


def _aov_values(rows: Sequence[OfferFact]) -> list[float]:
    return [r.revenue / r.orders for r in rows if r.orders > 0]


def readout(facts: Sequence[OfferFact], *, budget: float, week_spend: float, now: datetime) -> dict[str, Any]:
    settled = [f for f in facts if f.settled and f.eligible]
    treated = [f for f in settled if not f.control]
    control = [f for f in settled if f.control]
    aov = _diff(_aov_values(treated), _aov_values(control))
    control_aov = _side(control)["aov"]
    redeemed = [f for f in facts if f.redeemed]
    wasted = [f for f in redeemed if f.p_no_offer is not None and f.p_no_offer >= WASTE_P]
    arms: dict[str, dict[str, float]] = {}
    for f in facts:
        if f.control:
            continue
        a = arms.setdefault(f.arm, {"decisions": 0, "codes": 0, "redeemed": 0, "discount_spent": 0.0})
        a["decisions"] += 1
        a["codes"] += f.status == "created"
        a["redeemed"] += f.redeemed
        a["discount_spent"] = round(a["discount_spent"] + f.redeemed_discount, 2)
    return {
        "agent": "pricing",
        "measured_at": now.isoformat(),
        "decisions": len(facts),
        "settled_eligible": len(settled),
        "treated": _side(treated),
        "control": _side(control),
        "incremental_margin_per_shopper": _diff([f.margin for f in treated], [f.margin for f in control]),
        "aov_difference": aov,
        "aov_change": (
            None
            if aov is None or not control_aov
            else {k: round(aov[k] / control_aov, 4) for k in ("estimate", "low", "high")}
        ),
        "discount": {
            "week_spend": round(week_spend, 2),
            "weekly_budget": round(budget, 2),
            "share_of_budget": round(week_spend / budget, 4) if budget > 0 else None,
            "redeemed_total": round(sum(f.redeemed_discount for f in redeemed), 2),
        },
        "waste": {
            "definition": f"redeemed codes of shoppers predicted to buy anyway (P ≥ {WASTE_P:.0%} without an offer)",
            "redemptions": len(redeemed),
            "wasted": len(wasted),
            "share": round(len(wasted) / len(redeemed), 4) if redeemed else None,
        },
        "arms": arms,
        "reference": REFERENCE,
    }
