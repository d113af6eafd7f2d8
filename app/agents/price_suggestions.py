"""Price suggestions per variant, and the guardrails every price change passes, suggested or the merchant's
own, through the admin or the API. Pure: facts in, suggestions or refusals (with reasons) out; the job applies
an approved change with ``productVariantsBulkUpdate`` and logs it.

Suggestions, sized by the variant's price response (``app.modelling.price_response``: its elasticity from the
shop's own price history, shrunk toward its product type; the prior where the shop has no change at all):

- **markdown** for overstock and slow movers: more than ``OVERSTOCK_WEEKS`` of cover at the inventory agent's
  forecast rate (its expected units over the next 28 days, where it has a current forecast from sales history),
  else at the last 30 days' sales rate (or no sale expected / none in 30 days, with stock). The cut is the one
  the elasticity says brings the cover back to ``OVERSTOCK_WEEKS``, at most ``max_step``, at least
  ``MIN_MARKDOWN``;
- **increase** where demand is strong: at least ``STRONG_SALES`` units sold in 30 days and either less than
  ``SCARCE_WEEKS`` of cover (at the same rate), or a measured response weak enough that half a step up earns more gross margin
  even at the pessimistic end of the estimate (elasticity − 1 sd). An increase is suggested only where the
  expected gross margin (units × (price − cost)) rises.

The cost is ``InventoryItem.unitCost`` where synced, else the merchant's default cost share of the variant's
regular price (its highest price in the kept history): the same default the offers use.

Guardrails (``check``), each a reason when it refuses:

- never below cost plus the margin floor (``cost × (1 + floor)``);
- at most ``max_step`` change per step;
- a cool-down between changes of one variant;
- the EU price-indication rule (Omnibus directive): a compare-at ("was") price must be the lowest price of the
  previous 30 days (the price history); otherwise it is **flagged**, and **refused** for a shop selling in the EU.

A compare-at price already live on a variant (set in Shopify itself) is checked the same way against the 30 days
before its current price took effect (``live_compare_at``): the admin flags it; Attune cannot refuse it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.modelling.price_response import PRIOR_ELASTICITY, PRIOR_SD, Response, units_factor

OMNIBUS_WINDOW = timedelta(days=30)
OVERSTOCK_WEEKS = 12.0
SCARCE_WEEKS = 2.0
STRONG_SALES = 10
MIN_MARKDOWN = 0.02


@dataclass(frozen=True)
class PriceRules:
    margin_floor: float = 0.10  # the price keeps at least this share above unit cost
    max_step: float = 0.10  # largest relative change per step
    cooldown: timedelta = timedelta(days=14)
    sells_in_eu: bool = False
    default_cost_share: float = 0.5  # the offers' merchant default, where InventoryItem.unitCost is missing


@dataclass(frozen=True)
class VariantFacts:
    variant_id: int
    product_id: int
    title: str
    price: float
    compare_at: float | None
    unit_cost: float | None
    stock: int | None
    sold_30d: int
    last_change_at: datetime | None
    history: Sequence[tuple[datetime, float]] = ()  # (since when, price), oldest first
    product_type: str = ""
    response: Response | None = None
    # the inventory agent's expected units per week, where it has a current forecast
    forecast_weekly: float | None = None


def cost_of(v: VariantFacts, rules: PriceRules) -> tuple[float, str]:
    """(unit cost, where it comes from): the synced ``unitCost``, else the merchant's default share of the
    regular price (the highest in the kept history, or the current one)."""
    if v.unit_cost is not None:
        return v.unit_cost, "unit cost"
    regular = max([v.price, *(p for _, p in v.history)])
    return round(regular * rules.default_cost_share, 2), "the default cost share"


@dataclass(frozen=True)
class Check:
    refusals: tuple[str, ...]
    flags: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.refusals


def lowest_recent(history: Sequence[tuple[datetime, float]], current: float, now: datetime) -> float:
    """The lowest price the variant had in the 30 days before ``now`` (the price in force at the window's
    start included)."""
    start = now - OMNIBUS_WINDOW
    in_force = [p for at, p in history if at <= start][-1:]
    recent = [p for at, p in history if start < at <= now]
    return min([current, *in_force, *recent])


def check(
    v: VariantFacts, new_price: float, new_compare_at: float | None, rules: PriceRules, now: datetime
) -> Check:
    refusals: list[str] = []
    flags: list[str] = []
    if not new_price > 0:
        refusals.append("the price must be positive")
        return Check(tuple(refusals), ())
    cost, source = cost_of(v, rules)
    if new_price < cost * (1 + rules.margin_floor) - 1e-9:
        refusals.append(
            f"below cost plus the margin floor: {new_price:.2f} < {cost:.2f} ({source}) × {1 + rules.margin_floor:.2f}"
        )
    if v.price > 0 and abs(new_price - v.price) / v.price > rules.max_step + 1e-9:
        refusals.append(
            f"a change of more than {rules.max_step:.0%} in one step ({v.price:.2f} → {new_price:.2f})"
        )
    if v.last_change_at is not None and now - v.last_change_at < rules.cooldown:
        until = v.last_change_at + rules.cooldown
        refusals.append(
            f"cool-down: the last change was {v.last_change_at:%Y-%m-%d}, next from {until:%Y-%m-%d}"
        )
    if new_compare_at is not None:
        lowest = lowest_recent(v.history, v.price, now)
        if new_compare_at <= new_price:
            refusals.append("the compare-at price must be above the price")
        elif abs(new_compare_at - lowest) > 0.005:
            why = (
                f"compare-at {new_compare_at:.2f} is not the lowest price of the last 30 days ({lowest:.2f})"
            )
            (refusals if rules.sells_in_eu else flags).append(f"Omnibus: {why}")
    return Check(tuple(refusals), tuple(flags))


def live_compare_at(v: VariantFacts) -> tuple[float, datetime] | None:
    """The Omnibus check of a compare-at price already live on the variant (set in Shopify, or by an earlier
    change): it must be the lowest price of the 30 days before the current price took effect. Returns (that
    lowest price, when the current price took effect) where it is not, else None; also None where the history
    does not reach back to an earlier price (nothing to compare with)."""
    if v.compare_at is None or v.compare_at <= v.price:
        return None
    since, before = None, ()
    for i in range(len(v.history) - 1, -1, -1):
        at, price = v.history[i]
        if abs(price - v.price) > 0.005:
            before = tuple(v.history[: i + 1])
            break
        since = at
    if since is None or not before:
        return None
    lowest = lowest_recent(before, before[-1][1], since)
    return (lowest, since) if abs(v.compare_at - lowest) > 0.005 else None


@dataclass(frozen=True)
class Suggestion:
    variant_id: int
    product_id: int
    title: str
    current: float
    suggested: float
    kind: str  # markdown | increase
    reason: str
    check: Check
    elasticity: float = PRIOR_ELASTICITY
    elasticity_sd: float = PRIOR_SD
    measured: bool = (
        False  # the elasticity rests on this shop's own price changes (the variant's or its type's)
    )
    units_change: float = 0.0  # expected relative change of units sold
    margin_change_30d: float = 0.0  # expected change of gross margin over 30 days at the last 30 days' rate


def _margin(price: float, cost: float, units: float) -> float:
    return units * (price - cost)


def suggest(variants: Sequence[VariantFacts], rules: PriceRules, now: datetime) -> list[Suggestion]:
    out = []
    for v in variants:
        if v.price <= 0 or v.stock is None or v.stock <= 0:
            continue
        r = v.response
        e, sd = (r.elasticity, r.sd) if r is not None else (PRIOR_ELASTICITY, PRIOR_SD)
        measured = r is not None and (r.changes > 0 or r.sd < PRIOR_SD)
        cost, _ = cost_of(v, rules)
        forecast = v.forecast_weekly is not None
        weekly = v.forecast_weekly if v.forecast_weekly is not None else v.sold_30d / (30 / 7)
        cover = v.stock / weekly if weekly > 0 else float("inf")
        up = round(v.price * (1 + rules.max_step / 2), 2)
        if cover > OVERSTOCK_WEEKS:
            kind = "markdown"
            # the cut that brings the cover back to the target: (1 - cut)^e = cover / target
            cut = rules.max_step if weekly == 0 or e > -0.05 else 1 - (cover / OVERSTOCK_WEEKS) ** (1 / e)
            cut = min(rules.max_step, max(MIN_MARKDOWN, cut))
            new = math.ceil(round(v.price * (1 - cut) * 100, 6)) / 100  # to the cent, never past the step
            rate = "the inventory agent's forecast" if forecast else "the current rate"
            idle = "no sale forecast in 4 weeks" if forecast else "no sale in 30 days"
            why = idle if weekly == 0 else f"{cover:.0f} weeks of stock at {rate}"
        elif v.sold_30d >= STRONG_SALES and (
            cover < SCARCE_WEEKS
            or (
                measured
                and _margin(up, cost, units_factor(e - sd, up, v.price)) > _margin(v.price, cost, 1.0)
            )
        ):
            new, kind = up, "increase"
            why = f"{v.sold_30d} sold in 30 days, {cover:.1f} weeks of stock left"
        else:
            continue
        new = max(new, math.ceil(cost * (1 + rules.margin_floor) * 100 - 1e-6) / 100)
        if (kind == "markdown" and new >= v.price) or (kind == "increase" and new <= v.price):
            continue  # the floor leaves no room for a markdown
        factor = units_factor(e, new, v.price)
        gain = _margin(new, cost, v.sold_30d * factor) - _margin(v.price, cost, v.sold_30d)
        if kind == "increase" and gain <= 0:
            continue  # demand this price-sensitive: a rise would sell less margin
        why += f"; elasticity {e:.1f} ± {sd:.1f}" + (
            "" if measured else " (no price change measured yet: the prior)"
        )
        why += f", about {factor - 1:+.0%} units"
        out.append(
            Suggestion(
                v.variant_id,
                v.product_id,
                v.title,
                v.price,
                new,
                kind,
                why,
                check(v, new, None, rules, now),
                e,
                sd,
                measured,
                round(factor - 1, 4),
                round(gain, 2),
            )
        )
    return out


class RulesError(ValueError):
    """Price-change settings the API refuses (422)."""


def parse_rules(raw: object) -> PriceRules:
    """``{"margin_floor", "max_step", "cooldown_days", "sells_in_eu"}``, each optional."""
    if raw is None:
        return PriceRules()
    if not isinstance(raw, dict):
        raise RulesError("prices must be an object")
    unknown = sorted(set(raw) - {"margin_floor", "max_step", "cooldown_days", "sells_in_eu"})
    if unknown:
        raise RulesError(f"unknown price setting(s): {', '.join(unknown)}")
    kw: dict[str, object] = {}
    for name, low, high in (("margin_floor", 0.0, 1.0), ("max_step", 0.01, 0.5), ("cooldown_days", 0, 365)):
        if name in raw:
            value = raw[name]
            if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
                raise RulesError(f"prices.{name} must be a number between {low} and {high}")
            kw["cooldown" if name == "cooldown_days" else name] = (
                timedelta(days=float(value)) if name == "cooldown_days" else float(value)
            )
    if "sells_in_eu" in raw:
        if not isinstance(raw["sells_in_eu"], bool):
            raise RulesError("prices.sells_in_eu must be true or false")
        kw["sells_in_eu"] = raw["sells_in_eu"]
    return PriceRules(**kw)  # type: ignore[arg-type]


def rules_json(rules: PriceRules) -> dict[str, object]:
    return {"margin_floor": rules.margin_floor, "max_step": rules.max_step,
            "cooldown_days": rules.cooldown.total_seconds() / 86400, "sells_in_eu": rules.sells_in_eu}  # fmt: skip
