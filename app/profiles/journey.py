"""A shopper's journey stage, from their profile, with the reason (issue 21).

Stages, in the order the admin shows them: new visitor, browsing, comparing, carting, checking out, first-time
buyer, repeat buyer, lapsing, lost. The stage is a pure function of the profile (behavioural section folded
from pixel events, explicit section from orders) and the clock, so it moves with every event and order and a
nightly pass moves buyers into lapsing and lost:

1. checking out: a checkout step in the last ``ACTIVE_HOURS`` and no order since;
2. carting: something added to the cart in the last ``ACTIVE_HOURS``, still in it, no order since;
3. buyers: lost after ``max(LOST_DAYS, 4 × their usual gap)`` without an order, lapsing after
   ``max(LAPSING_DAYS, 2 × gap)`` (or sooner when the churn model is sure), else repeat or first-time buyer;
4. others: lost when not seen for ``LOST_DAYS`` … comparing when they viewed two products of one type (or
   came back to one) in the last ``COMPARE_DAYS``, browsing after a second product view or session, else new.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from app.profiles.vocabulary import CHECKOUT_EVENTS

STAGES: tuple[str, ...] = (
    "new_visitor",
    "browsing",
    "comparing",
    "carting",
    "checking_out",
    "first_time_buyer",
    "repeat_buyer",
    "lapsing",
    "lost",
)
LABELS = {s: s.replace("_", " ").capitalize() for s in STAGES} | {"first_time_buyer": "First-time buyer"}
ACTIVE_HOURS = 48
COMPARE_DAYS = 7
LAPSING_DAYS = 60
LOST_DAYS = 180
SURE_CHURN = 0.8


@dataclass(frozen=True)
class Stage:
    stage: str
    explanation: str

    @property
    def label(self) -> str:
        return LABELS[self.stage]


def _at(text: Any) -> datetime | None:
    if not text:
        return None
    try:
        at = datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _ago(now: datetime, then: datetime) -> str:
    seconds = max((now - then).total_seconds(), 0.0)
    if seconds < 3600:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} days ago"


def _usual_gap_days(orders: dict[str, Any], first: datetime | None, last: datetime | None) -> float | None:
    count = int(orders.get("count") or 0)
    if count < 2 or first is None or last is None:
        return None
    return (last - first).total_seconds() / 86400 / (count - 1)


def _buyer_stage(profile: dict[str, Any], orders: dict[str, Any], now: datetime) -> Stage:
    count = int(orders.get("count") or 0)
    first, last = _at(orders.get("first_at")), _at(orders.get("last_at"))
    days = (now - last).total_seconds() / 86400 if last else 0.0
    gap = _usual_gap_days(orders, first, last)
    usual = f"usually every {gap:.0f} days" if gap else "one order so far"
    churn = ((profile.get("derived") or {}).get("churn_risk") or {}).get("value")
    if days > max(LOST_DAYS, 4 * (gap or 0)):
        return Stage("lost", f"last order {days:.0f} days ago ({usual}); no order since")
    if days > max(LAPSING_DAYS, 2 * (gap or 0)) or (
        isinstance(churn, int | float) and churn >= SURE_CHURN and days > 30
    ):
        risk = f", churn risk {churn:.0%}" if isinstance(churn, int | float) else ""
        return Stage("lapsing", f"last order {days:.0f} days ago ({usual}{risk})")
    if count >= 2:
        return Stage("repeat_buyer", f"{count} orders, the last {days:.0f} days ago ({usual})")
    return Stage("first_time_buyer", f"first order {days:.0f} days ago")


def stage_of(profile: dict[str, Any] | None, now: datetime) -> Stage:
    """The shopper's stage now, with its reason."""
    profile = profile or {}
    b = profile.get("behavioural") or {}
    orders = (profile.get("explicit") or {}).get("orders") or {}
    last_order = _at(orders.get("last_at"))
    steps = {name: _at(at) for name, at in ((b.get("funnel") or {}).get("step_at") or {}).items()}
    completed = steps.get("checkout_completed")
    done = max((t for t in (last_order, completed) if t is not None), default=None)
    active = now - timedelta(hours=ACTIVE_HOURS)

    def open_since(at: datetime | None) -> bool:
        return at is not None and at >= active and (done is None or at > done)

    checkout = max((t for n, t in steps.items() if n in CHECKOUT_EVENTS and n != "checkout_completed" and t),
                   default=None)  # fmt: skip
    if open_since(checkout):
        return Stage("checking_out", f"started checking out {_ago(now, checkout)} and has not ordered since")
    cart_items = sum(v for v in ((b.get("cart") or {}).get("items") or {}).values() if isinstance(v, int))
    added = steps.get("product_added_to_cart")
    if open_since(added) and cart_items > 0:
        return Stage(
            "carting", f"added to the cart {_ago(now, added)}; {cart_items} item(s) in it, no order since"
        )
    if int(orders.get("count") or 0) > 0:
        return _buyer_stage(profile, orders, now)
    last_seen = _at(b.get("last_seen"))
    if last_seen is not None and now - last_seen > timedelta(days=LOST_DAYS):
        return Stage("lost", f"never ordered; last visit {_ago(now, last_seen)}")
    recent = now - timedelta(days=COMPARE_DAYS)
    viewed = [
        e
        for e in (b.get("products") or {}).values()
        if (_at(e.get("last")) or now) >= recent and e.get("views")
    ]
    by_type: dict[str, int] = {}
    for e in viewed:
        if e.get("type"):
            by_type[e["type"]] = by_type.get(e["type"], 0) + 1
    ptype, same = max(by_type.items(), key=lambda kv: (kv[1], kv[0]), default=("", 0))
    if same >= 2:
        return Stage("comparing", f"viewed {same} {ptype} products in the last {COMPARE_DAYS} days")
    again = [e for e in viewed if e.get("views", 0) >= 2]
    if again:
        title = again[0].get("title") or "a product"
        return Stage(
            "comparing", f"came back to {title} ({again[0]['views']} views) in the last {COMPARE_DAYS} days"
        )
    views = sum(int(e.get("views") or 0) for e in (b.get("products") or {}).values())
    sessions = int(b.get("sessions") or 0)
    if views >= 2 or sessions >= 2:
        return Stage("browsing", f"{views} product view(s) over {sessions} visit(s), nothing in the cart")
    return Stage(
        "new_visitor", "first visit" if sessions <= 1 else f"{sessions} visits, no product viewed yet"
    )
