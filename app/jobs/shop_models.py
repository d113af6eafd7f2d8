"""Per-shop model fitting and rescoring: worker jobs, never on the request path.

- ``fit_shop_models(shop_id)``: gathers the shop's purchases (orders net of refunds, lines with catalogue data),
  its finished storefront sessions and browsing (``app.stores.shop_models``), fits the parameters
  (``app.profiles.shop_params.fit_params``, every part shrunk toward its prior) and stores them. Same data ->
  same parameters and the same version (idempotent); new parameters bump the version and queue ``rescore_shop``.
- ``rescore_shop(shop_id)``: refreshes every known customer's explicit section from the commerce tables and
  recomputes every profile's derived section with the stored parameters.
- ``fit_all_shops()``: nightly, one fit per installed shop.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from app import tasks
from app.config import get_settings
from app.db import after_commit, session_scope
from app.jobs.fan_out import for_each_installed_shop
from app.jobs.profile_refresh import refresh_in_session
from app.models.base import utcnow
from app.models.commerce import Order
from app.models.profiles import CustomerProfile
from app.models.shop import Shop
from app.models.shop_models import ShopModelParams
from app.profiles.adapters import affinity_touches, purchase_history, purchase_lines, rfm_input
from app.profiles.derived import derive_many, global_intent
from app.profiles.shop_params import fit_params
from app.profiles.state import empty_profile
from app.stores.profiles import StaleProfile, load_profile, save_profile, state_of
from app.stores.shop_models import (
    catalog_prices,
    load_scorers,
    purchase_profiles,
    save_params,
    training_sessions,
    view_touches,
)

CHUNK = 200  # profiles rescored per transaction


def fit_in_session(session: Session, shop_id: int, now: datetime) -> tuple[ShopModelParams, bool]:
    """Fit and store the shop's parameters; returns (row, whether the parameters changed). No commit."""
    customers = purchase_profiles(session, shop_id)
    histories, rfm_rows, lines, touches = [], [], [], []
    for cid, profile in sorted(customers.items()):
        h = purchase_history(profile, now, str(cid))
        r = rfm_input(profile, now, str(cid))
        if h is not None:
            histories.append(h)
        if r is not None:
            rfm_rows.append(r)
        lines += purchase_lines(profile, str(cid))
        touches += [(k, key, w) for k, key, _, w in affinity_touches(profile)]
    touches += view_touches(session, shop_id)
    sessions = training_sessions(session, shop_id, now)
    params = fit_params(
        histories=histories,
        rfm_inputs=rfm_rows,
        lines=lines,
        catalog_prices=catalog_prices(session, shop_id),
        touches=touches,
        sessions=sessions,
        global_model=global_intent()[0],
        now=now,
    )
    return save_params(session, shop_id, params, now, customers=len(histories))


def fit_shop_models(shop_id: int) -> dict[str, Any]:
    """RQ job: fit the shop's parameters; when they changed, rescore its profiles (after commit)."""
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        if session.get(Shop, shop_id) is None:
            return {"shop_id": shop_id, "fitted": False}
        row, changed = fit_in_session(session, shop_id, utcnow())
        if changed:
            redis_url = settings.redis_url
            after_commit(session, lambda: tasks.rescore_shop(redis_url, shop_id))
        return {
            "shop_id": shop_id,
            "fitted": True,
            "changed": changed,
            "version": row.version,
            "customers": row.customers,
            "sessions": row.sessions,
        }


def rescore_shop(shop_id: int) -> dict[str, int]:
    """RQ job: refresh every known customer's explicit section and recompute every profile's derived
    section with the stored parameters. Idempotent; a profile another job updated meanwhile is skipped (that
    job scored it with the same parameters)."""
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        buyers = set(
            session.exec(
                select(Order.customer_shopify_id)
                .where(Order.shop_id == shop_id, Order.customer_shopify_id.is_not(None), Order.test == False)  # type: ignore[union-attr]  # noqa: E712
                .distinct()
            ).all()
        )
        keys = set(
            session.exec(select(CustomerProfile.customer_key).where(CustomerProfile.shop_id == shop_id)).all()
        )
    keys |= {f"customer:{int(c)}" for c in buyers}
    ordered = sorted(keys)
    done = skipped = 0
    for start in range(0, len(ordered), CHUNK):
        with session_scope(settings.database_url) as session:
            scorers = load_scorers(session, shop_id)
            now = utcnow()
            pending = []
            for key in ordered[start : start + CHUNK]:
                if key.startswith("customer:"):
                    try:
                        refresh_in_session(session, shop_id, key, scorers=scorers)
                        done += 1
                    except StaleProfile:
                        skipped += 1
                    continue
                row = load_profile(session, shop_id, key)
                if row is not None:
                    pending.append((key, row, state_of(row) or {**empty_profile(), "explicit": row.explicit}))
            for (key, row, state), derived in zip(
                pending, derive_many([p[2] for p in pending], now, scorers), strict=True
            ):
                state["derived"] = derived
                try:
                    save_profile(session, shop_id, key, row, state)
                    done += 1
                except StaleProfile:
                    skipped += 1
    return {"profiles": done, "skipped": skipped}


def fit_all_shops() -> int:
    """Nightly: queue a fit for every installed shop (low queue). Returns how many."""
    return for_each_installed_shop(tasks.fit_shop_models)
