"""The control room's rows: each agent's settings as the merchant set them on its card, and the latest lift of
each agent per shop (the pool that thin shops' estimates are shrunk toward)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import shop_fk, ts_field


class AgentSetting(SQLModel, table=True):
    """One agent's switch, channels, weekly message budget and (stricter) allowed hours in one shop. Its holdout
    share lives in ``holdout_policy`` with every other holdout."""

    __tablename__ = "agent_setting"
    __table_args__ = (UniqueConstraint("shop_id", "agent", name="uq_agent_setting_agent"),)

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    agent: str = Field(max_length=32)
    enabled: bool = True
    channels: str = Field(default="", max_length=64)  # comma-separated; "" = the agent's own choice
    weekly_budget: int | None = None  # messages per 7 days across the shop; None = only the contact budget
    quiet_start_minute: int | None = None  # first allowed local minute, when stricter than the shop's
    quiet_end_minute: int | None = None
    updated_at: datetime = ts_field(nullable=False, default_now=True)


class AgentLiftSnapshot(SQLModel, table=True):
    """An agent's latest measured effect in one shop (an aggregate, no shopper): the weekly digest writes it, and
    the control room pools every shop's snapshot of an agent into the prior a thin shop is shrunk toward."""

    __tablename__ = "agent_lift_snapshot"
    __table_args__ = (UniqueConstraint("shop_id", "agent", "metric", name="uq_agent_lift_snapshot"),)

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    agent: str = Field(max_length=32)
    metric: str = Field(max_length=32)
    estimate: float
    standard_error: float
    shoppers: int = 0
    simulated: bool = False  # seeded by the demo's simulators, never a shop's real measurement
    measured_at: datetime = ts_field(nullable=False, default_now=True)
