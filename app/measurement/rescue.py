"""The checkout-rescue readout: abandoned-checkout recovery rate for treated and held-out checkouts, the
incremental difference with its 95 % interval, incremental revenue, the timing arms side by side, the market's
figures (labelled as such) and the strategic-abandonment guardrail. Plain data in, a dict out.

- The unit is the abandoned checkout: its first decision starts the window and fixes its arm (intention to
  treat: a treated checkout whose message was then suppressed or cancelled still counts as treated).
- A checkout is **recovered** when its customer orders within ``window_days`` of that decision; a guest's
  checkout (no customer account) when an order carrying the checkout's e-mail address (normalised: trimmed, lower
  case), or for a phone-only checkout its number (E.164), is placed within the window, whether or not that order
  has an account. ``sources`` splits the figures
  into customers' and guests' checkouts. Revenue is the
  orders' total after discounts; incremental revenue is the difference in revenue per checkout (Welch interval)
  times the treated checkouts. Both come from ``app.measurement.lift.measure``, the same statistics as every
  other agent's lift; each timing arm (1 h / 24 h / 72 h) is a placement with its own holdout.
- **Guardrail**: the share of orders that followed an abandonment (the shopper started a checkout between
  ``ABANDONED_AFTER`` and 7 days before ordering: a customer by account, a guest by address or number) and
  carried a discount, before and since the agent's launch, customers' and guests' orders alike. It must not rise:
  a rise means shoppers learn to abandon for a code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app.measurement.lift import Exposure, Lift, Purchase, measure
from app.measurement.stats import newcombe_difference

AGENT = "rescue"
ABANDONED_AFTER = timedelta(hours=1)
STRATEGIC_WINDOW = timedelta(days=7)
# Published figures, shown beside the shop's own measurement and labelled as what they are.
MARKET = [
    {
        "label": "Market: attributed recovery of abandoned-cart e-mails",
        "low": 0.03,
        "high": 0.05,
        "kind": "attributed (not incremental)",
    },
    {
        "label": "Claimed for AI cart-recovery agents",
        "low": 0.15,
        "high": 0.20,
        "kind": "vendor claim (attributed, not incremental)",
    },
]


@dataclass(frozen=True)
class CheckoutExposure:
    checkout: str
    customer_id: int | None  # None: a guest's checkout, matched by ``email``
    holdout: bool
    delay_h: int | None
    at: datetime
    cart_value: float = 0.0
    email: str | None = None  # a guest checkout's address, normalised
    phone: str | None = None  # a phone-only guest checkout's number (E.164)


@dataclass(frozen=True)
class OrderFact:
    customer_id: int | None  # None: a guest's order
    at: datetime
    total: float  # after discounts
    discounts: float
    checkouts_started: tuple[datetime, ...] = ()  # the shopper's checkout starts near this order
    email: str | None = None  # the order's address, normalised
    phone: str | None = None  # the order's number (E.164)


def _arm(e: CheckoutExposure) -> str:
    return f"{e.delay_h} h" if e.delay_h is not None else "unknown"


def _lift_rows(
    exposures: Sequence[CheckoutExposure], orders: Sequence[OrderFact], window_days: float, now: datetime
) -> Lift | None:
    by_customer: dict[int, list[OrderFact]] = {}
    by_email: dict[str, list[OrderFact]] = {}
    by_phone: dict[str, list[OrderFact]] = {}
    for o in orders:
        if o.customer_id is not None:
            by_customer.setdefault(o.customer_id, []).append(o)
        if o.email:
            by_email.setdefault(o.email, []).append(o)
        if o.phone:
            by_phone.setdefault(o.phone, []).append(o)

    def theirs(e: CheckoutExposure) -> list[OrderFact]:
        if e.customer_id is not None:
            return by_customer.get(e.customer_id, [])
        if e.email:
            return by_email.get(e.email, [])
        return by_phone.get(e.phone, []) if e.phone else []

    seen = [Exposure(AGENT, _arm(e), f"checkout:{e.checkout}", e.holdout, e.at) for e in exposures]
    bought = [
        Purchase(f"checkout:{e.checkout}", o.at, max(o.total, 0.0))
        for e in exposures
        for o in theirs(e)
        if o.at >= e.at
    ]
    lifts = measure(seen, bought, window_days=window_days, now=now)
    return lifts[0] if lifts else None


def _interval(lift: Lift | None) -> dict[str, float] | None:
    d = lift.conversion_diff if lift else None
    return (
        None
        if d is None
        else {"estimate": round(d.estimate, 6), "low": round(d.low, 6), "high": round(d.high, 6)}
    )


def side(lift: Lift, label: str | None, unit: str = "checkout") -> dict[str, Any]:
    """One row of the readout; ``unit`` names what was counted (``checkout``; in-session rescue: ``session``)."""
    t, h = lift.treatment, lift.holdout
    revenue = lift.revenue_diff
    n = t.shoppers
    return {
        "arm": label,
        "treated": {f"{unit}s": n, "recovered": t.converters, "recovery_rate": _rate(t.conversion_rate)},
        "holdout": {
            f"{unit}s": h.shoppers,
            "recovered": h.converters,
            "recovery_rate": _rate(h.conversion_rate),
        },
        "incremental_recovery": _interval(lift),
        "incremental_revenue": None
        if revenue is None
        else {
            f"per_{unit}": round(revenue.estimate, 4),
            "total": round(revenue.estimate * n, 2),
            "low": round(revenue.low * n, 2),
            "high": round(revenue.high * n, 2),
        },
        "verdict": {"status": lift.verdict.status, "text": lift.verdict.text},
    }


def _rate(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def guardrail(orders: Sequence[OrderFact], launch: datetime | None) -> dict[str, Any]:
    """Share of orders after an abandonment with a discount, before and since ``launch``."""

    def strategic(o: OrderFact) -> bool:
        followed = any(o.at - STRATEGIC_WINDOW <= s <= o.at - ABANDONED_AFTER for s in o.checkouts_started)
        return followed and o.discounts > 0

    def share(rows: list[OrderFact]) -> dict[str, Any]:
        k = sum(strategic(o) for o in rows)
        return {"orders": len(rows), "strategic": k, "share": round(k / len(rows), 6) if rows else None}

    before = [o for o in orders if launch is None or o.at < launch]
    since = [o for o in orders if launch is not None and o.at >= launch]
    b, s = share(before), share(since)
    change = None
    if b["orders"] and s["orders"]:
        d = newcombe_difference(s["strategic"], s["orders"], b["strategic"], b["orders"])
        if d is not None:
            change = {"estimate": round(d.estimate, 6), "low": round(d.low, 6), "high": round(d.high, 6)}
    rose = change is not None and change["low"] > 0
    return {
        "definition": (
            "orders placed 1 h to 7 days after their shopper started a checkout (a customer by account, a guest"
            " by e-mail address or number), with a discount"
        ),
        "launch": launch.isoformat() if launch else None,
        "before_launch": b,
        "since_launch": s,
        "change": change,
        "status": "rose" if rose else ("ok" if change is not None else "collecting"),
    }


def readout(
    exposures: Sequence[CheckoutExposure],
    orders: Sequence[OrderFact],
    *,
    launch: datetime | None,
    window_days: float,
    now: datetime,
    guest_orders: Sequence[OrderFact] = (),
) -> dict[str, Any]:
    """The whole rescue readout for one shop. ``orders``: the shop's orders, customers' and guests' (the
    guardrail's too); ``guest_orders``: more orders for the recovery only (not counted by the guardrail)."""
    every = [*orders, *guest_orders]
    lift = _lift_rows(exposures, every, window_days, now)
    sources = {}
    for name, rows in (
        ("customer", [e for e in exposures if e.customer_id is not None]),
        ("guest", [e for e in exposures if e.customer_id is None]),
    ):
        part = _lift_rows(rows, every, window_days, now) if rows else None
        sources[name] = side(part, None) if part is not None else None
    arms: list[dict[str, Any]] = []
    if lift is not None:
        single = lift.placements == [] and exposures
        placements = lift.placements or [lift]
        arms = sorted(
            (side(p, p.placement or (_arm(exposures[0]) if single else None)) for p in placements),
            key=lambda a: int(a["arm"].split()[0]) if (a["arm"] or "x")[0].isdigit() else 10**6,
        )
    return {
        "agent": AGENT,
        "window_days": window_days,
        "measured_at": now.isoformat(),
        "overall": side(lift, None) if lift is not None else None,
        "timing_arms": arms,
        "sources": sources,
        "open_windows": lift.open_windows if lift else 0,
        "market": MARKET,
        "guardrail": guardrail(orders, launch),
    }
