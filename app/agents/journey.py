"""The journey agent: the next best step for a shopper after (or before) an order. Pure: facts in, ``Proposal``s
out; the orchestrator settles them (each flow is its own agent name, so each has its own holdout; proposals for
one shopper compete for the one contact budget by expected incremental value) and the outbox sends.

Flows:
- ``cross_sell`` (Pattern 2): for a buyer's recurring interest the timing model (``app.recommend.
  interest_timing``) says they are likely to buy from in the next 30 days, at least ``MIN_DAYS_AFTER_ORDER``
  after their last order, the interest's *checklist*: its products they do not own yet (in stock, most central
  first). Expected value: P(interest within 30 days) × ``CROSS_SELL_UPLIFT`` × the checklist's first price.
  Once per interest per month.
- ``win_back``: a lapsing buyer whose churn risk is at least ``WIN_BACK_RISK``. An incentive only when the
  pricing agent's approval function (``approve_incentive``) is given and approves one; without it the message
  carries none and says so in its reason. Once per lapse (the key names the last order's day).
- ``welcome``: a new e-mail subscriber without an order gets a three-step welcome (day 0, 3 and 7 after
  subscribing), one step per key.
- ``vip``: a customer in the shop's top ``VIP_SHARE`` by spend with at least ``VIP_MIN_ORDERS`` orders is
  thanked once a year (no discount: recognition).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from app.orchestrator.clock import best_hour, send_time
from app.orchestrator.proposal import Content, Proposal, Purpose, Shopper

CROSS_SELL, WIN_BACK, WELCOME, VIP = "cross_sell", "win_back", "welcome", "vip"
AGENTS = (CROSS_SELL, WIN_BACK, WELCOME, VIP)
CHANNELS = ("email", "push", "onsite")
SEND_WINDOW = timedelta(hours=48)
MIN_INTEREST_P = 0.2  # below this the interest is not "planned" in the next 30 days
MIN_DAYS_AFTER_ORDER = 7
CHECKLIST_SIZE = 3
WIN_BACK_RISK = 0.5
WELCOME_STEPS = (0, 3, 7)  # days after subscribing
WELCOME_WITHIN = timedelta(days=14)
VIP_SHARE = 0.05
VIP_MIN_ORDERS = 3
# Incremental conversion per message before the shop has its own estimate (the MineThatData e-mail test:
# about +0.3 points on a cold list); a timed cross-sell to a planned interest and a win-back are assumed no
# better than that, recognition half of it.
CROSS_SELL_UPLIFT = 0.006
WIN_BACK_UPLIFT = 0.003
WELCOME_UPLIFT = 0.003
VIP_UPLIFT = 0.0015


@dataclass(frozen=True)
class Item:
    """A product as a message shows it."""

    product_id: int
    title: str
    url: str
    price: str | None = None
    value: float = 0.0
    currency: str | None = None
    available: bool = True


@dataclass(frozen=True)
class InterestOutlook:
    """One of the shopper's interests: the chance they buy from it in the next 30 days and its checklist."""

    key: str
    name: str
    probability: float
    checklist: Sequence[Item] = ()  # the interest's products the shopper does not own yet, best first


@dataclass(frozen=True)
class Incentive:
    """What the pricing agent approved for a win-back (a code and its words)."""

    code: str
    description: str


# the pricing agent's seam: (shopper, their expected value) -> an approved incentive or None
ApproveIncentive = Callable[[Shopper, float], Incentive | None]


@dataclass(frozen=True)
class JourneyFacts:
    """What the agent knows about one shopper (times timezone-aware)."""

    shopper: Shopper
    stage: str
    orders: int = 0
    last_order_at: datetime | None = None
    average_order_value: float = 0.0
    shop_average_order_value: float = 0.0  # what a first order is worth here (for the welcome)
    spent: float = 0.0
    spend_rank: float | None = None  # share of the shop's customers who spent more (0 = the top spender)
    churn_risk: float | None = None
    subscribed_at: datetime | None = None  # e-mail marketing consent given
    interests: Sequence[InterestOutlook] = ()
    hours: Sequence[int] = field(default_factory=lambda: [0] * 24)
    time_zone: str | None = None
    features: dict[str, float | str | None] = field(default_factory=dict)


def _item(i: Item) -> dict[str, Any]:
    return {"id": i.product_id, "title": i.title, "url": i.url, "price": i.price, "amount": i.value or None,
            "currency": i.currency}  # fmt: skip


def _proposal(
    agent: str, shop_id: int, facts: JourneyFacts, now: datetime, data: dict[str, Any], key: str, reason: str,
    value: float, products: Sequence[Item] = (),
) -> Proposal:  # fmt: skip
    earliest = send_time(now, best_hour(facts.hours), facts.time_zone)
    return Proposal(
        agent=agent,
        shop_id=shop_id,
        shopper=facts.shopper,
        purpose=Purpose.MARKETING,
        content=Content("message", data),
        channels=CHANNELS,
        earliest=earliest,
        latest=earliest + SEND_WINDOW,
        dedupe_key=key,
        reason=reason[:280],
        expected_value=round(value, 4),
        product_ids=tuple(p.product_id for p in products),
        proposed_at=now,
        features={**facts.features, "stage": facts.stage},
    )


def cross_sell(shop_id: int, shop_name: str, facts: JourneyFacts, now: datetime) -> Proposal | None:
    if facts.orders < 1 or facts.last_order_at is None:
        return None
    if now - facts.last_order_at < timedelta(days=MIN_DAYS_AFTER_ORDER):
        return None
    options = []
    for interest in facts.interests:
        checklist = [i for i in interest.checklist if i.available][:CHECKLIST_SIZE]
        if interest.probability >= MIN_INTEREST_P and checklist:
            options.append((interest.probability * checklist[0].value, interest, checklist))
    if not options:
        return None
    _, interest, checklist = max(options, key=lambda o: (o[0], o[1].probability, o[1].key))
    data = {"copy": "interest_checklist", "interest": interest.name, "shop_name": shop_name,
            "products": [_item(i) for i in checklist], "cta_url": checklist[0].url}  # fmt: skip
    reason = (
        f"{interest.probability:.0%} likely to buy {interest.name} in the next 30 days; "
        f"{len(checklist)} item(s) of it not owned yet"
    )
    value = interest.probability * CROSS_SELL_UPLIFT * checklist[0].value
    return _proposal(CROSS_SELL, shop_id, facts, now, data, f"cross_sell:{interest.key}:{now:%Y-%m}"[:128],
                     reason, value, checklist)  # fmt: skip


def win_back(
    shop_id: int,
    shop_name: str,
    facts: JourneyFacts,
    now: datetime,
    approve_incentive: ApproveIncentive | None,
) -> Proposal | None:
    if facts.stage != "lapsing" or facts.churn_risk is None or facts.churn_risk < WIN_BACK_RISK:
        return None
    if facts.last_order_at is None:
        return None
    value = facts.churn_risk * WIN_BACK_UPLIFT * facts.average_order_value
    incentive = approve_incentive(facts.shopper, value) if approve_incentive is not None else None
    data: dict[str, Any] = {"copy": "win_back", "shop_name": shop_name}
    if incentive is not None:
        data.update(incentive_code=incentive.code, incentive=incentive.description)
        offer = f"with {incentive.description} (approved by pricing)"
    else:
        offer = (
            "no incentive (pricing approval not available)" if approve_incentive is None else "no incentive"
        )
    reason = f"Lapsing: churn risk {facts.churn_risk:.0%}, last order {(now - facts.last_order_at).days} days ago; {offer}"
    return _proposal(
        WIN_BACK, shop_id, facts, now, data, f"win_back:{facts.last_order_at:%Y-%m-%d}", reason, value
    )


def welcome(shop_id: int, shop_name: str, facts: JourneyFacts, now: datetime) -> Proposal | None:
    if facts.subscribed_at is None or facts.orders > 0 or facts.shopper.customer_id is None:
        return None
    age = now - facts.subscribed_at
    if age < timedelta(0) or age > WELCOME_WITHIN:
        return None
    step = max(n for n, day in enumerate(WELCOME_STEPS, start=1) if age >= timedelta(days=day))
    data = {"copy": "welcome", "step": step, "shop_name": shop_name}
    reason = f"Subscribed {age.days} day(s) ago, no order yet: welcome step {step} of {len(WELCOME_STEPS)}"
    return _proposal(
        WELCOME,
        shop_id,
        facts,
        now,
        data,
        f"welcome:{step}",
        reason,
        WELCOME_UPLIFT * facts.shop_average_order_value,
    )


def vip(shop_id: int, shop_name: str, facts: JourneyFacts, now: datetime) -> Proposal | None:
    if facts.spend_rank is None or facts.spend_rank >= VIP_SHARE or facts.orders < VIP_MIN_ORDERS:
        return None
    if facts.stage in ("lapsing", "lost"):
        return None  # a win-back's job, not a thank-you
    data = {"copy": "vip_thanks", "shop_name": shop_name, "orders": facts.orders}
    reason = f"Top {VIP_SHARE:.0%} by spend ({facts.orders} orders): a thank-you, no discount"
    return _proposal(
        VIP, shop_id, facts, now, data, f"vip:{now:%Y}", reason, VIP_UPLIFT * facts.average_order_value
    )


def propose(
    shop_id: int,
    shop_name: str,
    facts: JourneyFacts,
    now: datetime,
    approve_incentive: ApproveIncentive | None = None,
) -> list[Proposal]:
    """Every flow's proposal for this shopper (none, one or several: the orchestrator settles them)."""
    found = [
        cross_sell(shop_id, shop_name, facts, now),
        win_back(shop_id, shop_name, facts, now, approve_incentive),
        welcome(shop_id, shop_name, facts, now),
        vip(shop_id, shop_name, facts, now),
    ]
    return [p for p in found if p is not None]
