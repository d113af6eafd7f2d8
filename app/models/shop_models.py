"""Per-shop fitted scoring parameters (CLV, RFM ranks, price medians, popularity, intent layer)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import shop_fk, ts_field


class ShopModelParams(SQLModel, table=True):
    """One row per shop, rewritten by ``app.jobs.shop_models.fit_shop_models``.

    ``version`` increases on every fit whose parameters changed; workers cache the parsed parameters per
    process and reload only when the version they hold is not the stored one.
    """

    __tablename__ = "shop_model_params"
    __table_args__ = (UniqueConstraint("shop_id", name="uq_shop_model_params_shop"),)

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    version: int = 1
    params: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, nullable=False)
    customers: int = 0
    sessions: int = 0
    fitted_at: datetime = ts_field(nullable=False, default_now=True)
