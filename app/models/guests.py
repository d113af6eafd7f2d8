"""Guest shoppers: a checkout that left an e-mail address or a phone number but no customer account. Their
address, their e-mail marketing consent (the checkout's "e-mail me with news and offers" box,
``buyer_accepts_marketing``), their SMS number and SMS marketing consent (``buyer_accepts_sms_marketing`` with
``sms_marketing_phone``, in E.164) and the country and province of the checkout's address (their time zone) are
kept here under a stable key, so the orchestrator, the relay, the one-click unsubscribe and a texted STOP treat a
guest like a customer. The key is ``guest:<hash of shop and e-mail address>``, or, for a checkout with no e-mail
address (Shopify allows phone-only checkouts), ``guest:<hash of shop and E.164 number>`` (another salt, the same
shape): the e-mail address wins when there is one, so a guest who later gives one is a new key. Each channel's
consent is versioned on its own (``state_updated_at``, ``sms_state_updated_at``): an unsubscribe or a STOP
recorded by Attune outlives a late checkout update from before it."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import shop_fk, ts_field


class GuestContact(SQLModel, table=True):
    __tablename__ = "guest_contact"
    __table_args__ = (
        UniqueConstraint("shop_id", "guest_key", name="uq_guest_contact_key"),
        Index("ix_guest_contact_shop_email", "shop_id", "email"),
        Index("ix_guest_contact_shop_phone", "shop_id", "phone"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    guest_key: str = Field(max_length=64)  # the shopper's client id: "guest:<40 hex>"
    email: str | None = Field(default=None, max_length=320)  # None: a phone-only checkout
    email_state: str = Field(max_length=32)  # SUBSCRIBED | NOT_SUBSCRIBED | UNSUBSCRIBED
    source: str = Field(
        default="checkout", max_length=16
    )  # the last writer: checkout | attune (unsubscribe, STOP)
    phone: str | None = Field(default=None, max_length=32)  # E.164: the SMS number, else the checkout's phone
    sms_state: str | None = Field(default=None, max_length=32)  # as email_state; None: no number
    sms_state_updated_at: datetime | None = ts_field()
    country_code: str | None = Field(default=None, max_length=8)  # the checkout's shipping, else billing
    province_code: str | None = Field(default=None, max_length=16)
    checkout_token: str | None = Field(default=None, max_length=255)
    state_updated_at: datetime | None = ts_field()
    updated_at: datetime = ts_field(nullable=False, default_now=True)


PREFIX = "guest:"


def normal_email(email: str | None) -> str | None:
    """The address as the guest's key and rows hold it (trimmed, lower case), or None when it is not one."""
    email = (email or "").strip().lower()
    ok = "@" in email and 3 <= len(email) <= 320 and "\n" not in email and "\r" not in email
    return email if ok else None


def guest_id(shop_id: int, email: str) -> str:
    """The guest's client id: ``guest:`` + 40 hex of a hash of shop and address (no address in the key)."""
    return PREFIX + hashlib.sha256(f"{shop_id}:guest:{email}".encode()).hexdigest()[:40]


def guest_phone_id(shop_id: int, phone: str) -> str:
    """A phone-only guest's client id (``phone`` in E.164): the same shape, its own salt (no number in the key)."""
    return PREFIX + hashlib.sha256(f"{shop_id}:guest-phone:{phone}".encode()).hexdigest()[:40]
