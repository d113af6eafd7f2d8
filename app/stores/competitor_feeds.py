"""A shop's competitors (feed URL or uploaded file, alert threshold, the last refresh's report) and the undercut
alerts it was sent (each once). No commits; scoped by shop."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlmodel import Session, select

from app.agents.competitors import Offer, OurVariant
from app.models.pricing import CompetitorAlert, CompetitorFeed, CompetitorPrice

DEFAULT_ALERT_PCT = 5.0


def feed(session: Session, shop_id: int, competitor: str) -> CompetitorFeed | None:
    return session.exec(
        select(CompetitorFeed).where(
            CompetitorFeed.shop_id == shop_id, CompetitorFeed.competitor == competitor
        )
    ).first()


def feeds(session: Session, shop_id: int) -> list[CompetitorFeed]:
    return list(
        session.exec(
            select(CompetitorFeed)
            .where(CompetitorFeed.shop_id == shop_id)
            .order_by(CompetitorFeed.competitor)
        ).all()
    )


def url_feeds(session: Session, shop_id: int) -> list[str]:
    return [f.competitor for f in feeds(session, shop_id) if f.url]


def save_feed(
    session: Session, shop_id: int, competitor: str, *, url: str | None = None, alert_pct: float | None = None,
    keep_url: bool = False,
) -> CompetitorFeed:  # fmt: skip
    """Create or update one competitor; ``keep_url`` leaves a stored URL alone (a file upload)."""
    row = feed(session, shop_id, competitor) or CompetitorFeed(
        shop_id=shop_id, competitor=competitor, alert_pct=DEFAULT_ALERT_PCT
    )
    if not keep_url:
        row.url = url
    if alert_pct is not None:
        row.alert_pct = alert_pct
    session.add(row)
    session.flush()
    return row


def delete_feed(session: Session, shop_id: int, competitor: str) -> bool:
    row = feed(session, shop_id, competitor)
    if row is None:
        return False
    for price in session.exec(
        select(CompetitorPrice).where(
            CompetitorPrice.shop_id == shop_id, CompetitorPrice.competitor == competitor
        )
    ).all():
        session.delete(price)
    session.delete(row)
    return True


def record_refresh(
    session: Session, shop_id: int, competitor: str, at: datetime, status: str, report: dict[str, Any],
    error: str | None = None,
) -> None:  # fmt: skip
    row = save_feed(session, shop_id, competitor, keep_url=True)
    row.last_fetched_at, row.last_status, row.last_report = at, status, report
    row.last_error = error[:500] if error else None
    session.add(row)


def thresholds(session: Session, shop_id: int) -> dict[str, float]:
    """Each competitor's alert threshold as a share (5 % → 0.05)."""
    return {f.competitor: f.alert_pct / 100 for f in feeds(session, shop_id)}


def record_alerts(
    session: Session, shop_id: int, found: Sequence[tuple[OurVariant, Offer, float]], at: datetime
) -> list[CompetitorAlert]:
    """The undercuts not alerted before (same competitor item, variant and both prices); returns the new ones."""
    if not found:
        return []
    known = {
        (a.competitor, a.item_id, a.variant_id, a.our_price, a.their_price)
        for a in session.exec(select(CompetitorAlert).where(CompetitorAlert.shop_id == shop_id)).all()
    }
    new = []
    for v, o, cut in found:
        ours, theirs = Decimal(f"{v.price:.2f}"), Decimal(f"{o.price:.2f}")
        key = (o.competitor, o.item_id, v.variant_id, ours, theirs)
        if key in known:
            continue
        known.add(key)
        row = CompetitorAlert(shop_id=shop_id, competitor=o.competitor, item_id=o.item_id, variant_id=v.variant_id,
                              our_price=ours, their_price=theirs, gap=cut, created_at=at)  # fmt: skip
        session.add(row)
        new.append(row)
    session.flush()
    return new


def alerts(session: Session, shop_id: int, limit: int = 100) -> list[CompetitorAlert]:
    return list(
        session.exec(
            select(CompetitorAlert)
            .where(CompetitorAlert.shop_id == shop_id)
            .order_by(CompetitorAlert.created_at.desc(), CompetitorAlert.id.desc())  # type: ignore[attr-defined]
            .limit(limit)
        ).all()
    )


def unmailed(session: Session, shop_id: int) -> list[CompetitorAlert]:
    return list(
        session.exec(
            select(CompetitorAlert)
            .where(CompetitorAlert.shop_id == shop_id, CompetitorAlert.mailed_at.is_(None))  # type: ignore[union-attr]
            .order_by(CompetitorAlert.gap.desc(), CompetitorAlert.id)  # type: ignore[attr-defined]
        ).all()
    )


def claim_unmailed(session: Session, shop_id: int, at: datetime) -> list[CompetitorAlert]:
    """The alerts not yet mailed, marked mailed at ``at`` (the claim, committed before the e-mail is sent). Two
    runs at once claim disjoint alerts: PostgreSQL locks the rows it reads (another run skips them); SQLite's
    transaction takes the write lock before it reads."""
    query = (
        select(CompetitorAlert)
        .where(CompetitorAlert.shop_id == shop_id, CompetitorAlert.mailed_at.is_(None))  # type: ignore[union-attr]
        .order_by(CompetitorAlert.gap.desc(), CompetitorAlert.id)  # type: ignore[attr-defined]
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    else:
        session.exec(text("UPDATE pricing_competitor_alert SET mailed_at = mailed_at WHERE 0"))
    rows = list(session.exec(query).all())
    for a in rows:
        a.mailed_at = at
        session.add(a)
    session.flush()
    return rows


def unclaim(session: Session, shop_id: int, ids: Sequence[int]) -> int:
    """The e-mail claimed for ``ids`` did not go out: its alerts are unmailed again (the next run sends them)."""
    rows = session.exec(
        select(CompetitorAlert).where(
            CompetitorAlert.shop_id == shop_id,
            CompetitorAlert.id.in_(list(ids)),  # type: ignore[union-attr]
        )
    ).all()
    for a in rows:
        a.mailed_at = None
        session.add(a)
    return len(rows)
