"""The back-in-stock job's reads and writes (``app.jobs.back_in_stock``) and the admin's counts (issue 19): which
variants to look at, who holds a unit, who is next in line, each request as its decision leaves it, expiries and
conversions. Every query is scoped by ``shop_id``. No commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, text, update
from sqlmodel import Session, select

from app.agents.back_in_stock import (
    AGENT,
    ATTRIBUTION,
    HOLD,
    MAX_SUPPRESSIONS,
    REQUEST_LIFE,
    Waiting,
    request_id_of,
)
from app.catalog.stock import variant_stock
from app.models.back_in_stock import EXPIRED, HELD_OUT, NOTIFIED, SUPPRESSED, WAITING, BackInStockRequest
from app.models.commerce import Order, OrderLine, Product, ProductVariant
from app.models.messaging import PENDING, OutboxMessage
from app.orchestrator.proposal import Action, Decision, Shopper
from app.stores.outbox import cancel


def lock_shop(session: Session, shop_id: int) -> None:
    """One teller per shop until the transaction ends (PostgreSQL; SQLite has one writer at a time)."""
    if session.get_bind().dialect.name == "postgresql":
        session.exec(
            text("SELECT pg_advisory_xact_lock(:shop, hashtext('back-in-stock'))").bindparams(shop=shop_id)
        )


def shops_waiting(session: Session) -> list[int]:
    return list(
        session.exec(
            select(BackInStockRequest.shop_id).where(BackInStockRequest.status == WAITING).distinct()
        ).all()
    )


def has_waiting(session: Session, shop_id: int) -> bool:
    """Whether a stock update matters to the job: requests wait, or a deferred message is still unsent."""
    waiting = session.exec(
        select(BackInStockRequest.id)
        .where(BackInStockRequest.shop_id == shop_id, BackInStockRequest.status == WAITING)
        .limit(1)
    ).first()
    return waiting is not None or bool(_unsent(session, shop_id, limit=1))


def _unsent(session: Session, shop_id: int, limit: int | None = None) -> list[OutboxMessage]:
    query = select(OutboxMessage).where(
        OutboxMessage.shop_id == shop_id, OutboxMessage.agent == AGENT, OutboxMessage.status == PENDING
    )
    return list(session.exec(query.limit(limit) if limit else query).all())


def recall_sold_out(session: Session, shop_id: int, stock: dict[int, int | None], now: datetime) -> int:
    """Unsent (deferred) messages about a variant that is at 0 or below again are cancelled and their requests
    go back in line, in their old place, under a new round; returns how many."""
    by_request = {request_id_of(r.dedupe_key): r for r in _unsent(session, shop_id)}
    by_request.pop(None, None)
    if not by_request:
        return 0
    recalled = 0
    for req in session.exec(
        select(BackInStockRequest).where(
            BackInStockRequest.shop_id == shop_id,
            BackInStockRequest.id.in_(sorted(by_request)),  # type: ignore[union-attr]
            BackInStockRequest.status == NOTIFIED,
        )
    ).all():
        units = stock.get(req.variant_shopify_id)
        if units is None or units > 0:
            continue
        if cancel(session, by_request[req.id], "sold out again before it was sent", now):
            req.status, req.round_no, req.notified_at, req.outbox_id = WAITING, req.round_no + 1, None, None
            req.last_reason, req.updated_at = (
                "its message was recalled: sold out again before it was sent",
                now,
            )
            session.add(req)
            recalled += 1
    return recalled


def expire(session: Session, shop_id: int, now: datetime) -> int:
    """Waiting requests older than ``REQUEST_LIFE`` expire."""
    result = session.exec(
        update(BackInStockRequest)
        .where(
            BackInStockRequest.shop_id == shop_id,
            BackInStockRequest.status == WAITING,
            BackInStockRequest.requested_at < now - REQUEST_LIFE,
        )
        .values(status=EXPIRED, last_reason="no restock within the request's life", updated_at=now)
    )  # type: ignore[call-overload]
    return result.rowcount or 0


def mark_conversions(session: Session, shop_id: int, now: datetime) -> int:
    """Told (not held out) requests whose shopper ordered the variant within ``ATTRIBUTION`` of the message (by
    customer id, or by the order's e-mail for an e-mail request)."""
    told = session.exec(
        select(BackInStockRequest).where(
            BackInStockRequest.shop_id == shop_id,
            BackInStockRequest.status == NOTIFIED,
            BackInStockRequest.converted_at.is_(None),  # type: ignore[union-attr]
            BackInStockRequest.notified_at >= now - ATTRIBUTION - HOLD,
        )
    ).all()
    if not told:
        return 0
    placed = func.coalesce(Order.processed_at, Order.shopify_created_at)
    rows = session.exec(
        select(OrderLine.variant_shopify_id, Order.customer_shopify_id, Order.email, placed)
        .join(
            OrderLine, (OrderLine.shop_id == Order.shop_id) & (OrderLine.order_shopify_id == Order.shopify_id)
        )
        .where(
            Order.shop_id == shop_id,
            Order.test.is_(False),  # type: ignore[attr-defined]
            Order.cancelled_at.is_(None),  # type: ignore[union-attr]
            OrderLine.variant_shopify_id.in_(sorted({r.variant_shopify_id for r in told})),  # type: ignore[union-attr]
            placed >= min(r.notified_at for r in told if r.notified_at),
        )
    ).all()
    count = 0
    for r in told:
        for variant, customer, email, at in rows:
            mine = (r.customer_shopify_id is not None and customer == r.customer_shopify_id) or (
                r.channel == "email" and email is not None and email.strip().lower() == r.address.lower()
            )
            if (
                variant == r.variant_shopify_id
                and mine
                and at
                and r.notified_at <= at <= r.notified_at + ATTRIBUTION
            ):
                r.converted_at, r.updated_at = at, now
                session.add(r)
                count += 1
                break
    return count


def restock_candidates(session: Session, shop_id: int) -> dict[int, int | None]:
    """Variant id → units available now, for every variant of the shop with waiting requests or unsent
    messages."""
    ids = set(
        session.exec(
            select(BackInStockRequest.variant_shopify_id)
            .where(BackInStockRequest.shop_id == shop_id, BackInStockRequest.status == WAITING)
            .distinct()
        ).all()
    )
    unsent = [i for i in (request_id_of(r.dedupe_key) for r in _unsent(session, shop_id)) if i is not None]
    if unsent:
        ids |= set(
            session.exec(
                select(BackInStockRequest.variant_shopify_id).where(
                    BackInStockRequest.shop_id == shop_id,
                    BackInStockRequest.id.in_(sorted(unsent)),  # type: ignore[union-attr]
                )
            ).all()
        )
    if not ids:
        return {}
    variants = session.exec(
        select(ProductVariant).where(
            ProductVariant.shop_id == shop_id, ProductVariant.shopify_id.in_(sorted(ids))
        )  # type: ignore[attr-defined]
    ).all()
    return variant_stock(session, shop_id, variants)


def outstanding(session: Session, shop_id: int, variant_id: int, now: datetime) -> int:
    """Shoppers told (or held out) about the variant within ``HOLD`` who have not bought it yet."""
    return session.exec(
        select(func.count()).where(
            BackInStockRequest.shop_id == shop_id,
            BackInStockRequest.variant_shopify_id == variant_id,
            BackInStockRequest.status.in_((NOTIFIED, HELD_OUT)),  # type: ignore[attr-defined]
            BackInStockRequest.notified_at > now - HOLD,
            BackInStockRequest.converted_at.is_(None),  # type: ignore[union-attr]
        )
    ).one()


def waiting(
    session: Session, shop_id: int, variant_id: int, skip: Sequence[int], limit: int
) -> list[BackInStockRequest]:
    """The next ``limit`` waiting requests for the variant in line order (first asked first), but ``skip``."""
    query = select(BackInStockRequest).where(
        BackInStockRequest.shop_id == shop_id,
        BackInStockRequest.variant_shopify_id == variant_id,
        BackInStockRequest.status == WAITING,
    )
    if skip:
        query = query.where(BackInStockRequest.id.not_in(sorted(skip)))  # type: ignore[union-attr]
    return list(
        session.exec(
            query.order_by(BackInStockRequest.requested_at, BackInStockRequest.id).limit(limit)
        ).all()
    )


def as_waiting(row: BackInStockRequest) -> Waiting:
    if row.customer_shopify_id is not None:
        shopper = Shopper(customer_id=row.customer_shopify_id)
    else:
        shopper = Shopper(client_id=row.client_id)
    address = None if row.channel == "push" else row.address
    return Waiting(row.id or 0, shopper, row.channel, address, row.requested_at, row.round_no)


def settle(
    session: Session, rows: Sequence[BackInStockRequest], decisions: Sequence[Decision], now: datetime
) -> int:
    """Each request as its decision leaves it; returns how many took a place (told, deferred or held out)."""
    taken = 0
    for row, d in zip(rows, decisions, strict=True):
        row.updated_at, row.last_reason = now, d.reason[:280]
        if d.action in (Action.SEND, Action.DEFER, Action.HOLD_OUT):
            row.status = HELD_OUT if d.action is Action.HOLD_OUT else NOTIFIED
            row.notified_at = now
            taken += 1
        else:
            row.suppressions += 1
            if row.suppressions >= MAX_SUPPRESSIONS:
                row.status = SUPPRESSED
        session.add(row)
    return taken


def mark_already_told(session: Session, rows: Sequence[BackInStockRequest], now: datetime) -> None:
    """Requests whose message was decided before (a rerun that found their dedupe key taken)."""
    for row in rows:
        row.status, row.notified_at, row.updated_at = NOTIFIED, row.notified_at or now, now
        session.add(row)


# --- the admin -------------------------------------------------------------------------------------------------


def stats(session: Session, shop_id: int) -> list[dict[str, object]]:
    """Per variant: requests waiting, told, held out, converted (of the told), and the conversion rate."""
    rows = session.exec(
        select(
            BackInStockRequest.variant_shopify_id,
            BackInStockRequest.product_shopify_id,
            BackInStockRequest.status,
            func.count(),
            func.count(BackInStockRequest.converted_at),
        )
        .where(BackInStockRequest.shop_id == shop_id)
        .group_by(
            BackInStockRequest.variant_shopify_id,
            BackInStockRequest.product_shopify_id,
            BackInStockRequest.status,
        )
    ).all()
    out: dict[int, dict[str, object]] = {}
    for variant, product, status, n, converted in rows:
        item = out.setdefault(
            variant,
            {
                "variant_id": variant,
                "product_id": product,
                WAITING: 0,
                NOTIFIED: 0,
                HELD_OUT: 0,
                SUPPRESSED: 0,
                EXPIRED: 0,
                "converted": 0,
            },  # fmt: skip
        )
        item[status] = int(n)
        if status == NOTIFIED:
            item["converted"] = int(converted)
    titles = _titles(session, shop_id, sorted(out))
    for variant, item in out.items():
        item["title"] = titles.get(variant, f"Variant {variant}")
    for item in out.values():
        told = int(item[NOTIFIED])  # type: ignore[arg-type]
        item["conversion_rate"] = round(int(item["converted"]) / told, 4) if told else None  # type: ignore[arg-type]
    return sorted(out.values(), key=lambda i: (-int(i[WAITING]), int(i["variant_id"])))  # type: ignore[arg-type]


def _titles(session: Session, shop_id: int, variant_ids: list[int]) -> dict[int, str]:
    if not variant_ids:
        return {}
    rows = session.exec(
        select(ProductVariant.shopify_id, ProductVariant.title, Product.title)
        .join(
            Product,
            (Product.shop_id == ProductVariant.shop_id)
            & (Product.shopify_id == ProductVariant.product_shopify_id),
        )
        .where(ProductVariant.shop_id == shop_id, ProductVariant.shopify_id.in_(variant_ids))  # type: ignore[attr-defined]
    ).all()
    return {v: (p or "") + (f" – {t}" if t and t != "Default Title" else "") for v, t, p in rows}
