"""What the Channels page shows of a shop's channel settings: plain settings as stored, secrets only masked (the
SMTP URL's host and port without its user or password, the last four characters of the Twilio auth token), and
whether each channel is ready to send, or what is missing. Also the web push key and the Flow triggers' record,
read from the rows those channels write when they are set up. No commits; nothing here decrypts for display
beyond what the mask keeps.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func
from sqlmodel import Session, select

from app.crypto import TokenCipher
from app.models.commerce import Customer, Product
from app.models.messaging import FAILED, SENT, UNKNOWN, ChannelConfig, OutboxMessage
from app.stores import push as push_store
from app.stores import sms as sms_store
from app.stores.channels import ChannelNotReady, email_setup

MASK = "••••"


def mask_smtp_url(url: str) -> str:
    """``smtps://••••@smtp.example.com:465``: scheme, host and port; the user (often an API key) and password
    hidden."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return MASK
    userinfo = f"{MASK}@" if parts.username or parts.password else ""
    return f"{parts.scheme}://{userinfo}{parts.hostname or ''}{port}"


def mask_secret(secret: str) -> str:
    """The last four characters (of a secret of at least twelve), the rest hidden."""
    return MASK + secret[-4:] if len(secret) >= 12 else MASK


def _row(session: Session, shop_id: int, channel: str) -> ChannelConfig | None:
    return session.exec(
        select(ChannelConfig).where(ChannelConfig.shop_id == shop_id, ChannelConfig.channel == channel)
    ).first()


def _secret(cipher: TokenCipher, row: ChannelConfig | None) -> tuple[str | None, str | None]:
    """The stored secret and, when it cannot be read with the configured keys, why."""
    if row is None or not row.secret_enc:
        return None, None
    try:
        return cipher.decrypt(row.secret_enc), None
    except ValueError as exc:
        return None, str(exc)


def email_view(
    session: Session, cipher: TokenCipher, shop_id: int, default_smtp_url: str | None
) -> dict[str, Any]:
    row = _row(session, shop_id, "email")
    smtp_url, unreadable = _secret(cipher, row)
    try:
        email_setup(session, cipher, shop_id, default_smtp_url)
        missing = None
    except (ChannelNotReady, ValueError) as exc:
        missing = str(exc)
    return {
        "configured": row is not None,
        "settings": dict(row.settings or {}) if row else {},
        "smtp_url": mask_smtp_url(smtp_url) if smtp_url else None,
        "smtp_url_unreadable": unreadable,
        "uses_default_smtp": smtp_url is None and unreadable is None and bool(default_smtp_url),
        "ready": missing is None,
        "missing": missing,
        "updated_at": row.updated_at.isoformat() if row else None,
    }


def sms_view(session: Session, cipher: TokenCipher, shop_id: int) -> dict[str, Any]:
    row = _row(session, shop_id, "sms")
    token, unreadable = _secret(cipher, row)
    try:
        sms_store.sms_setup(session, cipher, shop_id)
        missing = None
    except (ChannelNotReady, ValueError) as exc:
        missing = str(exc)
    return {
        "configured": row is not None,
        "settings": dict(row.settings or {}) if row else {},
        "auth_token": mask_secret(token) if token else None,
        "auth_token_unreadable": unreadable,
        "ready": missing is None,
        "missing": missing,
        "updated_at": row.updated_at.isoformat() if row else None,
    }


def has_secret(session: Session, shop_id: int, channel: str) -> bool:
    row = _row(session, shop_id, channel)
    return row is not None and bool(row.secret_enc)


def sms_region(session: Session, shop_id: int) -> str | None:
    """The region the shop's SMS settings read national numbers with."""
    row = _row(session, shop_id, "sms")
    return (row.settings or {}).get("default_region") if row else None


def push_view(session: Session, shop_id: int) -> dict[str, Any]:
    """The shop's VAPID public key once web push has made its key pair (the private key is never read here)."""
    row = _row(session, shop_id, "push")
    key = (row.settings or {}).get("vapid_public_key") if row else None
    ready = bool(key and row and row.enabled)
    latest = push_store.for_test(session, shop_id) if ready else None
    return {
        "ready": ready,
        "vapid_public_key": key,
        "subscriptions": push_store.count(session, shop_id) if ready else 0,
        "latest_subscription": (
            {"id": latest.id, "shopper": latest.shopper_key, "updated_at": latest.updated_at.isoformat()}
            if latest is not None
            else None
        ),
    }


def flow_test_refs(session: Session, shop_id: int) -> tuple[int | None, tuple[int, str] | None]:
    """What a test Flow trigger names: the shop's newest customer, and its newest active product (id, title)."""
    customer = session.exec(
        select(Customer.shopify_id)
        .where(Customer.shop_id == shop_id, Customer.deleted_at.is_(None))  # type: ignore[union-attr]
        .order_by(Customer.id.desc())
        .limit(1)
    ).first()
    product = session.exec(
        select(Product.shopify_id, Product.title)
        .where(Product.shop_id == shop_id, Product.deleted_at.is_(None))  # type: ignore[union-attr]
        .order_by(Product.id.desc())
        .limit(1)
    ).first()
    return customer, (int(product[0]), product[1] or "") if product else None


def flow_record(session: Session, shop_id: int) -> dict[str, dict[str, Any]]:
    """Per Flow trigger handle (the outbox row's template): fired, failed, and the last time and error."""
    out: dict[str, dict[str, Any]] = {}
    rows = session.exec(
        select(OutboxMessage.template, OutboxMessage.status, func.count(), func.max(OutboxMessage.updated_at))
        .where(OutboxMessage.shop_id == shop_id, OutboxMessage.channel == "flow")
        .group_by(OutboxMessage.template, OutboxMessage.status)
    ).all()
    for template, status, n, last in rows:
        rec = out.setdefault(template, {"fired": 0, "failed": 0, "pending": 0, "last_at": None})
        bucket = "fired" if status == SENT else "failed" if status in (FAILED, UNKNOWN) else "pending"
        rec[bucket] += n
        if last is not None and (rec["last_at"] is None or last.isoformat() > rec["last_at"]):
            rec["last_at"] = last.isoformat()
    for template, error in session.exec(
        select(OutboxMessage.template, OutboxMessage.last_error)
        .where(
            OutboxMessage.shop_id == shop_id,
            OutboxMessage.channel == "flow",
            OutboxMessage.status == FAILED,
        )
        .order_by(OutboxMessage.updated_at.desc())
        .limit(100)
    ).all():
        out.setdefault(template, {"fired": 0, "failed": 0, "pending": 0, "last_at": None})
        out[template].setdefault("last_error", error)
    return out
