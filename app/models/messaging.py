"""The action layer's tables: consent per channel, the contact policy, channel settings, every decision, the
outbox the relay sends from, and each shopper's one conversation thread.

Customer-linked rows carry ``customer_shopify_id`` (GDPR export and erasure find them); anonymous shoppers are
known by ``client_id``. ``shopper_key`` is ``customer:<id>`` or ``client:<id>``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import shop_fk, ts_field

# outbox_message.status: pending → sending → sent | unknown | failed; pending → cancelled (before a send)
PENDING, SENDING, SENT, UNKNOWN, FAILED, CANCELLED = (
    "pending",
    "sending",
    "sent",
    "unknown",
    "failed",
    "cancelled",
)
OUTBOX_STATUSES = (PENDING, SENDING, SENT, UNKNOWN, FAILED, CANCELLED)


class ContactConsent(SQLModel, table=True):
    """A customer's marketing consent on one channel (``email``, ``sms``, ``push``): Shopify's state in upper
    case (SUBSCRIBED, NOT_SUBSCRIBED, UNSUBSCRIBED, PENDING, …). Versioned by ``consent_updated_at``: an older
    update never overwrites a newer one, so an unsubscribe recorded here (``source`` attune) outlives a late
    webhook from before it."""

    __tablename__ = "contact_consent"
    __table_args__ = (
        UniqueConstraint("shop_id", "customer_shopify_id", "channel", name="uq_contact_consent_channel"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    customer_shopify_id: int = Field(sa_type=BigInteger, nullable=False)
    channel: str = Field(max_length=16)
    state: str = Field(max_length=32)
    opt_in_level: str | None = Field(default=None, max_length=64)
    source: str = Field(default="shopify", max_length=16)
    consent_updated_at: datetime | None = ts_field()
    updated_at: datetime = ts_field(nullable=False, default_now=True)


class ContactPolicyRow(SQLModel, table=True):
    """One shop's contact budget and allowed hours (minutes after local midnight); absent = the defaults."""

    __tablename__ = "contact_policy"
    __table_args__ = (UniqueConstraint("shop_id", name="uq_contact_policy_shop"),)

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    per_day: int = 1
    per_week: int = 3
    quiet_start_minute: int = 8 * 60
    quiet_end_minute: int = 21 * 60
    timezone: str | None = Field(default=None, max_length=64)  # the shop's, when Shopify's is not known
    updated_at: datetime = ts_field(nullable=False, default_now=True)


class ChannelConfig(SQLModel, table=True):
    """A shop's settings for one channel: plain ``settings`` (e-mail: sender name and address, postal address)
    and ``secret_enc``, a Fernet-encrypted secret (e-mail: the SMTP URL with its password)."""

    __tablename__ = "channel_config"
    __table_args__ = (UniqueConstraint("shop_id", "channel", name="uq_channel_config_channel"),)

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    channel: str = Field(max_length=16)
    enabled: bool = True
    settings: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, nullable=False)
    secret_enc: str | None = Field(default=None, sa_type=Text, nullable=True)
    updated_at: datetime = ts_field(nullable=False, default_now=True)


NO_CHANNEL = "none"  # message_decision.intended_channel when the policy found no channel it could use


class MessageDecision(SQLModel, table=True):
    """The orchestrator's decision on one proposal: sent, deferred, held out or suppressed, with the reason.
    Committed in the same transaction as its outbox row (when it has one)."""

    __tablename__ = "message_decision"
    __table_args__ = (
        Index("ix_message_decision_shop_shopper", "shop_id", "shopper_key"),
        Index("ix_message_decision_shop_agent", "shop_id", "agent", "decided_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk(index=False)  # its composite indexes all start with shop_id
    agent: str = Field(max_length=32)
    shopper_key: str = Field(max_length=80)
    customer_shopify_id: int | None = Field(default=None, sa_type=BigInteger, nullable=True)
    client_id: str | None = Field(default=None, max_length=64)
    purpose: str = Field(max_length=16)
    action: str = Field(max_length=16)  # send | defer | hold_out | suppress
    arm: str = Field(max_length=16)  # treatment | holdout
    channel: str | None = Field(default=None, max_length=16)
    # the channel the policy would use, decided before the arm is applied: a held-out shopper's counterfactual
    # ("none": no channel it could use; NULL: decided before this was recorded)
    intended_channel: str | None = Field(default=None, max_length=16)
    send_at: datetime | None = ts_field()
    timezone: str | None = Field(default=None, max_length=64)
    reason: str = Field(sa_type=Text)
    proposal_reason: str = Field(sa_type=Text)
    expected_value: float = 0.0
    dedupe_key: str = Field(max_length=128)
    template: str = Field(max_length=64)
    product_ids: list[int] = Field(default_factory=list, sa_type=JSON)
    features: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, nullable=False)  # the proposal's
    decided_at: datetime = ts_field(nullable=False, default_now=True)


class OutboxMessage(SQLModel, table=True):
    """One message to send (transactional outbox). The relay claims it with a compare-and-set on ``status``;
    a dedupe key is unique per shopper, so it is never sent twice. ``attempts`` counts claims; ``last_error``
    says why a try failed; ``provider_id`` is the channel's id of the accepted message."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        UniqueConstraint("shop_id", "shopper_key", "dedupe_key", name="uq_outbox_message_dedupe"),
        Index("ix_outbox_message_status_due", "status", "send_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk(index=False)  # its composite indexes all start with shop_id
    decision_id: int = Field(foreign_key="message_decision.id", index=True, ondelete="CASCADE")
    agent: str = Field(max_length=32)
    purpose: str = Field(max_length=16)
    channel: str = Field(max_length=16)
    shopper_key: str = Field(max_length=80)
    customer_shopify_id: int | None = Field(default=None, sa_type=BigInteger, nullable=True)
    client_id: str | None = Field(default=None, max_length=64)
    dedupe_key: str = Field(max_length=128)
    template: str = Field(max_length=64)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, nullable=False)
    reason: str = Field(sa_type=Text)
    product_ids: list[int] = Field(default_factory=list, sa_type=JSON)
    cancel_on_purchase: bool = False
    # the address the shopper gave with their explicit request for this one message (back in stock): the
    # request is the consent, and the relay sends here rather than to a customer record
    address: str | None = Field(default=None, max_length=320)
    proposed_at: datetime = ts_field(nullable=False)
    send_at: datetime = ts_field(nullable=False)
    latest_at: datetime | None = ts_field()  # the proposal's latest send time (on-site expiry, push TTL)
    # the recipient's zone the decision used, for the relay's last quiet-hours check (NULL on rows decided
    # before it was kept here: the relay reads their decision's)
    timezone: str | None = Field(default=None, max_length=64)
    status: str = Field(default=PENDING, max_length=16)
    attempts: int = 0
    claim_token: str | None = Field(default=None, max_length=32)
    claimed_at: datetime | None = ts_field()
    sent_at: datetime | None = ts_field()
    provider_id: str | None = Field(default=None, max_length=255)
    last_error: str | None = Field(default=None, sa_type=Text, nullable=True)
    # after ``sent``: what the provider reported later (SMS status callbacks: delivered, undelivered, failed)
    delivery_status: str | None = Field(default=None, max_length=16)
    delivery_error: str | None = Field(default=None, max_length=255)
    delivery_updated_at: datetime | None = ts_field()
    created_at: datetime = ts_field(nullable=False, default_now=True)
    updated_at: datetime = ts_field(nullable=False, default_now=True)


class ConversationMessage(SQLModel, table=True):
    """One message in or out of a shopper's one conversation, on any channel: agent, channel, reason, status
    (an outgoing message follows its outbox row: queued, sent, unknown, failed, cancelled)."""

    __tablename__ = "conversation_message"
    __table_args__ = (
        Index("ix_conversation_message_shop_shopper", "shop_id", "shopper_key", "created_at"),
        Index("ix_conversation_message_shop_customer", "shop_id", "customer_shopify_id"),
        Index("ix_conversation_message_shop_outbox", "shop_id", "outbox_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk(index=False)  # its composite indexes all start with shop_id
    shopper_key: str = Field(max_length=80)
    customer_shopify_id: int | None = Field(default=None, sa_type=BigInteger, nullable=True)
    client_id: str | None = Field(default=None, max_length=64)
    direction: str = Field(max_length=8)  # out | in
    agent: str | None = Field(default=None, max_length=32)
    channel: str = Field(max_length=16)
    reason: str = Field(default="", sa_type=Text)
    summary: str = Field(default="", max_length=512)  # subject or first words
    status: str = Field(max_length=16)
    outbox_id: int | None = Field(
        default=None, foreign_key="outbox_message.id", index=True, ondelete="SET NULL"
    )
    provider_id: str | None = Field(default=None, max_length=255)
    created_at: datetime = ts_field(nullable=False, default_now=True)
    updated_at: datetime = ts_field(nullable=False, default_now=True)


class PushSubscription(SQLModel, table=True):
    """One browser's web push subscription (``PushManager.subscribe``), made when the shopper pressed the
    assistant's button and granted notifications: the subscription is their opt-in to push, and deleting it
    (their "turn off", or the push service's 404/410) withdraws it. ``endpoint`` is the browser's secret
    capability URL; ``p256dh`` and ``auth`` are its encryption keys (RFC 8291), base64url. A signed-in
    customer's subscription carries ``customer_shopify_id``; an anonymous one only ``client_id``."""

    __tablename__ = "push_subscription"
    __table_args__ = (
        UniqueConstraint("shop_id", "endpoint", name="uq_push_subscription_endpoint"),
        Index("ix_push_subscription_shop_shopper", "shop_id", "shopper_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    shopper_key: str = Field(max_length=80)
    customer_shopify_id: int | None = Field(default=None, sa_type=BigInteger, nullable=True)
    client_id: str | None = Field(default=None, max_length=64)
    endpoint: str = Field(max_length=1024)
    p256dh: str = Field(max_length=128)
    auth: str = Field(max_length=64)
    created_at: datetime = ts_field(nullable=False, default_now=True)
    updated_at: datetime = ts_field(nullable=False, default_now=True)
