"""bulk_operations/finish: note the finished bulk operation on the shop's running sync, if any.

The sync job itself polls the operation and reads its JSONL (``app.jobs.sync``); this webhook records
Shopify's own completion notice (status, error code) so the admin can show it.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from app.models.commerce import SyncRun
from app.models.inbox import WebhookInbox
from app.models.shop import Shop


def bulk_finished(session: Session, shop: Shop, payload: dict[str, Any], event: WebhookInbox) -> None:
    run = session.exec(
        select(SyncRun)
        .where(SyncRun.shop_id == shop.id)
        .order_by(SyncRun.started_at.desc(), SyncRun.id.desc())  # type: ignore[union-attr]
    ).first()
    if run is None:
        return
    counts = dict(run.counts or {})
    finished = dict(counts.get("bulk_operations") or {})
    gid = str(payload.get("admin_graphql_api_id") or "unknown")
    finished[gid] = {"status": payload.get("status"), "error_code": payload.get("error_code")}
    counts["bulk_operations"] = finished
    run.counts = counts
    session.add(run)
