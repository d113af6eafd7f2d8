"""Per-shop model fitting and rescoring: worker jobs, never on the request path.

- ``fit_shop_models(shop_id)``: gathers the shop's purchases (orders net of refunds, lines with catalogue data),
  its finished storefront sessions and browsing, fits the parameters (``app.profiles.shop_params.fit_params``,
  every part shrunk toward its prior) and stores them in ``shop_model_params``. Same data -> same parameters and
  the same version (idempotent); new parameters bump the version and queue ``rescore_shop``.
- ``rescore_shop(shop_id)``: refreshes every known customer's explicit section from the commerce tables and
  recomputes every profile's derived section with the stored parameters.
- ``fit_all_shops()``: nightly, one fit per installed shop. ``enqueue_fit_after_commit`` for a finished backfill.
- ``load_scorers(session, shop_id)``: the stored parameters, parsed once per process and reused while the
  stored version is the one cached (one small query per job).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from app.config import get_settings
from app.db import after_commit, session_scope
from app.jobs.profiles import StaleProfile, load_profile, save_profile, state_of
from app.models.base import utcnow
from app.models.commerce import Order, OrderLine, Product, ProductVariant, Refund
from app.models.events import PixelEvent
from app.models.profiles import CustomerProfile
from app.models.shop import Shop
from app.models.shop_models import ShopModelParams
from app.profiles.adapters import affinity_touches, purchase_history, purchase_lines, rfm_input
from app.profiles.derived import Scorers, derive_many, global_intent
from app.profiles.explicit import OrderLineRec, OrderRec, RefundRec, purchase_days, recent_lines
from app.profiles.shop_params import ShopParams, TrainingSession, fit_params
from app.profiles.state import SESSION_GAP_S, ProfileEvent, apply_events, empty_profile
from app.queue import enqueue

log = logging.getLogger(__name__)
FIT_JOB = "app.jobs.shop_models.fit_shop_models"
RESCORE_JOB = "app.jobs.shop_models.rescore_shop"
SESSION_LOOKBACK = timedelta(days=90)
MAX_TRAINING_EVENTS = 100_000
CHUNK = 200
_CACHE: dict[int, tuple[tuple[int, str], Scorers]] = {}
_CACHE_CAP = 1024


# --- cached parameters ---------------------------------------------------------------------------


def load_scorers(session: Session, shop_id: int) -> Scorers:
    """The shop's scorers: priors before its first fit; otherwise its stored parameters, re-parsed only when
    the stored (version, fitted_at) differs from the one this process holds."""
    stamp_row = session.exec(
        select(ShopModelParams.version, ShopModelParams.fitted_at).where(ShopModelParams.shop_id == shop_id)
    ).first()
    if stamp_row is None:
        return Scorers.build()
    stamp = (int(stamp_row[0]), stamp_row[1].isoformat())
    cached = _CACHE.get(shop_id)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    row = session.exec(select(ShopModelParams).where(ShopModelParams.shop_id == shop_id)).one()
    scorers = Scorers.build(ShopParams.from_dict(row.params, row.version))
    if len(_CACHE) >= _CACHE_CAP:
        _CACHE.clear()
    _CACHE[shop_id] = (stamp, scorers)
    return scorers


# --- gathering the shop's data -------------------------------------------------------------------


def _money(value: Any) -> float:
    return float(value) if value is not None else 0.0


def _tags(text: str | None) -> tuple[str, ...]:
    return tuple(t.strip()[:60] for t in (text or "").split(",") if t.strip())


def purchase_profiles(session: Session, shop_id: int) -> dict[int, dict[str, Any]]:
    """Per customer: the explicit ``history`` and ``lines`` their profile would carry, built in bulk from the
    commerce tables (the same functions as ``app.profiles.explicit``)."""
    orders = session.exec(
        select(Order).where(
            Order.shop_id == shop_id,
            Order.customer_shopify_id.is_not(None),  # type: ignore[union-attr]
            Order.test == False,  # noqa: E712
            Order.cancelled_at.is_(None),  # type: ignore[union-attr]
        )
    ).all()
    if not orders:
        return {}
    products = {
        p.shopify_id: p for p in session.exec(select(Product).where(Product.shop_id == shop_id)).all()
    }
    compare_at = {
        v.shopify_id: _money(v.compare_at_price) or None
        for v in session.exec(select(ProductVariant).where(ProductVariant.shop_id == shop_id)).all()
    }
    lines: dict[int, list[OrderLineRec]] = defaultdict(list)
    for ln in session.exec(select(OrderLine).where(OrderLine.shop_id == shop_id)).all():
        product = products.get(ln.product_shopify_id) if ln.product_shopify_id else None
        lines[ln.order_shopify_id].append(
            OrderLineRec(
                product_id=ln.product_shopify_id,
                variant_id=ln.variant_shopify_id,
                title=None,
                quantity=ln.quantity,
                price=_money(ln.price) if ln.price is not None else None,
                discount=_money(ln.total_discount),
                vendor=product.vendor if product else None,
                product_type=product.product_type if product else None,
                compare_at_price=compare_at.get(ln.variant_shopify_id) if ln.variant_shopify_id else None,
                tags=_tags(product.tags) if product else (),
            )
        )
    refunds: dict[int, list[RefundRec]] = defaultdict(list)
    for r in session.exec(select(Refund).where(Refund.shop_id == shop_id)).all():
        refunds[r.order_shopify_id].append(
            RefundRec(r.order_shopify_id, r.processed_at or r.shopify_created_at, _money(r.amount), 0)
        )
    per_customer: dict[int, list[OrderRec]] = defaultdict(list)
    for o in orders:
        per_customer[int(o.customer_shopify_id)].append(  # type: ignore[arg-type]
            OrderRec(
                order_id=o.shopify_id,
                name=None,
                at=o.processed_at or o.shopify_created_at,
                currency=o.currency,
                total=_money(o.total_price),
                discounts=_money(o.total_discounts),
                cancelled=False,
                lines=lines.get(o.shopify_id, []),
            )
        )
    out = {}
    for cid, recs in per_customer.items():
        live = sorted((o for o in recs if o.at is not None), key=lambda o: (o.at, o.order_id))
        own_refunds = [r for o in live for r in refunds.get(o.order_id, [])]
        out[cid] = {"explicit": {"history": purchase_days(live, own_refunds), "lines": recent_lines(live)}}
    return out


def catalog_prices(session: Session, shop_id: int) -> dict[str, list[float]]:
    rows = session.exec(
        select(Product.product_type, ProductVariant.price)
        .join(
            ProductVariant,
            (ProductVariant.shop_id == Product.shop_id)
            & (ProductVariant.product_shopify_id == Product.shopify_id),  # type: ignore[arg-type]
        )
        .where(Product.shop_id == shop_id, Product.product_type.is_not(None))  # type: ignore[union-attr]
    ).all()
    out: dict[str, list[float]] = defaultdict(list)
    for category, price in rows:
        if category and price is not None:
            out[category].append(float(price))
    return dict(out)


def training_sessions(session: Session, shop_id: int, now: datetime) -> list[TrainingSession]:
    """The shop's finished sessions of the last 90 days (most recent MAX_TRAINING_EVENTS events), each
    folded on its own up to its first purchase; sessions still open (active in the last 30 minutes) wait."""
    rows = session.exec(
        select(PixelEvent)
        .where(PixelEvent.shop_id == shop_id, PixelEvent.occurred_at >= now - SESSION_LOOKBACK)
        .order_by(PixelEvent.occurred_at.desc(), PixelEvent.id.desc())  # type: ignore[attr-defined]
        .limit(MAX_TRAINING_EVENTS)
    ).all()
    by_client: dict[str, list[ProfileEvent]] = defaultdict(list)
    for r in rows:
        by_client[r.client_id].append(
            ProfileEvent(r.event_id, r.name, r.occurred_at, r.client_id, r.data or {}, r.context or {})
        )
    out: list[TrainingSession] = []
    open_after = now - timedelta(seconds=SESSION_GAP_S)
    for client in sorted(by_client):
        events = sorted(by_client[client], key=lambda e: (e.ts, e.event_id))
        sessions: list[list[ProfileEvent]] = []
        for e in events:
            if not sessions or (e.ts - sessions[-1][-1].ts).total_seconds() > SESSION_GAP_S:
                sessions.append([])
            sessions[-1].append(e)
        for n, evs in enumerate(sessions):
            if evs[-1].ts > open_after:
                continue
            bought = next((i for i, e in enumerate(evs) if e.name == "checkout_completed"), None)
            before = evs if bought is None else evs[:bought]
            if not before:
                continue
            out.append(TrainingSession(apply_events(None, before), bought is not None, n > 0))
    return out


def view_touches(session: Session, shop_id: int) -> list[tuple[str, str, float]]:
    """Browsing touches (category / vendor of viewed and carted products) of every profile of the shop."""
    out: list[tuple[str, str, float]] = []
    last_id = 0
    while True:
        rows = session.exec(
            select(CustomerProfile.id, CustomerProfile.behavioural)
            .where(CustomerProfile.shop_id == shop_id, CustomerProfile.id > last_id)
            .order_by(CustomerProfile.id)
            .limit(1000)
        ).all()
        if not rows:
            return out
        for pid, behavioural in rows:
            last_id = pid
            out += [(k, key, w) for k, key, _, w in affinity_touches({"behavioural": behavioural or {}})]


# --- jobs ----------------------------------------------------------------------------------------


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
    new = params.to_dict()
    row = session.exec(select(ShopModelParams).where(ShopModelParams.shop_id == shop_id)).first()
    if row is not None and _same(row.params, new):
        return row, False
    if row is None:
        row = ShopModelParams(shop_id=shop_id, version=1)
    else:
        row.version += 1
    row.params, row.fitted_at = new, now
    row.customers, row.sessions = len(histories), params.intent_sessions
    session.add(row)
    session.flush()
    return row, True


def _same(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Parameters equal apart from when they were fitted."""
    strip = lambda d: {k: v for k, v in d.items() if k != "fitted_at"}  # noqa: E731
    return strip(old) == strip(new)


def fit_shop_models(shop_id: int) -> dict[str, Any]:
    """RQ job: fit the shop's parameters; when they changed, rescore its profiles (after commit)."""
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        if session.get(Shop, shop_id) is None:
            return {"shop_id": shop_id, "fitted": False}
        row, changed = fit_in_session(session, shop_id, utcnow())
        if changed:
            after_commit(
                session,
                lambda: enqueue(
                    settings.redis_url, RESCORE_JOB, shop_id, queue="low", job_id=f"rescore-shop-{shop_id}"
                ),
            )
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
    from app.jobs.profile_refresh import refresh_in_session

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
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        shops = session.exec(
            select(Shop.id).where(Shop.access_token_enc.is_not(None), Shop.uninstalled_at.is_(None))  # type: ignore[union-attr]
        ).all()
    return sum(
        enqueue(settings.redis_url, FIT_JOB, shop_id, queue="low", job_id=f"fit-shop-{shop_id}")
        for shop_id in shops
    )


def enqueue_fit_after_commit(session: Session, shop_id: int) -> None:
    """For the backfill: fit the shop's models once the transaction that finishes the backfill commits."""
    redis_url = get_settings().redis_url
    after_commit(
        session, lambda: enqueue(redis_url, FIT_JOB, shop_id, queue="low", job_id=f"fit-shop-{shop_id}")
    )
