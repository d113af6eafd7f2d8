"""Refresh one profile from the commerce mirror: stitch tokens, explicit section, derived scores. No commits.

Shared by the profile jobs (``refresh_profile``) and the shop rescore (``rescore_shop``).
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from app.identity import customer_id_of, kind_of
from app.models.base import utcnow
from app.profiles.derived import Scorers, derive
from app.profiles.explicit import summarize
from app.profiles.feedback import summarize_reviews, summarize_support, summarize_wishlist
from app.profiles.journey import stage_of
from app.profiles.state import empty_profile
from app.stores.customer_records import (
    customer_orders,
    explicit_records,
    review_records,
    stitch_orders,
    support_records,
    wishlist_records,
)
from app.stores.identity import resolve
from app.stores.journey import save_stages
from app.stores.profiles import load_profile, save_profile, state_of
from app.stores.shop_models import load_scorers


def refresh_in_session(
    session: Session, shop_id: int, customer_key: str, *, scorers: Scorers | None = None
) -> dict[str, Any]:
    """Stitch, rebuild the explicit section, rescore with the shop's stored parameters (or ``scorers``)."""
    now = utcnow()
    key = resolve(session, shop_id, customer_key)
    explicit: dict[str, Any] = {}
    if kind_of(key) == "customer":
        orders = customer_orders(session, shop_id, customer_id_of(key) or 0)
        stitch_orders(session, shop_id, key, orders)
        explicit = summarize(*explicit_records(session, shop_id, key, orders), now=now)
        explicit["reviews"] = summarize_reviews(review_records(session, shop_id, customer_id_of(key) or 0))
    row = load_profile(session, shop_id, key)
    state = state_of(row) or empty_profile()
    explicit = explicit or dict(state.get("explicit") or {})
    turns = support_records(session, shop_id, key)
    if turns or kind_of(key) == "customer" or "support" in explicit:
        explicit["support"] = summarize_support(turns)
    saved = wishlist_records(session, shop_id, key)
    if saved or kind_of(key) == "customer" or "wishlist" in explicit:
        explicit["wishlist"] = summarize_wishlist(saved)
    state["explicit"] = explicit
    state["derived"] = derive(state, now, scorers or load_scorers(session, shop_id))
    save_profile(session, shop_id, key, row, state)
    save_stages(session, shop_id, [(key, stage_of(state, now))], now)
    return {"customer_key": key, "orders": (explicit.get("orders") or {}).get("count", 0)}
