"""Back-in-stock requests (issue 19): record a shopper's "notify me" (validated, idempotent, rate-limited),
and the reads and writes of the job that tells them (``app.jobs.back_in_stock``) and of the admin. Every query
is scoped by ``shop_id``. No commits.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.catalog.stock import variant_stock
from app.channels.sms_text import InvalidNumber, e164
from app.models.back_in_stock import (
    WAITING,
    WITHDRAWN,
    BackInStockRequest,
)
from app.models.commerce import ProductVariant
from app.models.messaging import OutboxMessage
from app.orchestrator.proposal import Shopper
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
    if existing is not None and existing.status == WAITING:
        return Asked(existing, False)
    _rate_limit(session, shop_id, shopper.key, now)
    if existing is not None:  # told, expired, refused or withdrawn before: asking again is a new request
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


def redact_address(session: Session, shop_id: int, email: str | None, phone: str | None) -> int:
    """Delete the requests made with an erased customer's e-mail or phone (``customers/redact``), and the
    address on the outbox rows sent to it; returns how many requests."""
    addresses = []
    if isinstance(email, str) and email.strip():
        addresses.append(("email", email.strip().lower()))
    if isinstance(phone, str) and phone.strip():
        try:
            addresses.append(("sms", e164(phone)))
        except InvalidNumber:
            addresses.append(("sms", phone.strip()))
    if not addresses:
        return 0
    found = session.exec(
        select(BackInStockRequest).where(
            BackInStockRequest.shop_id == shop_id,
            or_(
                *[(BackInStockRequest.channel == c) & (BackInStockRequest.address == a) for c, a in addresses]
            ),
        )
    ).all()
    for row in found:
        session.delete(row)
    session.exec(
        update(OutboxMessage)
        .where(
            OutboxMessage.shop_id == shop_id,
            OutboxMessage.address.in_([a for _, a in addresses]),  # type: ignore[union-attr]
        )
        .values(address=None)
    )  # type: ignore[call-overload]
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
