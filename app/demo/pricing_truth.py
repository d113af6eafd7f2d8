"""The pricing simulator's world: synthetic hesitating shoppers whose response to every offer is known, the
peers' policies (10 % for everyone, tiers by price-sensitivity segment), the oracle, and how a policy's
choices are scored. ``app.demo.pricing_sim`` runs Attune's choices through the real app; ``learn_offline``
runs the same agent (``app.agents.pricing.decide`` and its statistics) without the app, for the tests that
check the targets across many seeds quickly.

Segments (realistic ranges, each shopper's numbers drawn around them):

========== ===== ========= ====== ==== ============================= =================
segment    share base buy  shown  CLV  buy with FS / 5 / 10 / 15 %   note
           (14 d) sensit.
========== ===== ========= ====== ==== ============================= =================
loyal      0.30  0.55      0.20   400  +0.03 / +0.02 / +0.04 / +0.05 buys anyway
sensitive  0.30  0.12      0.80   120  +0.14 / +0.10 / +0.22 / +0.30 the offer works
waiter     0.15  0.50      0.60   200  +0.06 / +0.05 / +0.10 / +0.12 waits for codes
browser    0.25  0.04      0.45    30  +0.02 / +0.01 / +0.03 / +0.05 low intent
========== ===== ========= ====== ==== ============================= =================

Carts are log-normal around 70 (20-250), margins 25-65 % by product, free shipping costs the shop 6. A
shopper's **incremental margin** under an arm is its expected gross margin (P(buy) × (cart × margin −
discount)) minus the same with no offer; a policy's figure is the mean over the eligible shoppers (past
their first hesitation), with a 95 % interval over shoppers.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.agents.pricing import (
    DEFAULT_ARMS,
    NONE,
    REWARD_WINDOW,
    OfferArm,
    OfferContext,
    OfferPolicy,
    OfferRequest,
    decide,
    observation,
)
from app.modelling.offer_response import ModelStats, with_pool

SHIPPING = 6.0
ARMS = {a.key: a for a in DEFAULT_ARMS}
SEGMENTS = {
    # share, base P(buy), shown sensitivity, intent, CLV, lift per arm
    "loyal": (0.30, 0.55, 0.20, 0.75, 400.0, {"free_shipping": 0.03, "pct5": 0.02, "pct10": 0.04, "pct15": 0.05}),
    "sensitive": (0.30, 0.12, 0.80, 0.50, 120.0, {"free_shipping": 0.14, "pct5": 0.10, "pct10": 0.22, "pct15": 0.30}),
    "waiter": (0.15, 0.50, 0.60, 0.60, 200.0, {"free_shipping": 0.06, "pct5": 0.05, "pct10": 0.10, "pct15": 0.12}),
    "browser": (0.25, 0.04, 0.45, 0.20, 30.0, {"free_shipping": 0.02, "pct5": 0.01, "pct10": 0.03, "pct15": 0.05}),
}  # fmt: skip
MARGINS = (0.25, 0.35, 0.45, 0.55, 0.65)  # the five products' margin rates
FIRST_HESITATION = 0.25  # share of shoppers hesitating for the first time


@dataclass(frozen=True)
class SimShopper:
    index: int
    segment: str
    cart: float
    product: int  # index into MARGINS
    first_hesitation: bool
    shown: OfferContext  # what the profile shows (noisy)
    lift_scale: float  # this shopper's own response, around the segment's
    day: float  # when they hesitate, in days from the start
    draw: float  # compared with P(buy) for the arm they get

    @property
    def margin_rate(self) -> float:
        return MARGINS[self.product]

    @property
    def waits_for_codes(self) -> bool:
        return self.segment == "waiter"

    def p_buy(self, arm: str) -> float:
        _, base, *_, lifts = SEGMENTS[self.segment]
        return min(base + self.lift_scale * lifts.get(arm, 0.0), 0.98)

    def margin_if_bought(self, arm: str) -> float:
        return self.cart * self.margin_rate - ARMS[arm].discount(self.cart, SHIPPING)

    def expected_margin(self, arm: str) -> float:
        return self.p_buy(arm) * self.margin_if_bought(arm)

    def incremental(self, arm: str) -> float:
        return self.expected_margin(arm) - self.expected_margin(NONE)


def shoppers(n: int, seed: int, days: float) -> list[SimShopper]:
    rng = random.Random(seed)
    names = list(SEGMENTS)
    weights = [SEGMENTS[s][0] for s in names]
    out = []
    for i in range(n):
        seg = rng.choices(names, weights)[0]
        _, _, ps, intent, clv, _ = SEGMENTS[seg]
        cart = round(min(max(rng.lognormvariate(math.log(70), 0.5), 20), 250), 2)
        product = rng.randrange(len(MARGINS))
        shown = OfferContext(
            price_sensitivity=min(max(rng.gauss(ps, 0.15), 0), 1),
            intent=min(max(rng.gauss(intent, 0.15), 0), 1),
            clv=max(rng.lognormvariate(math.log(clv), 0.4), 0),
            margin_rate=MARGINS[product],
            cart_value=cart,
        )
        out.append(
            SimShopper(
                i,
                seg,
                cart,
                product,
                rng.random() < FIRST_HESITATION,
                shown,
                rng.uniform(0.6, 1.4),
                rng.uniform(0, days),
                rng.random(),
            )  # fmt: skip
        )
    return sorted(out, key=lambda s: s.day)


def eligible(s: SimShopper) -> bool:
    """Every policy compared offers nothing on a first hesitation (peers send their code in a reminder)."""
    return not s.first_hesitation


def uniform_10(_s: SimShopper) -> str:
    return "pct10"


def segment_tiers(s: SimShopper) -> str:
    """The peers' fixed tiers by the profile's price-sensitivity segment."""
    ps = s.shown.price_sensitivity
    return "pct15" if ps >= 2 / 3 else "pct10" if ps >= 1 / 3 else "pct5"


def oracle(s: SimShopper) -> str:
    return max(ARMS, key=lambda a: (s.expected_margin(a), a == NONE))


def score(chosen: Sequence[tuple[SimShopper, str]]) -> dict[str, object]:
    """Mean incremental margin per eligible shopper, with a 95 % interval over shoppers."""
    return _mean_interval([s.incremental(arm) for s, arm in chosen])


def versus(chosen: Sequence[tuple[SimShopper, str]], peer: str) -> dict[str, object]:
    """Attune's incremental margin per eligible shopper minus a peer's (``uniform_10``, ``segment_tiers`` or
    ``oracle``) on the same shoppers: the paired difference, with its 95 % interval (narrower than the two
    policies' own intervals, since each shopper's own noise cancels)."""
    f = {"uniform_10": uniform_10, "segment_tiers": segment_tiers, "oracle": oracle}[peer]
    return _mean_interval([s.incremental(arm) - s.incremental(f(s)) for s, arm in chosen])


def _mean_interval(values: Sequence[float]) -> dict[str, object]:
    n = len(values)
    mean = sum(values) / n if n else 0.0
    var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    half = 1.96 * math.sqrt(var / n) if n else 0.0
    return {"incremental_margin": round(mean, 4), "interval": [round(mean - half, 4), round(mean + half, 4)]}


def regret_by_part(chosen: Sequence[tuple[SimShopper, str]], parts: int = 3) -> list[float]:
    """Oracle minus the policy, per shopper, in consecutive parts of the run (in order of arrival)."""
    size = max(len(chosen) // parts, 1)
    out = []
    for k in range(parts):
        part = chosen[k * size : (k + 1) * size] if k < parts - 1 else chosen[k * size :]
        gaps = [s.incremental(oracle(s)) - s.incremental(arm) for s, arm in part]
        out.append(round(sum(gaps) / len(gaps), 4) if gaps else 0.0)
    return out


def compare(attune: Sequence[tuple[SimShopper, str]]) -> dict[str, dict[str, object]]:
    group = [s for s, _ in attune]
    policies: dict[str, Callable[[SimShopper], str]] = {
        "uniform_10": uniform_10, "segment_tiers": segment_tiers, "oracle": oracle,
    }  # fmt: skip
    out = {"attune": score(attune)}
    out.update({name: score([(s, f(s)) for s in group]) for name, f in policies.items()})
    return out


def learn_offline(
    n: int,
    seed: int,
    policy: OfferPolicy | None = None,
    days: float = 90.0,
    pooled: ModelStats | None = None,
    learned: ModelStats | None = None,
) -> list[tuple[SimShopper, str]]:
    """Attune's agent without the app: the same ``decide``, statistics updated when each 14-day window
    closes, outcomes drawn from the truth. ``pooled``: other shops' statistics as the prior (as the app pools
    them); ``learned``: filled with this shop's own statistics. Returns (shopper, arm given) for the eligible
    shoppers."""
    policy = policy or OfferPolicy(weekly_budget=1_000_000, shipping_cost=SHIPPING)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    stats = learned if learned is not None else ModelStats()
    pending: list[tuple[datetime, OfferArm, OfferContext, bool]] = []
    last_offer: dict[int, datetime] = {}
    chosen = []
    for s in shoppers(n, seed, days):
        now = start + timedelta(days=s.day)
        pending.sort(key=lambda p: p[0])
        while pending and pending[0][0] <= now:
            _, arm, ctx, bought = pending.pop(0)
            stats.add(arm.key, *observation(ctx, arm, bought))
        request = OfferRequest(
            shop_id=1, shopper_key=f"customer:{s.index}", key=f"sim:{seed}:{s.index}", agent="sim",
            context=s.shown, cart_value=s.cart, cart_cost=s.cart * (1 - s.margin_rate),
            hesitations=1 if s.first_hesitation else 2, waits_for_codes=s.waits_for_codes,
            last_offer_at=last_offer.get(s.index), spent_this_week=0.0, now=now,
        )  # fmt: skip
        decision = decide(request, policy, with_pool(stats, pooled))
        arm = decision.arm.key
        if decision.offers:
            last_offer[s.index] = now
        learn_arm = ARMS[NONE] if decision.control else decision.arm
        pending.append((now + REWARD_WINDOW, learn_arm, s.shown, s.draw < s.p_buy(arm)))
        if eligible(s):
            chosen.append((s, arm))
    return chosen
