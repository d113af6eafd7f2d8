"""The webhook inbox: one durable row per delivered event, written before the 200."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import ts_field

# Row states. ``pending`` rows are (re)enqueued by the sweeper; ``failed`` rows are replayed on demand.
PENDING, DONE, FAILED, DROPPED = "pending", "done", "failed", "dropped"


class WebhookInbox(SQLModel, table=True):
    """A received webhook. Unique on (shop domain, event id) so a duplicate delivery adds nothing.

    ``shop_id`` is nullable here only: deliveries for unknown shops are still recorded (as ``dropped``).
    The payload is kept as the raw JSON text so big integers stay exact.
    """

    __tablename__ = "webhook_inbox"
    __table_args__ = (UniqueConstraint("shop_domain", "event_id", name="uq_webhook_inbox_shop_event"),)

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int | None = Field(default=None, foreign_key="shop.id", index=True, ondelete="CASCADE")
    shop_domain: str = Field(max_length=255)
    event_id: str = Field(max_length=255)
    webhook_id: str | None = Field(default=None, max_length=255)
    topic: str = Field(max_length=128, index=True)
    api_version: str | None = Field(default=None, max_length=32)
    triggered_at: str | None = Field(default=None, max_length=64)
    payload: str
    status: str = Field(default=PENDING, max_length=16, index=True)
    attempts: int = 0
    error: str | None = Field(default=None, max_length=4000)
    received_at: datetime = ts_field(nullable=False, default_now=True)
    processed_at: datetime | None = ts_field()

    def body(self) -> Any:
        return json.loads(self.payload)
