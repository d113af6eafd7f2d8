"""Embedded-admin lift: ``GET /api/admin/lift?window_days=7&days=90`` for the authenticated shop only.

Reads the shop's served-list log (first exposure per shopper × agent × placement × group, aggregated in SQL),
resolves each subject to its shopper through the identity links (a client id stitched to a customer counts
as that customer), attributes orders to shoppers by customer id or by cart/checkout token, nets refunds off,
and hands plain rows to ``app.measurement.lift``. Every query is scoped by ``g.shop.id``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from flask import Blueprint, g, jsonify, request
from sqlalchemy import func, literal, or_
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from app.db import session_scope
from app.measurement.lift import DEFAULT_WINDOW_DAYS, Exposure, Purchase, measure
from app.models.base import utcnow
from app.models.commerce import Order, Refund
from app.models.events import IdentityLink
from app.models.messaging import MessageDecision
from app.models.serving import HoldoutPolicy, ServedList
from app.storefront.holdout import DEFAULT_SHARE, GLOBAL
from app.stores.catalog import shop_currency
from app.web import settings
from app.web.session_auth import require_session_token

bp = Blueprint("admin_lift", __name__)

MAX_WINDOW_DAYS = 90
MAX_DAYS = 365
DEFAULT_DAYS = 90


def _node(kind: Any, value: Any) -> Any:
    """SQL for an identity node ``kind:value`` (``||`` works on SQLite and PostgreSQL)."""
    return kind.concat(":").concat(value) if not isinstance(kind, str) else literal(kind + ":").concat(value)


def exposures(session: Session, shop_id: int, since: datetime) -> list[Exposure]:
    """First exposure per agent × placement × shopper × group since ``since``; a subject is resolved to its
    shopper (identity root) in the same query, so a stitched client and its customer are one shopper."""
    link = aliased(IdentityLink)
    shopper = func.coalesce(link.root, _node(ServedList.subject_kind, ServedList.subject))
    stmt = (
        select(
            ServedList.agent,
            ServedList.placement,
            shopper,
            ServedList.holdout,
            func.min(ServedList.served_at),
        )
        .select_from(ServedList)
        .join(
            link,
            (link.shop_id == shop_id) & (link.node == _node(ServedList.subject_kind, ServedList.subject)),
            isouter=True,
        )
        .where(ServedList.shop_id == shop_id, ServedList.served_at >= since, ServedList.subject != "")
        .group_by(ServedList.agent, ServedList.placement, shopper, ServedList.holdout)
    )
    return [
        Exposure(agent, placement, who, bool(held), at)
        for agent, placement, who, held, at in session.execute(stmt)
    ]


MESSAGES = "messages"  # an acting agent's messages: placement ``<channel>_messages`` per intended channel
NOT_RECORDED = "channel_not_recorded"  # decisions made before the intended channel was recorded


def message_placement(intended_channel: str | None) -> str:
    """The lift placement of a decision: its intended channel's messages (``email_messages``, or
    ``none_messages`` when the policy found no channel it could use for the shopper)."""
    return f"{intended_channel}_{MESSAGES}" if intended_channel else NOT_RECORDED


def message_exposures(session: Session, shop_id: int, since: datetime) -> list[Exposure]:
    """First decision per acting agent × intended channel × shopper × arm since ``since``, every decision
    counted (intention to treat: the arm is drawn before consent, quiet hours or the budget are looked at, so a
    treated shopper whose message was then suppressed still counts as treated). The placement is the channel
    the policy would use for the shopper (``intended_channel``), read for both arms before the arm is applied:
    the held-out shoppers of ``email_messages`` are those who would have been e-mailed, so each channel's
    treated and held-out groups are alike but for the message. Decisions made before it was recorded are
    kept together under ``channel_not_recorded`` (their held-out shoppers have no channel to compare on)."""
    link = aliased(IdentityLink)
    shopper = func.coalesce(link.root, MessageDecision.shopper_key)
    stmt = (
        select(
            MessageDecision.agent,
            MessageDecision.intended_channel,
            shopper,
            MessageDecision.arm,
            func.min(MessageDecision.decided_at),
        )
        .select_from(MessageDecision)
        .join(link, (link.shop_id == shop_id) & (link.node == MessageDecision.shopper_key), isouter=True)
        .where(MessageDecision.shop_id == shop_id, MessageDecision.decided_at >= since)
        .group_by(MessageDecision.agent, MessageDecision.intended_channel, shopper, MessageDecision.arm)
    )
    return [
        Exposure(agent, message_placement(channel), who, arm == "holdout", at)
        for agent, channel, who, arm, at in session.execute(stmt)
    ]


def purchases(session: Session, shop_id: int, shoppers: Iterable[str], since: datetime) -> list[Purchase]:
    """Orders (not cancelled, not test) placed since ``since`` by these shoppers, net of their refunds: by
    customer id, else by the shopper their checkout or cart token is stitched to.

    Revenue is Shopify's ``total_price`` in shop money (after discounts, before returns) less the money the
    order's refunds gave back (their successful transactions), never below 0. Only amounts in the shop's
    currency are added: an order in another one (a shop that changed currency) still converts, with no
    revenue, and a refund in another currency than its order's is not taken off it."""
    shoppers = set(shoppers)
    if not shoppers:
        return []
    currency = shop_currency(session, shop_id)
    refunded = (
        select(func.sum(Refund.amount))
        .where(
            Refund.shop_id == shop_id,
            Refund.order_shopify_id == Order.shopify_id,
            or_(Refund.currency.is_(None), Order.currency.is_(None), Refund.currency == Order.currency),  # type: ignore[union-attr]
        )
        .correlate(Order)
        .scalar_subquery()
    )
    by_checkout, by_cart = aliased(IdentityLink), aliased(IdentityLink)
    placed_at = func.coalesce(Order.processed_at, Order.shopify_created_at)
    stmt = (
        select(
            Order.customer_shopify_id,
            func.coalesce(by_checkout.root, by_cart.root),
            Order.total_price,
            Order.currency,
            placed_at,
            refunded,
        )
        .select_from(Order)
        .join(
            by_checkout,
            (by_checkout.shop_id == shop_id) & (by_checkout.node == _node("checkout", Order.checkout_token)),
            isouter=True,
        )
        .join(
            by_cart,
            (by_cart.shop_id == shop_id) & (by_cart.node == _node("cart", Order.cart_token)),
            isouter=True,
        )
        .where(
            Order.shop_id == shop_id,
            Order.cancelled_at.is_(None),  # type: ignore[union-attr]
            Order.test == False,  # noqa: E712
            placed_at >= since,
        )
    )
    out = []
    for customer_id, token_root, total, order_currency, at, refund in session.execute(stmt):
        shopper = f"customer:{customer_id}" if customer_id is not None else None
        if shopper not in shoppers:
            shopper = token_root
        if shopper not in shoppers or at is None:
            continue
        net = Decimal(str(total or 0)) - Decimal(str(refund or 0))
        revenue = max(float(net), 0.0) if order_currency in (None, currency) else 0.0
        out.append(Purchase(shopper, at, revenue))
    return out


def holdout_shares(session: Session, shop_id: int, agents: Iterable[str]) -> list[dict[str, Any]]:
    """Each agent's holdout share: its stored policy, or the default the storefront applies without one."""
    stored = {
        row.agent: row
        for row in session.exec(select(HoldoutPolicy).where(HoldoutPolicy.shop_id == shop_id)).all()
        if row.agent != GLOBAL
    }
    return [
        {
            "agent": agent,
            "share": stored[agent].share if agent in stored else DEFAULT_SHARE,
            "default": agent not in stored,
            "updated_at": stored[agent].updated_at.isoformat() if agent in stored else None,
        }
        for agent in sorted(set(agents) | set(stored))
    ]


def shop_lift(
    session: Session, shop_id: int, *, window_days: int, days: int, now: datetime
) -> dict[str, Any]:
    """The whole measurement for one shop, as the API returns it."""
    since = now - timedelta(days=days)
    seen = exposures(session, shop_id, since) + message_exposures(session, shop_id, since)
    bought = purchases(session, shop_id, {e.shopper for e in seen}, since)
    acting = {e.agent for e in seen if e.placement.endswith(MESSAGES) or e.placement == NOT_RECORDED}
    lifts = measure(seen, bought, window_days=window_days, now=now, split=acting)
    shares = holdout_shares(session, shop_id, [lift.agent for lift in lifts])
    share_of = {s["agent"]: s["share"] for s in shares}
    return {
        "window_days": window_days,
        "days": days,
        "since": since.isoformat(),
        "measured_at": now.isoformat(),
        "agents": [
            {**_with_channels(lift.as_dict(), acting), "holdout_share": share_of.get(lift.agent)}
            for lift in lifts
        ],
        "holdout_policies": shares,
    }


def _with_channels(lift: dict[str, Any], acting: set[str]) -> dict[str, Any]:
    """An acting agent's placements name their channel (``channel``: ``email`` …, ``none``, or None for
    decisions made before it was recorded)."""
    if lift["agent"] not in acting:
        return lift
    for p in lift["placements"]:
        suffix = "_" + MESSAGES
        p["channel"] = p["placement"][: -len(suffix)] if p["placement"].endswith(suffix) else None
    return lift


def _int_arg(name: str, default: int, high: int) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return default
    raw = raw.strip()
    return int(raw) if raw.isdigit() and 1 <= int(raw) <= high else None


@bp.get("/api/admin/lift")
@require_session_token
def lift() -> Any:
    """Incremental lift per agent (and placement) against the holdout, with 95% intervals and a verdict."""
    window_days = _int_arg("window_days", DEFAULT_WINDOW_DAYS, MAX_WINDOW_DAYS)
    days = _int_arg("days", DEFAULT_DAYS, MAX_DAYS)
    if window_days is None or days is None:
        return (
            jsonify(
                error="invalid_window",
                message=f"window_days is a whole number 1..{MAX_WINDOW_DAYS}, days 1..{MAX_DAYS}",
            ),
            400,
        )
    with session_scope(settings().database_url) as session:
        body = shop_lift(session, g.shop.id, window_days=window_days, days=days, now=utcnow())
    return jsonify(body)
