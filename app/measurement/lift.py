"""Incremental lift of each agent (and each of its placements) against its holdout group.

Input is plain data: ``Exposure`` (a shopper was served a list by an agent, in treatment or holdout) and
``Purchase`` (a shopper's order, net of refunds). For each agent:

- each shopper counts once, from their **first** exposure: its time starts the window and its group is the
  shopper's group for good (intention to treat: a later exposure in the other group does not move them;
  such shoppers are counted as ``crossovers``);
- a shopper **converts** when they buy within ``window_days`` after that first exposure; **revenue per
  exposed shopper** is the net revenue of those orders averaged over every exposed shopper (zeros included);
- conversion lift: absolute (Newcombe interval) and relative (Katz), p-value; revenue lift: Welch interval
  and p-value, relative by the delta method;
- a plain-language verdict, with a power calculation for "how many more shoppers until a 10% lift shows".

Shoppers whose window is still open are included: groups are assigned at random, so both are cut short
alike; the difference stays unbiased and only gets noisier. ``open_windows`` says how many there are.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from app.measurement.stats import (
    Interval,
    mean_ratio,
    newcombe_difference,
    proportions_p_value,
    risk_ratio,
    sample_size,
    welch_difference,
)

DEFAULT_WINDOW_DAYS = 7
TARGET_LIFT = 0.10  # the relative lift the power calculation sizes for
MIN_GROUP = 20  # below this many shoppers in a group, no verdict beyond "collecting"


@dataclass(frozen=True)
class Exposure:
    agent: str
    placement: str
    shopper: str  # the shopper's identity (root node), the same across their devices once stitched
    holdout: bool
    at: datetime


@dataclass(frozen=True)
class Purchase:
    shopper: str
    at: datetime
    revenue: float  # net of refunds, never below 0


@dataclass
class Group:
    """Outcomes of one group: shoppers, converters, revenue and its sum of squares (for the variance)."""

    shoppers: int = 0
    converters: int = 0
    revenue: float = 0.0
    revenue_sq: float = 0.0

    def add(self, converted: bool, revenue: float) -> None:
        self.shoppers += 1
        self.converters += int(converted)
        self.revenue += revenue
        self.revenue_sq += revenue * revenue

    @property
    def conversion_rate(self) -> float | None:
        return self.converters / self.shoppers if self.shoppers else None

    @property
    def revenue_per_shopper(self) -> float | None:
        return self.revenue / self.shoppers if self.shoppers else None

    @property
    def revenue_variance(self) -> float:
        n = self.shoppers
        if n < 2:
            return 0.0
        mean = self.revenue / n
        return max(self.revenue_sq - n * mean * mean, 0.0) / (n - 1)

    def as_dict(self) -> dict[str, Any]:
        return {
            "shoppers": self.shoppers,
            "converters": self.converters,
            "conversion_rate": _r(self.conversion_rate, 6),
            "revenue": round(self.revenue, 2),
            "revenue_per_shopper": _r(self.revenue_per_shopper, 4),
        }


@dataclass
class Verdict:
    status: str  # no_data | no_holdout | no_treatment | collecting | positive | negative | no_effect
    text: str
    more_holdout: int | None = None
    more_treatment: int | None = None


@dataclass
class Lift:
    """The measurement of one agent (``placement`` None) or one of its placements."""

    agent: str
    placement: str | None
    window_days: float
    treatment: Group
    holdout: Group
    conversion_diff: Interval | None = None
    conversion_ratio: Interval | None = None
    conversion_p: float | None = None
    revenue_diff: Interval | None = None
    revenue_ratio: Interval | None = None
    revenue_p: float | None = None
    needed: tuple[int, int] | None = None  # shoppers (holdout, treatment) to detect TARGET_LIFT
    open_windows: int = 0
    crossovers: int = 0
    verdict: Verdict = field(default_factory=lambda: Verdict("no_data", ""))
    placements: list[Lift] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "placement": self.placement,
            "window_days": self.window_days,
            "treatment": self.treatment.as_dict(),
            "holdout": self.holdout.as_dict(),
            "conversion": {
                "absolute": _interval(self.conversion_diff),
                "relative": _interval(self.conversion_ratio, minus_one=True),
                "p_value": _r(self.conversion_p, 6),
            },
            "revenue_per_shopper": {
                "absolute": _interval(self.revenue_diff),
                "relative": _interval(self.revenue_ratio, minus_one=True),
                "p_value": _r(self.revenue_p, 6),
            },
            "power": {
                "target_relative_lift": TARGET_LIFT,
                "needed_holdout": self.needed[0] if self.needed else None,
                "needed_treatment": self.needed[1] if self.needed else None,
                "more_holdout": self.verdict.more_holdout,
                "more_treatment": self.verdict.more_treatment,
            },
            "open_windows": self.open_windows,
            "crossovers": self.crossovers,
            "verdict": {"status": self.verdict.status, "text": self.verdict.text},
            "placements": [p.as_dict() for p in self.placements],
        }


def _r(value: float | None, digits: int) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, digits)


def _interval(interval: Interval | None, *, minus_one: bool = False) -> dict[str, float] | None:
    if interval is None:
        return None
    shift = 1.0 if minus_one else 0.0
    return {
        "estimate": round(interval.estimate - shift, 6),
        "low": round(interval.low - shift, 6),
        "high": round(interval.high - shift, 6),
    }


# --- grouping ---------------------------------------------------------------------------------------


def first_exposures(exposures: Iterable[Exposure]) -> tuple[dict[str, Exposure], int]:
    """Each shopper's first exposure (ties: holdout first, so a shopper is never counted twice), and how
    many shoppers were later seen in the other group."""
    first: dict[str, Exposure] = {}
    groups: dict[str, set[bool]] = defaultdict(set)
    for e in exposures:
        groups[e.shopper].add(e.holdout)
        seen = first.get(e.shopper)
        if seen is None or (e.at, not e.holdout) < (seen.at, not seen.holdout):
            first[e.shopper] = e
    return first, sum(1 for g in groups.values() if len(g) > 1)


def _outcomes(
    first: dict[str, Exposure], purchases: dict[str, list[Purchase]], window: timedelta, now: datetime
) -> tuple[Group, Group, int]:
    treatment, holdout, open_windows = Group(), Group(), 0
    for shopper, exposure in first.items():
        end = exposure.at + window
        inside = [p for p in purchases.get(shopper, ()) if exposure.at <= p.at < end]
        group = holdout if exposure.holdout else treatment
        group.add(bool(inside), sum(p.revenue for p in inside))
        open_windows += end > now
    return treatment, holdout, open_windows


def _measure_one(
    agent: str,
    placement: str | None,
    exposures: Sequence[Exposure],
    purchases: dict[str, list[Purchase]],
    window_days: float,
    now: datetime,
) -> Lift:
    first, crossovers = first_exposures(exposures)
    treatment, holdout, open_windows = _outcomes(first, purchases, timedelta(days=window_days), now)
    lift = Lift(agent, placement, window_days, treatment, holdout, open_windows=open_windows)
    lift.crossovers = crossovers
    t, h = treatment, holdout
    lift.conversion_diff = newcombe_difference(t.converters, t.shoppers, h.converters, h.shoppers)
    lift.conversion_ratio = risk_ratio(t.converters, t.shoppers, h.converters, h.shoppers)
    lift.conversion_p = proportions_p_value(t.converters, t.shoppers, h.converters, h.shoppers)
    args = (
        t.revenue_per_shopper or 0.0,
        t.revenue_variance,
        t.shoppers,
        h.revenue_per_shopper or 0.0,
        h.revenue_variance,
        h.shoppers,
    )
    welch = welch_difference(*args)
    if welch is not None:
        lift.revenue_diff, lift.revenue_p = welch.difference, welch.p_value
    lift.revenue_ratio = mean_ratio(*args)
    if t.shoppers and h.shoppers:
        pooled = (t.converters + h.converters) / (t.shoppers + h.shoppers)
        baseline = h.conversion_rate if h.converters else pooled
        lift.needed = sample_size(baseline or 0.0, TARGET_LIFT, t.shoppers / h.shoppers)
    lift.verdict = verdict(lift)
    return lift


def measure(
    exposures: Iterable[Exposure],
    purchases: Iterable[Purchase],
    *,
    window_days: float = DEFAULT_WINDOW_DAYS,
    now: datetime,
) -> list[Lift]:
    """Lift per agent (sorted by name), each with its placements (sorted by shoppers, most first)."""
    by_shopper: dict[str, list[Purchase]] = defaultdict(list)
    for p in purchases:
        by_shopper[p.shopper].append(p)
    by_agent: dict[str, list[Exposure]] = defaultdict(list)
    for e in exposures:
        by_agent[e.agent].append(e)
    results = []
    for agent in sorted(by_agent):
        rows = by_agent[agent]
        lift = _measure_one(agent, None, rows, by_shopper, window_days, now)
        by_placement: dict[str, list[Exposure]] = defaultdict(list)
        for e in rows:
            by_placement[e.placement].append(e)
        if len(by_placement) > 1:
            lift.placements = sorted(
                (_measure_one(agent, p, r, by_shopper, window_days, now) for p, r in by_placement.items()),
                key=lambda x: (-(x.treatment.shoppers + x.holdout.shoppers), x.placement or ""),
            )
        results.append(lift)
    return results


# --- the verdict -------------------------------------------------------------------------------------


def _pts(value: float) -> str:
    return f"{value * 100:+.1f} pts"


def _collecting(lift: Lift, why: str = "") -> Verdict:
    t, h = lift.treatment.shoppers, lift.holdout.shoppers
    target = f"{TARGET_LIFT:.0%}"
    if lift.needed is None:
        return Verdict("collecting", f"Not enough data yet: {why or 'no purchases in either group so far'}.")
    need_h, need_t = lift.needed
    more_h, more_t = max(need_h - h, 0), max(need_t - t, 0)
    balanced = 0.8 <= need_t / max(need_h, 1) <= 1.25
    if balanced:
        ask = f"need about {max(more_h, more_t):,} more shoppers per group"
    elif more_h and more_t:
        ask = f"need about {more_h:,} more shoppers in the holdout group (and {more_t:,} more in treatment)"
    elif more_h:
        ask = f"need about {more_h:,} more shoppers in the holdout group"
    else:
        ask = f"need about {more_t:,} more shoppers in treatment"
    return Verdict("collecting", f"Not enough data yet: {ask} to detect a {target} lift.", more_h, more_t)


def verdict(lift: Lift) -> Verdict:
    """What a merchant should read from the numbers, in one sentence."""
    t, h = lift.treatment, lift.holdout
    window = f"{lift.window_days:g} days"
    if not t.shoppers and not h.shoppers:
        return Verdict("no_data", "No shoppers have been shown this agent's lists yet.")
    if not h.shoppers:
        return Verdict(
            "no_holdout",
            "No holdout data: every exposed shopper got the agent, so its lift cannot be measured. "
            "Keep a holdout share above 0%.",
        )
    if not t.shoppers:
        return Verdict(
            "no_treatment", "Only held-out shoppers so far: nobody has seen the agent's lists yet."
        )
    diff = lift.conversion_diff
    if t.shoppers < MIN_GROUP or h.shoppers < MIN_GROUP or diff is None:
        collecting = _collecting(lift)
        if collecting.more_holdout is None:
            return Verdict("collecting", f"Not enough data yet: fewer than {MIN_GROUP} shoppers in a group.")
        return collecting
    ci = f"(95% CI {_pts(diff.low)} to {_pts(diff.high)}, p = {lift.conversion_p:.3g})"
    rel = f" ({lift.conversion_ratio.estimate - 1:+.0%})" if lift.conversion_ratio else ""
    if diff.low > 0:
        return Verdict(
            "positive",
            f"Lifting conversion: {_pts(diff.estimate)}{rel} within {window} of first exposure {ci}.",
        )
    if diff.high < 0:
        return Verdict(
            "negative",
            f"Converting worse than the holdout: {_pts(diff.estimate)}{rel} within {window} {ci}. "
            "Consider pausing this agent.",
        )
    if lift.needed is None or h.shoppers < lift.needed[0] or t.shoppers < lift.needed[1]:
        return _collecting(lift)
    return Verdict(
        "no_effect",
        f"No detectable lift: {_pts(diff.estimate)} {ci}; with this many shoppers a "
        f"{TARGET_LIFT:.0%} lift would most likely have shown.",
    )
