"""Guest shoppers: a checkout that left an e-mail address but no customer account. Their address and their
marketing consent (from the checkout's "e-mail me with news and offers" box, ``buyer_accepts_marketing``) are
kept here under a stable key (``guest:<hash of shop and address>``), so the orchestrator, the relay and the
one-click unsubscribe treat a guest like a customer. Versioned by ``state_updated_at``: an unsubscribe recorded
by Attune outlives a late checkout update from before it."""

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
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    guest_key: str = Field(max_length=64)  # the shopper's client id: "guest:<40 hex>"
    email: str = Field(max_length=320)
    email_state: str = Field(max_length=32)  # SUBSCRIBED | NOT_SUBSCRIBED | UNSUBSCRIBED
    source: str = Field(default="checkout", max_length=16)  # checkout | attune (an unsubscribe)
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
