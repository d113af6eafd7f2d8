"""Personal offers: which incentive (if any) a hesitating shopper gets. Pure: facts in, an ``OfferDecision``
out; the caller (``app.jobs.pricing``) creates the code through the Admin API and the asking agent delivers it.

A contextual Thompson-sampling bandit over the merchant's arms (no offer, free shipping, 5/10/15 % by default).
The reward is the gross margin within 14 days (revenue − cost − discount). Its expectation is P(buy) × (the
cart's margin − the discount): the margin if bought is known from the cart, its unit costs and the arm, so the
model (``app.modelling.offer_response``) learns only P(buy | context, arm), with the context: price
sensitivity, intent, predicted CLV and the cart value (the product's margin enters through the known margin).
Its sufficient statistics are aggregates, so the installation's other shops' statistics are pooled into a
shop's prior without any shopper's row leaving its shop.

Guardrails, in order (the first that stops an offer gives the reason; every one is tested):

1. the permanent **control group**: a stable hash of shop and shopper puts ``control_share`` (≥ 10 %) of
   shoppers in no-offer, whatever else;
2. **no incentive on a first hesitation** (the shopper's first abandoned checkout or cart);
3. the **waits-for-codes** flag (orders placed with a code soon after an abandonment, repeatedly) → no offer;
4. **one offer per shopper per 30 days**;
5. per arm, the **margin floor**: after the discount the cart keeps at least ``margin_floor`` of its revenue
   above cost (``InventoryItem.unitCost`` where known, else the merchant's default cost share);
6. per arm, the **weekly budget**: this week's discount spend plus this one stays within the budget;
7. per arm, **posterior incremental margin**: the lower end (``z`` standard deviations) of the arm's margin
   minus no-offer's, for this context, must be ≥ 0. An arm with fewer than ``MIN_EVIDENCE`` observations
   (shop + pooled) has no posterior worth the name: it may be *tried* on at most ``trial_share`` of the
   shoppers who passed 1-6 (a stable hash), so a new shop can learn at all; every other guardrail still holds.

Thompson sampling then picks among no-offer and the eligible arms.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from app.modelling.offer_response import ModelStats, Posterior, design

AGENT = "pricing"
NONE = "none"
REWARD_WINDOW = timedelta(days=14)
OFFER_GAP = timedelta(days=30)
MIN_CONTROL = 0.10
MIN_EVIDENCE = 150  # observations of an arm (shop + pooled) before its posterior alone decides
SMALL_CART = 30.0
KINDS = ("none", "percentage", "free_shipping")
MAX_ARMS = 8


class PricingError(ValueError):
    """Settings or a request the pricing agent cannot work with (the API answers 400/422 with it)."""


@dataclass(frozen=True)
class OfferArm:
    key: str
    kind: str  # none | percentage | free_shipping
    value: float = 0.0  # percentage off (5 = 5 %); unused otherwise

    def discount(self, cart_value: float, shipping_cost: float) -> float:
        if self.kind == "percentage":
            return round(cart_value * self.value / 100, 2)
        return round(shipping_cost, 2) if self.kind == "free_shipping" else 0.0


DEFAULT_ARMS = (
    OfferArm(NONE, "none"),
    OfferArm("free_shipping", "free_shipping"),
    OfferArm("pct5", "percentage", 5),
    OfferArm("pct10", "percentage", 10),
    OfferArm("pct15", "percentage", 15),
)


def parse_arms(raw: object) -> tuple[OfferArm, ...]:
    """The merchant's arm list (``[{"key", "kind", "value"}]``); no-offer is always kept."""
    if not isinstance(raw, list) or not raw or len(raw) > MAX_ARMS:
        raise PricingError(f"arms must be a list of 1-{MAX_ARMS} offers")
    out: dict[str, OfferArm] = {NONE: OfferArm(NONE, "none")}
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise PricingError(f"arms[{i}] must be an object")
        key, kind, value = item.get("key"), item.get("kind"), item.get("value", 0)
        if not isinstance(key, str) or not key.replace("_", "").isalnum() or len(key) > 24:
            raise PricingError(f"arms[{i}].key must be a short name (letters, digits, '_')")
        if kind not in KINDS:
            raise PricingError(f"arms[{i}].kind must be one of {list(KINDS)}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PricingError(f"arms[{i}].value must be a number")
        if kind == "percentage" and not 1 <= value <= 50:
            raise PricingError(f"arms[{i}].value must be a percentage between 1 and 50")
        if (key == NONE) != (kind == "none"):
            raise PricingError(f"arms[{i}]: only the '{NONE}' arm is of kind none")
        out[key] = OfferArm(key, kind, float(value) if kind == "percentage" else 0.0)
    return tuple(out.values())


@dataclass(frozen=True)
class OfferPolicy:
    """One shop's offer settings (merchant-editable, checked here)."""

    arms: tuple[OfferArm, ...] = DEFAULT_ARMS
    control_share: float = MIN_CONTROL
    weekly_budget: float = 200.0
    default_cost_share: float = 0.5  # cost as a share of price where InventoryItem.unitCost is missing
    margin_floor: float = 0.10  # the cart keeps at least this share of its discounted revenue above cost
    shipping_cost: float = 6.0  # what a free-shipping code costs the shop
    z: float = 1.2816  # the lower end of the one-sided 90 % posterior interval
    trial_share: float = 0.5

    def __post_init__(self) -> None:
        if not MIN_CONTROL <= self.control_share <= 0.5:
            raise PricingError(f"control_share must be between {MIN_CONTROL} and 0.5")
        if not 0 <= self.weekly_budget <= 1_000_000:
            raise PricingError("weekly_budget must be between 0 and 1,000,000")
        if not 0 <= self.default_cost_share < 1 or not 0 <= self.margin_floor < 1:
            raise PricingError("default_cost_share and margin_floor must be shares in [0, 1)")
        if not 0 <= self.shipping_cost <= 1000:
            raise PricingError("shipping_cost must be between 0 and 1000")
        if not 0 <= self.trial_share <= 0.5 or not 0 <= self.z <= 4:
            raise PricingError("trial_share must be in [0, 0.5] and z in [0, 4]")
        if not any(a.key == NONE for a in self.arms):
            raise PricingError("the no-offer arm cannot be removed")


@dataclass(frozen=True)
class OfferContext:
    price_sensitivity: float = 0.5  # 0..1
    intent: float = 0.5  # 0..1
    clv: float = 0.0  # predicted, shop currency
    margin_rate: float = 0.5  # (price - cost) / price of the cart
    cart_value: float = 50.0

    def vector(self) -> np.ndarray:
        """The response model's base features: bias, price sensitivity, intent, log CLV, small cart (a fixed
        cost such as shipping weighs more on it)."""
        small = min(SMALL_CART / self.cart_value, 1.5) if self.cart_value > 0 else 1.5
        clv = math.log1p(max(self.clv, 0.0)) / 8 if math.isfinite(self.clv) else 0.0
        return np.array([1.0, _clip(self.price_sensitivity), _clip(self.intent), clv, small])


def _clip(value: float) -> float:
    return min(max(float(value), 0.0), 1.0) if math.isfinite(value) else 0.5


@dataclass(frozen=True)
class OfferRequest:
    """An agent asks before attaching an incentive."""

    shop_id: int
    shopper_key: str  # customer:<id> or client:<id>
    key: str  # the asking proposal's dedupe key: one decision (and one code) per key
    agent: str
    context: OfferContext
    cart_value: float
    cart_cost: float | None  # the cart's unit costs where every line's is known
    hesitations: int  # abandoned checkouts / carts of this shopper so far, this one included
    waits_for_codes: bool
    last_offer_at: datetime | None
    spent_this_week: float
    now: datetime


@dataclass(frozen=True)
class OfferDecision:
    arm: OfferArm
    control: bool
    reason: str
    discount: float = 0.0
    predicted_incremental: float | None = None  # posterior mean, shop currency
    lower: float | None = None
    trial: bool = False
    refused: Mapping[str, str] = field(default_factory=dict)  # arm → why it was not eligible
    # the shopper passed guardrails 2-4 (known for the control group too): the readout compares eligible
    # treated shoppers with eligible control ones
    eligible: bool = True
    p_no_offer: float | None = None  # the model's P(buy within 14 days) without an offer (waste's yardstick)

    @property
    def offers(self) -> bool:
        return self.arm.kind != "none"


def _unit(*parts: object) -> float:
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def in_control(shop_id: int, shopper_key: str, share: float) -> bool:
    """Stable per shop and shopper (a shopper stays in the control group)."""
    return _unit(shop_id, "pricing-control", shopper_key) < max(share, MIN_CONTROL)


def cart_cost(policy: OfferPolicy, request: OfferRequest) -> float:
    if request.cart_cost is not None:
        return request.cart_cost
    return request.cart_value * policy.default_cost_share


def margin_vector(x: np.ndarray, arm: OfferArm, full_margin: float, discount: float) -> np.ndarray:
    """``v`` with ``v · β`` = the arm's expected gross margin: P(buy) × (margin if bought − discount)."""
    return design(x, arm.kind, arm.value) * (full_margin - discount)


def incremental(
    post: Posterior, x: np.ndarray, arm: OfferArm, none: OfferArm, full_margin: float, discount: float
) -> tuple[float, float]:
    """Posterior mean and standard deviation of the arm's expected margin minus no-offer's."""
    v = margin_vector(x, arm, full_margin, discount) - margin_vector(x, none, full_margin, 0.0)
    return post.linear(v)


def _gates(request: OfferRequest) -> str | None:
    """Guardrails 2-4 (the shopper's): why no offer may go to this shopper now, or None."""
    if request.cart_value <= 0 or not math.isfinite(request.cart_value):
        return "no cart value to base an offer on"
    if request.hesitations < 2:
        return "first hesitation: no incentive"
    if request.waits_for_codes:
        return "waits for codes: orders with a code soon after abandoning"
    if request.last_offer_at is not None and request.now - request.last_offer_at < OFFER_GAP:
        return f"already had an offer on {request.last_offer_at:%Y-%m-%d}"
    return None


def decide(request: OfferRequest, policy: OfferPolicy, stats: ModelStats) -> OfferDecision:
    """The offer for this request: every guardrail, then Thompson sampling among the eligible arms."""
    arms = {a.key: a for a in policy.arms}
    none = arms[NONE]
    stop = _gates(request)
    if in_control(request.shop_id, request.shopper_key, policy.control_share):
        why = f"in the no-offer control group ({policy.control_share:.0%})"
        return OfferDecision(none, True, why, eligible=stop is None)
    if stop is not None:
        return OfferDecision(none, False, stop, eligible=False)
    x = request.context.vector()
    cart = request.cart_value
    full = cart - cart_cost(policy, request)
    post = Posterior.of(stats)
    p_none = round(min(max(post.linear(design(x, "none", 0.0))[0], 0.0), 1.0), 4)
    trial_draw = _unit(request.shop_id, "pricing-trial", request.key) < policy.trial_share
    refused: dict[str, str] = {}
    eligible: dict[str, tuple[float, float, bool]] = {}
    for arm in arms.values():
        if arm.key == NONE:
            continue
        d = arm.discount(cart, policy.shipping_cost)
        kept = full - d
        if kept <= 0 or kept < policy.margin_floor * max(cart - d, 0.0):
            refused[arm.key] = f"margin floor: {kept:.2f} left above cost"
            continue
        if request.spent_this_week + d > policy.weekly_budget:
            spent = f"{request.spent_this_week:.2f} + {d:.2f} > {policy.weekly_budget:.2f}"
            refused[arm.key] = f"weekly budget: {spent}"
            continue
        mean, sd = incremental(post, x, arm, none, full, d)
        lower = mean - policy.z * sd
        evidence = stats.counts.get(arm.key, 0.0)
        if lower >= 0:
            eligible[arm.key] = (mean, lower, False)
        elif evidence < MIN_EVIDENCE and trial_draw:
            eligible[arm.key] = (mean, lower, True)
        elif evidence < MIN_EVIDENCE:
            refused[arm.key] = (
                f"learning: {evidence:.0f} of {MIN_EVIDENCE} observations, not in the trial share"
            )
        else:
            refused[arm.key] = f"posterior incremental margin's lower end {lower:.2f} < 0"
    if not eligible:
        return OfferDecision(none, False, "no offer pays here", refused=refused, p_no_offer=p_none)
    beta = post.sample(np.random.default_rng(int(_unit(request.shop_id, "pricing-ts", request.key) * 2**32)))
    draws = {NONE: float(margin_vector(x, none, full, 0.0) @ beta)}
    for key in eligible:
        draws[key] = float(
            margin_vector(x, arms[key], full, arms[key].discount(cart, policy.shipping_cost)) @ beta
        )
    best = max(draws, key=lambda k: (draws[k], k == NONE))
    if best == NONE:
        return OfferDecision(
            none, False, "sampled: no offer does best here", refused=refused, p_no_offer=p_none
        )
    arm = arms[best]
    mean, lower, trial = eligible[best]
    d = arm.discount(cart, policy.shipping_cost)
    why = "trial (still learning)" if trial else f"incremental margin {mean:.2f} (lower end {lower:.2f})"
    return OfferDecision(
        arm, False, f"{arm.key}: {why}", d, round(mean, 4), round(lower, 4), trial, refused, p_no_offer=p_none
    )


def observation(context: OfferContext, arm: OfferArm, bought: bool) -> tuple[np.ndarray, float]:
    """One settled decision as a regression row: its context and arm's design, 1 if the shopper bought."""
    return design(context.vector(), arm.kind, arm.value), 1.0 if bought else 0.0


def waits_for_codes(discounted_orders_after_abandonment: Sequence[datetime], threshold: int = 2) -> bool:
    """Repeated orders placed with a code soon after an abandonment."""
    return len(discounted_orders_after_abandonment) >= threshold


_NUMBERS = ("control_share", "weekly_budget", "default_cost_share", "margin_floor", "shipping_cost")


def parse_policy(raw: Mapping[str, object] | None) -> OfferPolicy:
    """The merchant's settings (as stored or as sent to the API) as a checked ``OfferPolicy``."""
    raw = dict(raw or {})
    unknown = sorted(set(raw) - {"arms", *_NUMBERS})
    if unknown:
        raise PricingError(f"unknown setting(s): {', '.join(unknown)}")
    kw: dict[str, object] = {}
    for name in _NUMBERS:
        if name in raw:
            value = raw[name]
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise PricingError(f"{name} must be a number")
            kw[name] = float(value)
    if "arms" in raw:
        kw["arms"] = parse_arms(raw["arms"])
    return OfferPolicy(**kw)  # type: ignore[arg-type]


def policy_json(policy: OfferPolicy) -> dict[str, object]:
    return {
        "arms": [{"key": a.key, "kind": a.kind, "value": a.value} for a in policy.arms],
        **{name: getattr(policy, name) for name in _NUMBERS},
    }
