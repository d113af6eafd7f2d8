"""What the admin sees of a profile: the sections, the funnel read at ``now``, and top products."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from app.profiles.state import parse_iso
from app.profiles.vocabulary import FUNNEL_RANK

ABANDON_AFTER = timedelta(minutes=30)


def funnel_summary(behavioural: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The furthest step of the journey since the last completed checkout, and whether it was abandoned."""
    step_at: dict[str, str] = (behavioural.get("funnel") or {}).get("step_at") or {}
    completed_at = step_at.get("checkout_completed", "")
    open_steps = {s: at for s, at in step_at.items() if at > completed_at and s != "checkout_completed"}
    last = max(step_at.items(), key=lambda kv: kv[1], default=(None, None))
    if not open_steps:
        return {
            "last_step": last[0],
            "last_step_at": last[1],
            "furthest_open_step": None,
            "abandoned_at": None,
        }
    furthest = max(open_steps, key=lambda s: FUNNEL_RANK[s])
    last_activity = behavioural.get("last_seen")
    idle = last_activity is not None and now - parse_iso(last_activity) > ABANDON_AFTER
    return {
        "last_step": last[0],
        "last_step_at": last[1],
        "furthest_open_step": furthest,
        "abandoned_at": furthest
        if idle and FUNNEL_RANK[furthest] >= FUNNEL_RANK["product_added_to_cart"]
        else None,
    }


def public_profile(row: Any, now: datetime) -> dict[str, Any]:
    behavioural = dict(row.behavioural or {})
    products = behavioural.get("products") or {}
    behavioural["top_products"] = [
        {"product_id": pid, **entry}
        for pid, entry in sorted(
            products.items(), key=lambda kv: (-kv[1]["dwell_s"], -kv[1]["views"], kv[0])
        )[:10]
    ]
    if behavioural:
        behavioural["funnel_summary"] = funnel_summary(behavioural, now)
    return {
        "customer_key": row.customer_key,
        "customer_id": row.customer_shopify_id,
        "event_count": row.event_count,
        "last_seen_at": row.last_seen_at.isoformat() if row.last_seen_at else None,
        "scores": {
            "intent": row.intent,
            "clv": row.clv,
            "churn_risk": row.churn_risk,
            "rfm_segment": row.rfm_segment,
        },
        "explicit": row.explicit or {},
        "behavioural": behavioural,
        "contextual": row.contextual or {},
        "derived": row.derived or {},
    }
