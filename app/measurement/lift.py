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
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

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


# --- grouping (vectorised: one sort per agent and placement, window sums by binary search) -----------


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


@dataclass
class _Timeline:
    """Every shopper's purchases on one sorted int64 axis: ``code × span + (t − origin)`` in milliseconds,
    with cumulative revenue, so a shopper's window is two binary searches."""

    origin: int
    span: int
    keys: np.ndarray
    cumulative: np.ndarray

    @classmethod
    def build(
        cls, codes: dict[str, int], purchases: Sequence[Purchase], times: list[int], window_ms: int
    ) -> _Timeline:
        origin = min(times)
        span = max(times) - origin + window_ms + 1
        if len(codes) * span >= 2**62:
            raise ValueError("too many shoppers over too long a period for one measurement")
        mine = [p for p in purchases if p.shopper in codes]
        keys = np.fromiter((codes[p.shopper] * span + _ms(p.at) - origin for p in mine), np.int64, len(mine))
        revenue = np.fromiter((p.revenue for p in mine), np.float64, len(mine))
        order = np.argsort(keys, kind="stable")
        return cls(origin, span, keys[order], np.concatenate([[0.0], np.cumsum(revenue[order])]))


def _measure_one(
    agent: str,
    placement: str | None,
    code: np.ndarray,
    at: np.ndarray,
    held: np.ndarray,
    timeline: _Timeline,
    window_ms: int,
    window_days: float,
    now_ms: int,
) -> Lift:
    """One agent or placement from its exposures' columns: first exposure per shopper (ties: holdout first,
    so nobody counts twice), then purchases in ``[first, first + window)``."""
    order = np.lexsort((~held, at, code))
    code, at, held = code[order], at[order], held[order]
    first = np.flatnonzero(np.r_[True, code[1:] != code[:-1]])
    crossovers = int(np.count_nonzero(np.maximum.reduceat(held, first) != np.minimum.reduceat(held, first)))
    c, t, h = code[first], at[first], held[first]
    start = c * timeline.span + (t - timeline.origin)
    lo = np.searchsorted(timeline.keys, start, "left")
    hi = np.searchsorted(timeline.keys, start + window_ms, "left")
    converted = hi > lo
    revenue = np.round(timeline.cumulative[hi] - timeline.cumulative[lo], 2)
    groups = {}
    for flag in (False, True):
        mask = h == flag
        r = revenue[mask]
        groups[flag] = Group(int(mask.sum()), int(converted[mask].sum()), float(r.sum()), float(np.dot(r, r)))
    lift = Lift(agent, placement, window_days, groups[False], groups[True])
    lift.open_windows = int(np.count_nonzero(t + window_ms > now_ms))
    lift.crossovers = crossovers
    _fill_statistics(lift)
    return lift


def _fill_statistics(lift: Lift) -> None:
    t, h = lift.treatment, lift.holdout
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


def measure(
    exposures: Iterable[Exposure],
    purchases: Iterable[Purchase],
    *,
    window_days: float = DEFAULT_WINDOW_DAYS,
    now: datetime,
    split: Collection[str] = (),
) -> list[Lift]:
    """Lift per agent (sorted by name), each with its placements (sorted by shoppers, most first) when it has
    several, or always for the agents in ``split`` (an acting agent's channels: one is still worth naming)."""
    exposures, purchases = list(exposures), list(purchases)
    if not exposures:
        return []
    window_ms = int(timedelta(days=window_days).total_seconds() * 1000)
    codes: dict[str, int] = {}
    code = np.fromiter((codes.setdefault(e.shopper, len(codes)) for e in exposures), np.int64, len(exposures))
    times = [_ms(e.at) for e in exposures]
    at = np.array(times, dtype=np.int64)
    held = np.fromiter((e.holdout for e in exposures), bool, len(exposures))
    timeline = _Timeline.build(codes, purchases, times + [_ms(p.at) for p in purchases], window_ms)
    by_agent: dict[str, list[int]] = defaultdict(list)
    by_placement: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, e in enumerate(exposures):
        by_agent[e.agent].append(i)
        by_placement[(e.agent, e.placement)].append(i)
    now_ms = _ms(now)

    def one(agent: str, placement: str | None, rows: list[int]) -> Lift:
        idx = np.array(rows, dtype=np.int64)
        return _measure_one(
            agent, placement, code[idx], at[idx], held[idx], timeline, window_ms, window_days, now_ms
        )

    results = []
    for agent in sorted(by_agent):
        lift = one(agent, None, by_agent[agent])
        placements = [(p, rows) for (a, p), rows in by_placement.items() if a == agent]
        if len(placements) > 1 or (placements and agent in split):
            lift.placements = sorted(
                (one(agent, p, rows) for p, rows in placements),
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
