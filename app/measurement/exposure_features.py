"""What an acting agent records about a shopper when it proposes: a few numbers and labels from the profile,
as they are before any message. The uplift learner (``app.measurement.uplift``) is fitted on these, recorded
with each randomised decision, and scores new proposals with the same function."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def _value(section: dict[str, Any], name: str) -> Any:
    entry = section.get(name)
    return entry.get("value") if isinstance(entry, dict) else entry


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _days_since(iso: Any, now: datetime) -> float | None:
    if not isinstance(iso, str):
        return None
    try:
        at = datetime.fromisoformat(iso)
    except ValueError:
        return None
    return max((now - at).total_seconds() / 86400, 0.0) if at.tzinfo else None


def profile_features(
    derived: dict[str, Any] | None, explicit: dict[str, Any] | None, events: int, now: datetime
) -> dict[str, float | str | None]:
    """The shopper's features: derived scores (intent, CLV, churn risk, price sensitivity, RFM segment),
    orders, spend and days since the last order, storefront events, and whether they are known at all."""
    derived, explicit = derived or {}, explicit or {}
    orders = explicit.get("orders") if isinstance(explicit.get("orders"), dict) else {}
    rfm = _value(derived, "rfm")
    return {
        "intent": _number(_value(derived, "intent")),
        "clv": _number(_value(derived, "clv")),
        "churn_risk": _number(_value(derived, "churn_risk")),
        "price_sensitivity": _number(_value(derived, "price_sensitivity")),
        "segment": rfm if isinstance(rfm, str) else "unknown",
        "orders": float(orders.get("count") or 0),
        "spent": _number(orders.get("spent")) or 0.0,
        "days_since_order": _days_since(orders.get("last_at"), now),
        "events": float(events),
    }
