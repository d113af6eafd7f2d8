"""The write-back log (``shopify_writeback``): one row per customer and kind, asked for (``pending``), then
``done``, ``skipped`` (scope not granted) or ``failed``, with the reason. No commits."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from app.models.base import utcnow
from app.models.writeback import WB_PENDING, WB_SKIPPED, ShopifyWriteback


def request(session: Session, shop_id: int, customer_id: int, kind: str, now: datetime | None = None) -> None:
    """Ask for a write-back (a second ask while one is pending or done just makes it pending again)."""
    now = now or utcnow()
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = insert(ShopifyWriteback.__table__).values(  # type: ignore[attr-defined]
        shop_id=shop_id,
        customer_shopify_id=customer_id,
        kind=kind,
        status=WB_PENDING,
        detail="",
        attempts=0,
        requested_at=now,
        updated_at=now,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["shop_id", "customer_shopify_id", "kind"],
        set_={"status": WB_PENDING, "requested_at": now, "updated_at": now},
    )
    session.execute(stmt)


def get(session: Session, shop_id: int, customer_id: int, kind: str) -> ShopifyWriteback | None:
    return session.exec(
        select(ShopifyWriteback)
        .where(
            ShopifyWriteback.shop_id == shop_id,
            ShopifyWriteback.customer_shopify_id == customer_id,
            ShopifyWriteback.kind == kind,
        )
        .execution_options(populate_existing=True)
    ).first()


def record(
    session: Session, shop_id: int, customer_id: int, kind: str, status: str, detail: str = "", now=None
) -> ShopifyWriteback:
    """Record the outcome of one write-back attempt."""
    now = now or utcnow()
    row = get(session, shop_id, customer_id, kind) or ShopifyWriteback(
        shop_id=shop_id, customer_shopify_id=customer_id, kind=kind
    )
    row.status, row.detail, row.updated_at = status, detail[:2000], now
    row.attempts += 1
    if status != WB_PENDING and status != WB_SKIPPED:
        row.done_at = now
    session.add(row)
    return row


def skipped(session: Session, shop_id: int, limit: int = 5000) -> list[tuple[int, str]]:
    """(customer id, kind) of the shop's write-backs skipped for want of a scope, oldest first."""
    rows = session.exec(
        select(ShopifyWriteback.customer_shopify_id, ShopifyWriteback.kind)
        .where(ShopifyWriteback.shop_id == shop_id, ShopifyWriteback.status == WB_SKIPPED)
        .order_by(ShopifyWriteback.requested_at)
        .limit(limit)
    ).all()
    return [(int(c), str(k)) for c, k in rows]


def counts(session: Session, shop_id: int) -> dict[str, dict[str, int]]:
    """kind → status → rows, for the admin."""
    out: dict[str, Counter[str]] = {}
    for kind, status in session.exec(
        select(ShopifyWriteback.kind, ShopifyWriteback.status).where(ShopifyWriteback.shop_id == shop_id)
    ).all():
        out.setdefault(kind, Counter())[status] += 1
    return {k: dict(v) for k, v in out.items()}
