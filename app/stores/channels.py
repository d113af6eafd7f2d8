"""A shop's channel settings: the e-mail sender (name, address, postal address, reply-to) and its SMTP URL,
stored encrypted (``ChannelConfig.secret_enc``); a shop without its own SMTP URL uses ``ATTUNE_SMTP_URL``.
And the recipient's address on a channel. No commits."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, bindparam
from sqlmodel import Session, select

from app.channels.base import Sender
from app.crypto import TokenCipher
from app.models.base import utcnow
from app.models.commerce import Customer
from app.models.messaging import ChannelConfig
from app.models.shop import Shop
from app.stores.bulk import any_of, execute, prebuilt


class ChannelNotReady(ValueError):
    """The shop has not set up the channel (the reason says what is missing)."""


def _row(session: Session, shop_id: int, channel: str) -> ChannelConfig | None:
    return session.exec(
        select(ChannelConfig).where(ChannelConfig.shop_id == shop_id, ChannelConfig.channel == channel)
    ).first()


def config_with_shop(
    session: Session, shop_id: int, channel: str
) -> tuple[ChannelConfig | None, Shop | None]:
    """The shop's settings for ``channel`` and the shop itself, in one query (the relay reads both for every
    batch); (None, the shop) when the channel has no settings."""
    found = session.exec(
        select(ChannelConfig, Shop)
        .join(Shop, Shop.id == ChannelConfig.shop_id)  # type: ignore[arg-type]
        .where(ChannelConfig.shop_id == shop_id, ChannelConfig.channel == channel)
    ).first()
    return (found[0], found[1]) if found else (None, session.get(Shop, shop_id))


def save_email_settings(
    session: Session, cipher: TokenCipher, shop_id: int, settings: dict[str, Any], smtp_url: str | None = None
) -> ChannelConfig:
    """Store the e-mail sender settings (and the SMTP URL, encrypted, when given)."""
    row = _row(session, shop_id, "email") or ChannelConfig(shop_id=shop_id, channel="email")
    row.settings = {
        k: settings[k]
        for k in ("shop_name", "from_name", "from_address", "postal_address", "reply_to")
        if settings.get(k)
    }
    if smtp_url is not None:
        row.secret_enc = cipher.encrypt(smtp_url) if smtp_url else None
    row.updated_at = utcnow()
    session.add(row)
    return row


def email_setup(
    session: Session, cipher: TokenCipher, shop_id: int, default_smtp_url: str | None
) -> tuple[Sender, str]:
    """The shop's sender and SMTP URL, or ``ChannelNotReady`` naming what is missing."""
    row, shop = config_with_shop(session, shop_id, "email")
    if row is None or not row.enabled:
        raise ChannelNotReady("e-mail is not set up for this shop")
    s = row.settings or {}
    if not s.get("from_address"):
        raise ChannelNotReady("e-mail has no sender address")
    smtp_url = cipher.decrypt(row.secret_enc) if row.secret_enc else default_smtp_url
    if not smtp_url:
        raise ChannelNotReady("e-mail has no SMTP server (the shop's or ATTUNE_SMTP_URL)")
    shop_name = s.get("shop_name") or (shop.domain if shop else "")
    sender = Sender(
        shop_name=shop_name,
        from_name=s.get("from_name") or shop_name,
        from_address=s["from_address"],
        postal_address=s.get("postal_address") or "",
        reply_to=s.get("reply_to"),
    )
    return sender, smtp_url


def recipient_addresses(
    session: Session, shop_id: int, customer_ids: Iterable[int], channel: str
) -> dict[int, str]:
    """Customer id → their address on ``channel`` (e-mail or phone), for those of ``customer_ids`` who have one
    and are not erased."""
    ids = sorted(set(customer_ids))
    if channel not in ("email", "sms") or not ids:
        return {}
    rows = execute(session, _recipients(session), {"shop_id": shop_id, "ids": ids}).all()
    return {r.shopify_id: address for r in rows if (address := r.email if channel == "email" else r.phone)}


@prebuilt
def _recipients(dialect: str) -> Select:
    c = Customer.__table__.c  # type: ignore[attr-defined]
    return select(c.shopify_id, c.email, c.phone).where(
        c.shop_id == bindparam("shop_id"), any_of(dialect, c.shopify_id, "ids"), c.deleted_at.is_(None)
    )
