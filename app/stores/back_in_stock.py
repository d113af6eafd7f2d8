"""Back-in-stock requests (issue 19): record a shopper's "notify me" (validated, idempotent, rate-limited),
and the reads and writes of the job that tells them (``app.jobs.back_in_stock``) and of the admin. Every query
is scoped by ``shop_id``. No commits.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, text, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.agents.back_in_stock import ATTRIBUTION, HOLD, MAX_SUPPRESSIONS, REQUEST_LIFE, Waiting
from app.catalog.stock import variant_stock
from app.channels.sms_text import InvalidNumber, e164
from app.models.back_in_stock import (
    EXPIRED,
    HELD_OUT,
    NOTIFIED,
    SUPPRESSED,
    WAITING,
    WITHDRAWN,
    BackInStockRequest,
)
from app.models.commerce import Order, OrderLine, Product, ProductVariant
from app.orchestrator.proposal import Action, Decision, Shopper
from app.stores.push import subscribed_keys

CHANNELS = ("email", "sms", "push")
PER_SHOPPER_HOUR = 10  # requests one shopper (or one address) may make in an hour
PER_SHOP_HOUR = 500  # requests one shop takes in an hour: a flood past it is refused, not stored
MAX_EMAIL = 254
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
CONSENT_TEXT = "Asked to be told once, on this channel, when this variant is back in stock."


class RequestRefused(ValueError):
    """A request that is not recorded, with the HTTP status that says why (400, 404, 409, 429)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def valid_email(raw: object) -> str:
    """The address, trimmed and in lower case; ``RequestRefused(400)`` when it is not one."""
    address = raw.strip() if isinstance(raw, str) else ""
    local, at, domain = address.rpartition("@")
    labels = domain.split(".")
    if (
        not at
        or len(address) > MAX_EMAIL
        or not _LOCAL.match(local)
        or local.startswith(".")
        or local.endswith(".")
        or ".." in local
        or len(labels) < 2
        or not all(_LABEL.match(x) for x in labels)
        or labels[-1].isdigit()
    ):
        raise RequestRefused(400, "enter a valid e-mail address, like name@example.com")
    return f"{local}@{domain}".lower()  # one request per mailbox, however it is typed


def valid_phone(raw: object, region: str | None = None) -> str:
    try:
        return e164(raw if isinstance(raw, str) else "", region)
    except InvalidNumber as exc:
        raise RequestRefused(
            400, "enter a valid mobile number with its country code, like +1 415 555 0123"
        ) from exc


def anonymous_client(channel: str, address: str) -> str:
    """The shopper key of someone known only by the address they gave: one per address, so the contact budget
    and the holdout follow the person across variants."""
    return "bis-" + hashlib.sha256(f"{channel}:{address}".encode()).hexdigest()[:40]


@dataclass(frozen=True)
class Asked:
    request: BackInStockRequest
    created: bool


def record_request(
    session: Session,
    shop_id: int,
    variant_id: int,
    channel: str,
    address: object,
    now: datetime,
    *,
    customer_id: int | None = None,
    client_id: str | None = None,
    region: str | None = None,
    source: str = "theme",
    locale: str | None = None,
) -> Asked:
    """Record (or find) the request of ``channel`` + ``address`` for a sold-out variant. ``RequestRefused``: bad
    channel or address (400), unknown variant (404), in stock or push not turned on (409), too many (429)."""
    if channel not in CHANNELS:
        raise RequestRefused(400, f"channel must be one of {', '.join(CHANNELS)}")
    variant = session.exec(
        select(ProductVariant).where(
            ProductVariant.shop_id == shop_id, ProductVariant.shopify_id == variant_id
        )
    ).first()
    if variant is None:
        raise RequestRefused(404, "no such variant in this shop")
    units = variant_stock(session, shop_id, [variant]).get(variant_id)
    if units is None or units > 0:
        raise RequestRefused(409, "this variant is in stock: it can be bought now")
    if channel == "email":
        address = valid_email(address)
    elif channel == "sms":
        address = valid_phone(address, region)
    if customer_id is not None:
        shopper = Shopper(customer_id=customer_id)
    elif channel == "push":
        if not client_id:
            raise RequestRefused(400, "push needs the browser's client_id")
        shopper = Shopper(client_id=client_id)
    else:
        shopper = Shopper(client_id=anonymous_client(channel, str(address)))
    if channel == "push":
        if shopper.key not in subscribed_keys(session, shop_id, [shopper.key]):
            raise RequestRefused(409, "turn on notifications for this shop first")
        address = shopper.key
    existing = _find(session, shop_id, variant_id, channel, str(address))
    if existing is not None and existing.status in (WAITING, SUPPRESSED):
        return Asked(existing, False)
    _rate_limit(session, shop_id, shopper.key, now)
    if existing is not None:  # told (or expired) before and sold out again: a new request on the same row
        existing.status, existing.requested_at, existing.suppressions = WAITING, now, 0
        existing.notified_at = existing.outbox_id = existing.converted_at = existing.last_reason = None
        existing.updated_at = now
        session.add(existing)
        return Asked(existing, True)
    row = BackInStockRequest(
        shop_id=shop_id,
        variant_shopify_id=variant_id,
        product_shopify_id=variant.product_shopify_id,
        channel=channel,
        address=str(address),
        shopper_key=shopper.key,
        customer_shopify_id=customer_id,
        client_id=shopper.client_id,
        source=source,
        consent_text=CONSENT_TEXT,
        locale=(locale or None) and locale[:16],
        requested_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # the same request, recorded by a concurrent one
        found = _find(session, shop_id, variant_id, channel, str(address))
        if found is None:
            raise
        return Asked(found, False)
    return Asked(row, True)


def _find(
    session: Session, shop_id: int, variant_id: int, channel: str, address: str
) -> BackInStockRequest | None:
    return session.exec(
        select(BackInStockRequest).where(
            BackInStockRequest.shop_id == shop_id,
            BackInStockRequest.variant_shopify_id == variant_id,
            BackInStockRequest.channel == channel,
            BackInStockRequest.address == address,
        )
    ).first()


def _rate_limit(session: Session, shop_id: int, shopper_key: str, now: datetime) -> None:
    since = now - timedelta(hours=1)
    recent = select(func.count()).where(
        BackInStockRequest.shop_id == shop_id, BackInStockRequest.requested_at >= since
    )
    if session.exec(recent.where(BackInStockRequest.shopper_key == shopper_key)).one() >= PER_SHOPPER_HOUR:
        raise RequestRefused(429, f"at most {PER_SHOPPER_HOUR} requests an hour: try again later")
    if session.exec(recent).one() >= PER_SHOP_HOUR:
        raise RequestRefused(429, "this shop is taking too many requests right now: try again later")


# --- the job ---------------------------------------------------------------------------------------------------


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
    return (
        session.exec(
            select(BackInStockRequest.id)
            .where(BackInStockRequest.shop_id == shop_id, BackInStockRequest.status == WAITING)
            .limit(1)
        ).first()
        is not None
    )


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
    """Variant id → units available now, for every variant of the shop with waiting requests."""
    ids = session.exec(
        select(BackInStockRequest.variant_shopify_id)
        .where(BackInStockRequest.shop_id == shop_id, BackInStockRequest.status == WAITING)
        .distinct()
    ).all()
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
    return Waiting(row.id or 0, shopper, row.channel, address, row.requested_at)


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


def redact_address(session: Session, shop_id: int, email: str | None, phone: str | None) -> int:
    """Delete the requests made with an erased customer's e-mail or phone (``customers/redact``)."""
    conditions = []
    if email:
        conditions.append(
            (BackInStockRequest.channel == "email") & (BackInStockRequest.address == email.strip().lower())
        )
    if phone:
        conditions.append(
            (BackInStockRequest.channel == "sms") & (BackInStockRequest.address == phone.strip())
        )
    if not conditions:
        return 0
    found = session.exec(
        select(BackInStockRequest).where(BackInStockRequest.shop_id == shop_id, or_(*conditions))
    ).all()
    for row in found:
        session.delete(row)
    return len(found)


def waiting_for(session: Session, shop_id: int, channel: str, address: str) -> bool:
    """Whether ``address`` still has requests that may be told (the unsubscribe page's state)."""
    return (
        session.exec(
            select(BackInStockRequest.id).where(
                BackInStockRequest.shop_id == shop_id,
                BackInStockRequest.channel == channel,
                BackInStockRequest.address == address,
                BackInStockRequest.status == WAITING,
            )
        ).first()
        is not None
    )


def forget_requests(session: Session, shop_id: int, channel: str, address: str) -> int:
    """The address unsubscribed: its waiting requests are withdrawn (never told)."""
    result = session.exec(
        update(BackInStockRequest)
        .where(
            BackInStockRequest.shop_id == shop_id,
            BackInStockRequest.channel == channel,
            BackInStockRequest.address == address,
            BackInStockRequest.status == WAITING,
        )
        .values(status=WITHDRAWN, last_reason="unsubscribed")
    )  # type: ignore[call-overload]
    return result.rowcount or 0
