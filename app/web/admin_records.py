"""Embedded-admin records (session-token auth, every query scoped by ``g.shop.id``):

- ``GET /api/admin/customers/<shopify customer id>``: the customer record (404 when unknown here)
- ``GET /api/admin/events/failed`` and ``POST /api/admin/events/<id>/replay``: failed webhook events
- ``GET /api/admin/gdpr/exports`` and ``GET /api/admin/gdpr/exports/<id>``: data-request exports (download)
- ``GET /api/admin/sync`` (progress of the latest backfill) and ``POST /api/admin/sync`` (start one)

Shopify ids are returned as strings: they exceed JavaScript's exact integer range.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from flask import Blueprint, Response, abort, g, jsonify
from sqlmodel import Session, select

from app import tasks
from app.db import get_engine
from app.models.base import utcnow
from app.models.commerce import Customer, GdprExport
from app.profiles.explicit import live_orders, net_spend
from app.queue import enqueue
from app.stores.customer_records import spend_records
from app.stores.sync_runs import latest_run
from app.web import settings
from app.web.admin_profiles import profile_for
from app.web.session_auth import require_session_token
from webhooks.inbox_queue import failed_events as failed_inbox_events
from webhooks.inbox_queue import replay

bp = Blueprint("admin_records", __name__)

MAX_ID = 2**63 - 1


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _money(value: Any) -> str:
    return str(Decimal(str(value or 0)).quantize(Decimal("0.01")))


def _session() -> Session:
    return Session(get_engine(settings().database_url), expire_on_commit=False)


def customer_record(session: Session, shop_id: int, customer_id: int) -> dict[str, Any] | None:
    """What Attune knows about one customer of one shop, from its own mirrored orders and refunds: the live
    orders (neither cancelled nor test) and what the customer paid for them net of the money refunded, in
    the shop's currency (``app.profiles.explicit.net_spend``, as in the profile)."""
    customer = session.exec(
        select(Customer).where(Customer.shop_id == shop_id, Customer.shopify_id == customer_id)
    ).first()
    if customer is None:
        return None
    orders, refunds = spend_records(session, shop_id, customer_id)
    live = live_orders(orders, utcnow())
    live_ids = {o.order_id for o in live}
    spend = net_spend(live, refunds)
    return {
        "id": str(customer.shopify_id),
        "email": customer.email,
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "orders_count": len(live),
        "total_spent": _money(spend.spent),
        "currency": spend.currency,
        "last_order_at": _iso(max((o.at for o in live if o.at), default=None)),
        "returns_count": sum(1 for r in refunds if r.order_id in live_ids),
        "email_marketing": customer.email_consent_state,
        "sms_marketing": customer.sms_consent_state,
        "deleted": customer.deleted_at is not None,
        "shopify_summary": {
            "orders_count": customer.summary_orders_count,
            "amount_spent": _money(customer.summary_amount_spent)
            if customer.summary_amount_spent is not None
            else None,
        },
        "profile": profile_for(session, shop_id, customer_id),
    }


@bp.get("/api/admin/customers/<int:customer_id>")
@require_session_token
def customer(customer_id: int):
    if customer_id > MAX_ID:
        abort(404, description="no such customer in this shop")
    with _session() as session:
        record = customer_record(session, g.shop.id, customer_id)
    if record is None:
        abort(404, description="no such customer in this shop")
    return jsonify(record)


@bp.get("/api/admin/events/failed")
@require_session_token
def failed_events():
    with _session() as session:
        rows = failed_inbox_events(session, g.shop.id, limit=200)
    return jsonify(
        events=[
            {
                "id": r.id,
                "topic": r.topic,
                "event_id": r.event_id,
                "attempts": r.attempts,
                "error": r.error,
                "received_at": _iso(r.received_at),
            }
            for r in rows
        ]
    )


@bp.post("/api/admin/events/<int:inbox_id>/replay")
@require_session_token
def replay_event(inbox_id: int):
    if not replay([inbox_id], g.shop.id):
        abort(404, description="no failed event with this id in this shop")
    return jsonify(replayed=inbox_id), 202


@bp.get("/api/admin/gdpr/exports")
@require_session_token
def gdpr_exports():
    with _session() as session:
        rows = session.exec(
            select(GdprExport).where(GdprExport.shop_id == g.shop.id).order_by(GdprExport.id.desc())  # type: ignore[union-attr]
        ).all()
    return jsonify(
        exports=[
            {"id": r.id, "customer_id": str(r.customer_shopify_id), "created_at": _iso(r.created_at)}
            for r in rows
        ]
    )


@bp.get("/api/admin/gdpr/exports/<int:export_id>")
@require_session_token
def gdpr_export(export_id: int):
    with _session() as session:
        row = session.exec(
            select(GdprExport).where(GdprExport.shop_id == g.shop.id, GdprExport.id == export_id)
        ).first()
    if row is None:
        abort(404, description="no such export in this shop")
    return Response(
        row.document,
        mimetype="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="customer-{row.customer_shopify_id}-export.json"'
        },
    )


@bp.get("/api/admin/sync")
@require_session_token
def sync_progress():
    with _session() as session:
        run = latest_run(session, g.shop.id)
    if run is None:
        return jsonify(status="never", counts={})
    return jsonify(
        id=run.id,
        kind=run.kind,
        status=run.status,
        resource=run.resource,
        counts=run.counts or {},
        error=run.error,
        started_at=_iso(run.started_at),
        finished_at=_iso(run.finished_at),
    )


@bp.post("/api/admin/sync")
@require_session_token
def start_sync():
    shop_id = g.shop.id
    if not enqueue(settings().redis_url, tasks.SYNC_SHOP, shop_id, queue="low", meta={"shop_id": shop_id}):
        abort(503, description="the job queue is unavailable; try again")
    return jsonify(status="queued"), 202
