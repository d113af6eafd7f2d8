"""A shop's SMS channel: its Twilio settings (the auth token encrypted in ``ChannelConfig.secret_enc``), the
customer behind a phone number, delivery reports on outbox rows, and the consent the SMS keywords change.
No commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, select

from app.channels.copy import sms_help
from app.channels.i18n import negotiate
from app.crypto import TokenCipher
from app.models.base import utcnow
from app.models.commerce import Customer
from app.models.messaging import (
    SENDING,
    SENT,
    ChannelConfig,
    ContactConsent,
    ConversationMessage,
    OutboxMessage,
)
from app.models.shop import Shop
from app.stores.channels import ChannelNotReady, config_with_shop

SETTING_KEYS = (
    "account_sid",
    "from_number",
    "messaging_service_sid",
    "shop_name",
    "help_text",
    "default_region",
)
# Twilio's message statuses, in the order they happen; a late callback never moves a row back.
DELIVERY_RANK = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 0,
    "sending": 1,
    "sent": 2,
    "delivered": 3,
    "undelivered": 3,
    "failed": 3,
    "canceled": 3,
}
FINAL = frozenset({"delivered", "undelivered", "failed", "canceled"})


@dataclass(frozen=True)
class SmsSetup:
    """What sending and verifying need: the Twilio account, the sender, and the words the shop signs with."""

    shop_id: int
    shop_domain: str
    account_sid: str
    auth_token: str
    from_number: str | None
    messaging_service_sid: str | None
    shop_name: str
    help_text: str
    default_region: str | None


def _row(session: Session, shop_id: int) -> ChannelConfig | None:
    return session.exec(
        select(ChannelConfig).where(ChannelConfig.shop_id == shop_id, ChannelConfig.channel == "sms")
    ).first()


def save_sms_settings(
    session: Session,
    cipher: TokenCipher,
    shop_id: int,
    settings: dict[str, Any],
    auth_token: str | None = None,
) -> ChannelConfig:
    """Store the Twilio settings (and the auth token, encrypted, when given)."""
    row = _row(session, shop_id) or ChannelConfig(shop_id=shop_id, channel="sms")
    row.settings = {k: str(settings[k]).strip() for k in SETTING_KEYS if settings.get(k)}
    if auth_token is not None:
        row.secret_enc = cipher.encrypt(auth_token) if auth_token else None
    row.updated_at = utcnow()
    session.add(row)
    return row


def sms_setup(session: Session, cipher: TokenCipher, shop_id: int) -> SmsSetup:
    """The shop's Twilio setup, or ``ChannelNotReady`` naming what is missing."""
    row, shop = config_with_shop(session, shop_id, "sms")
    if row is None or not row.enabled or shop is None:
        raise ChannelNotReady("SMS is not set up for this shop")
    s = row.settings or {}
    if not s.get("account_sid") or not row.secret_enc:
        raise ChannelNotReady("SMS has no Twilio account SID and auth token")
    if not s.get("from_number") and not s.get("messaging_service_sid"):
        raise ChannelNotReady("SMS has no sender number or Messaging Service")
    shop_name = s.get("shop_name") or shop.domain.split(".")[0]
    help_text = s.get("help_text") or sms_help(shop_name, negotiate(shop.primary_locale))
    return SmsSetup(
        shop_id=shop_id,
        shop_domain=shop.domain,
        account_sid=s["account_sid"],
        auth_token=cipher.decrypt(row.secret_enc),
        from_number=s.get("from_number"),
        messaging_service_sid=s.get("messaging_service_sid"),
        shop_name=shop_name,
        help_text=help_text,
        default_region=s.get("default_region"),
    )


def shop_id_for_domain(session: Session, domain: str) -> int | None:
    return session.exec(select(Shop.id).where(Shop.domain == domain)).first()


def customer_by_phone(session: Session, shop_id: int, phone: str) -> int | None:
    """The Shopify id of the shop's (not deleted) customer with this E.164 number, or None."""
    return session.exec(
        select(Customer.shopify_id).where(
            Customer.shop_id == shop_id, Customer.phone == phone, Customer.deleted_at.is_(None)
        )
    ).first()


def inbound_seen(session: Session, shop_id: int, message_sid: str) -> bool:
    """Twilio retries a webhook it did not get a 2xx for: a message already recorded is not recorded again."""
    return (
        session.exec(
            select(ConversationMessage.id).where(
                ConversationMessage.shop_id == shop_id,
                ConversationMessage.channel == "sms",
                ConversationMessage.direction == "in",
                ConversationMessage.provider_id == message_sid,
            )
        ).first()
        is not None
    )


def record_delivery(
    session: Session, shop_id: int, outbox_id: int, message_sid: str, status: str, error: str | None
) -> bool:
    """A status callback: the outbox row's ``delivery_status`` moves forward (never back), and the thread's entry
    shows a final one. False when no sent SMS of the shop matches (unknown row, other message SID, stale)."""
    row = session.exec(
        select(OutboxMessage)
        .where(
            OutboxMessage.id == outbox_id, OutboxMessage.shop_id == shop_id, OutboxMessage.channel == "sms"
        )
        .with_for_update()
    ).first()
    if row is None or row.status not in (SENT, SENDING) or row.provider_id not in (None, message_sid):
        return False
    if row.delivery_status in FINAL or DELIVERY_RANK.get(status, -1) < DELIVERY_RANK.get(
        row.delivery_status or "", -1
    ):
        return False
    now = utcnow()
    row.delivery_status, row.delivery_updated_at = status, now
    if error:
        row.delivery_error = error[:255]
    session.add(row)
    if status in FINAL:
        session.exec(
            update(ConversationMessage)
            .where(ConversationMessage.shop_id == shop_id, ConversationMessage.outbox_id == outbox_id)
            .values(status=status, updated_at=now)
        )
    return True


def sms_consent(session: Session, shop_id: int, customer_id: int) -> tuple[str, datetime | None] | None:
    """The mirror's SMS marketing state for a customer and when it changed, or None."""
    row = session.exec(
        select(ContactConsent).where(
            ContactConsent.shop_id == shop_id,
            ContactConsent.customer_shopify_id == customer_id,
            ContactConsent.channel == "sms",
        )
    ).first()
    return (row.state, row.consent_updated_at) if row else None


def shop_scopes(session: Session, shop_id: int) -> str:
    shop = session.get(Shop, shop_id)
    return shop.scopes if shop else ""


def record_reply(
    session: Session, shop_id: int, shopper_key: str, customer_id: int | None, text: str
) -> None:
    """An automatic answer given in the webhook's own response (the HELP reply): in the thread as sent."""
    session.add(
        ConversationMessage(
            shop_id=shop_id,
            shopper_key=shopper_key,
            customer_shopify_id=customer_id,
            direction="out",
            channel="sms",
            reason="the shopper texted HELP",
            summary=text[:512],
            status="sent",
        )
    )
