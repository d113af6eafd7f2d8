"""Each shopper's journey stage (``app.profiles.journey``) and the moves between stages, per shop."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import shop_fk, ts_field


class JourneyStage(SQLModel, table=True):
    """A shopper's current stage (``shopper_key`` is the profile key: ``customer:…`` or ``client:…``)."""

    __tablename__ = "journey_stage"
    __table_args__ = (
        UniqueConstraint("shop_id", "shopper_key", name="uq_journey_stage_shopper"),
        Index("ix_journey_stage_shop_stage", "shop_id", "stage"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    shopper_key: str = Field(max_length=160)
    stage: str = Field(max_length=32)
    explanation: str = Field(max_length=400)
    entered_at: datetime = ts_field(nullable=False, default_now=True)
    updated_at: datetime = ts_field(nullable=False, default_now=True)


class JourneyTransition(SQLModel, table=True):
    """One move from a stage to another (``from_stage`` empty on a shopper's first stage)."""

    __tablename__ = "journey_transition"
    __table_args__ = (Index("ix_journey_transition_shop_at", "shop_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    shopper_key: str = Field(max_length=160)
    from_stage: str = Field(default="", max_length=32)
    to_stage: str = Field(max_length=32)
    at: datetime = ts_field(nullable=False, default_now=True)
