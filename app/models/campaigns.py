"""Newsletters the merchant writes in the admin, and the message variants a bandit tests.

- ``Campaign``: one newsletter (its subject, opening text, how many personal products each recipient sees, its
  own holdout share). Its messages go out as the agent ``newsletter-<id>``, so it has its own holdout and lift.
- ``MessageVariant``: a variant of one agent's messages (a campaign's ``newsletter-<id>`` or any agent's, e.g.
  ``win_back``): the subject, heading or opening paragraph it replaces. The orchestrator's bandit picks one per
  proposal (``app.orchestrator.variants``); the decision's ``features["variant"]`` records which.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import shop_fk, ts_field

DRAFT, SENDING, SENT = "draft", "sending", "sent"


class Campaign(SQLModel, table=True):
    __tablename__ = "campaign"

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    name: str = Field(max_length=120)
    subject: str = Field(max_length=200)
    body: str = Field(sa_type=Text)
    products: int = 3  # personal products per recipient (0: none)
    holdout_share: float = 0.1
    wave: int | None = None  # recipients per daily wave (the bandit learns between waves); None: all at once
    status: str = Field(default=DRAFT, max_length=16)
    created_at: datetime = ts_field(nullable=False, default_now=True)
    started_at: datetime | None = ts_field()
    finished_at: datetime | None = ts_field()


class MessageVariant(SQLModel, table=True):
    __tablename__ = "message_variant"
    __table_args__ = (UniqueConstraint("shop_id", "agent", "key", name="uq_message_variant_key"),)

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    agent: str = Field(max_length=32)
    key: str = Field(max_length=32)
    subject: str | None = Field(default=None, max_length=200)
    heading: str | None = Field(default=None, max_length=200)
    body: str | None = Field(default=None, sa_type=Text, nullable=True)
    active: bool = True
    created_at: datetime = ts_field(nullable=False, default_now=True)
