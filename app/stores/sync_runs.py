"""A shop's sync runs (``sync_run``): the latest, for the admin, and the start of the last good one, from
which a reconciliation asks Shopify for what changed. Read-only."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from app.models.commerce import SyncRun


def last_good_start(session: Session, shop_id: int) -> datetime | None:
    run = session.exec(
        select(SyncRun)
        .where(SyncRun.shop_id == shop_id, SyncRun.status == "done")
        .order_by(SyncRun.started_at.desc())  # type: ignore[union-attr]
    ).first()
    return run.started_at if run else None


def latest_run(session: Session, shop_id: int) -> SyncRun | None:
    return session.exec(
        select(SyncRun)
        .where(SyncRun.shop_id == shop_id)
        .order_by(SyncRun.started_at.desc(), SyncRun.id.desc())  # type: ignore[union-attr]
    ).first()
