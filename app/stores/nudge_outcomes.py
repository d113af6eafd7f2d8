"""In-session rescue's outcomes: the sessions it decided on (treated and held out) and which of them converted
within ``WINDOW``; per rung, the randomised evidence the ladder chooses by once there is enough. Scoped by shop."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from app.agents.nudge import RungEvidence
from app.measurement.nudge import SessionExposure
from app.models.commerce import Order
from app.models.events import PixelEvent
from app.models.nudge import NudgeSession
from app.stores.nudge import evidence_cache

WINDOW = timedelta(days=7)


def rung_evidence(session: Session, shop_id: int, now: datetime) -> dict[str, RungEvidence]:
    """Per rung: decided sessions, treated and held out, whose 7-day window has closed, and how many converted
    (cached per process for a few minutes)."""

    def load() -> dict[str, RungEvidence]:
        rows = decided_sessions(session, shop_id, now - timedelta(days=365), until=now - WINDOW)
        bought = converted(session, shop_id, rows)
        counts: dict[str, list[int]] = {}
        for r in rows:
            if r.rung is None:
                continue
            c = counts.setdefault(r.rung, [0, 0, 0, 0])
            k = 2 if r.holdout else 0
            c[k] += 1
            c[k + 1] += r.id in bought
        return {rung: RungEvidence(*c) for rung, c in counts.items()}

    return evidence_cache.get(shop_id, load)


def decided_sessions(
    session: Session, shop_id: int, since: datetime, until: datetime | None = None
) -> list[NudgeSession]:
    q = select(NudgeSession).where(
        NudgeSession.shop_id == shop_id,
        NudgeSession.decided_at.is_not(None),
        NudgeSession.decided_at >= since,
        NudgeSession.action.in_(["show", "hold_out"]),
    )
    if until is not None:
        q = q.where(NudgeSession.decided_at < until)
    return list(session.exec(q).all())


def converted(
    session: Session, shop_id: int, rows: Sequence[NudgeSession]
) -> dict[int, tuple[datetime, float]]:
    """Session id → (first purchase at, its total) within ``WINDOW`` of the decision (or, undecided, of the
    session's start): an order of the signed-in
    customer or carrying the session's cart token, or the pixel's ``checkout_completed`` from its browser."""
    if not rows:
        return {}
    since = min(_start(r) for r in rows)
    customers = {r.customer_shopify_id for r in rows if r.customer_shopify_id}
    carts = {r.cart_token for r in rows if r.cart_token}
    clients = {r.client_id for r in rows if r.client_id}
    by_customer: dict[int, list[tuple[datetime, float]]] = {}
    by_cart: dict[str, list[tuple[datetime, float]]] = {}
    if customers or carts:
        orders = session.exec(
            select(Order.customer_shopify_id, Order.cart_token, Order.processed_at, Order.total_price).where(
                Order.shop_id == shop_id, Order.processed_at >= since
            )
        ).all()
        for cust, cart, at, total in orders:
            if at is None:
                continue
            if cust in customers:
                by_customer.setdefault(cust, []).append((at, float(total or 0)))
            if cart in carts:
                by_cart.setdefault(cart, []).append((at, float(total or 0)))
    by_client: dict[str, list[tuple[datetime, float]]] = {}
    if clients:
        for client, at, data in session.exec(
            select(PixelEvent.client_id, PixelEvent.occurred_at, PixelEvent.data).where(
                PixelEvent.shop_id == shop_id,
                PixelEvent.name == "checkout_completed",
                PixelEvent.client_id.in_(sorted(clients)),
                PixelEvent.occurred_at >= since,
            )
        ).all():
            total = ((data or {}).get("checkout") or {}).get("totalPrice") if isinstance(data, dict) else None
            by_client.setdefault(client, []).append((at, float(total or 0) if _number(total) else 0.0))
    out: dict[int, tuple[datetime, float]] = {}
    for r in rows:
        start = _start(r)
        found = [
            *by_customer.get(r.customer_shopify_id or -1, ()),
            *by_cart.get(r.cart_token or "", ()),
            *by_client.get(r.client_id or "", ()),
        ]
        inside = sorted(x for x in found if start <= x[0] <= start + WINDOW)
        if inside:
            out[r.id or 0] = inside[0]
    return out


def _start(row: NudgeSession) -> datetime:
    """Where a session's window starts: its decision, else (a session nobody decided on) its start."""
    return row.decided_at or row.started_at


def untreated_sessions(
    session: Session, shop_id: int, since: datetime, until: datetime
) -> list[NudgeSession]:
    """Sessions started in [since, until) that saw no nudge (held out, or never decided on): the risk layer's
    training data, so the nudge's own effect does not leak into the risk."""
    return list(
        session.exec(
            select(NudgeSession).where(
                NudgeSession.shop_id == shop_id,
                NudgeSession.started_at >= since,
                NudgeSession.started_at < until,
                (NudgeSession.action.is_(None)) | (NudgeSession.action != "show"),
            )
        ).all()
    )


def _number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def in_session_exposures(
    session: Session, shop_id: int, since: datetime
) -> tuple[list[SessionExposure], dict[str, tuple[datetime, float]]]:
    """The decided sessions since ``since`` as exposures, and each converted one's first purchase."""
    rows = decided_sessions(session, shop_id, since)
    bought = converted(session, shop_id, rows)
    by_id = {r.id: r.session_key for r in rows}
    exposures = [
        SessionExposure(r.session_key, r.holdout, r.rung, r.decided_at)
        for r in rows
        if r.decided_at is not None
    ]
    return exposures, {by_id[i]: v for i, v in bought.items() if i in by_id}
