"""One shop's model parameters and the data they are fitted on.

- ``load_scorers``: the stored parameters, parsed once per process and reused while the stored
  (version, fitted_at) is the one cached (one small query per job);
- ``save_params``: store newly fitted parameters; the same parameters keep their version (idempotent fits);
- the training data, gathered in bulk from the commerce and event tables: purchases per customer, catalogue
  prices, finished storefront sessions and product views.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from app.models.commerce import Order, OrderLine, Product, ProductVariant, Refund
from app.models.events import PixelEvent
from app.models.profiles import CustomerProfile
from app.models.shop_models import ShopModelParams
from app.profiles.adapters import affinity_touches
from app.profiles.derived import Scorers
from app.profiles.explicit import OrderLineRec, OrderRec, RefundRec, purchase_days, recent_lines
from app.profiles.shop_params import ShopParams, TrainingSession
from app.profiles.state import SESSION_GAP_S, ProfileEvent, apply_events

SESSION_LOOKBACK = timedelta(days=90)
MAX_TRAINING_EVENTS = 100_000
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
            RefundRec(
                r.order_shopify_id, r.processed_at or r.shopify_created_at, _money(r.amount), 0, r.currency
            )
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


def save_params(
    session: Session, shop_id: int, params: ShopParams, now: datetime, customers: int
) -> tuple[ShopModelParams, bool]:
    """Store fitted parameters; returns (row, whether they changed). Unchanged parameters keep the row as it is.
    No commit."""
    new = params.to_dict()
    row = session.exec(select(ShopModelParams).where(ShopModelParams.shop_id == shop_id)).first()
    if row is not None and _same(row.params, new):
        return row, False
    if row is None:
        row = ShopModelParams(shop_id=shop_id, version=1)
    else:
        row.version += 1
    row.params, row.fitted_at = new, now
    row.customers, row.sessions = customers, params.intent_sessions
    session.add(row)
    session.flush()
    return row, True


def _same(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Parameters equal apart from when they were fitted."""
    strip = lambda d: {k: v for k, v in d.items() if k != "fitted_at"}  # noqa: E731
    return strip(old) == strip(new)
