"""The replenishment oracle's forecasts (issue 17): one row per shop × customer × product it models.

Rewritten per shop by ``app.jobs.replenishment.forecast_shop`` from ``app.recommend.replenishment.forecast``, the
function ``attune backtest replenishment`` measures. Times are UTC; probabilities are for the 14 / 30 days from
``computed_at``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import shop_fk, shopify_id_field, ts_field


class ReplenishmentForecast(SQLModel, table=True):
    __tablename__ = "replenishment_forecast"
    __table_args__ = (
        UniqueConstraint(
            "shop_id", "customer_shopify_id", "product_shopify_id", name="uq_replenishment_pair"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    customer_shopify_id: int = shopify_id_field()
    product_shopify_id: int = shopify_id_field(index=False)
    purchase_days: int = 1
    usual_quantity: int = 1
    last_purchase_at: datetime = ts_field(nullable=False)
    cycle_days: float = 0.0
    due_at: datetime = ts_field(nullable=False)
    due_low: datetime = ts_field(nullable=False)
    due_high: datetime = ts_field(nullable=False)
    predicted_next_at: datetime = ts_field(nullable=False)
    p_within_14d: float = 0.0
    p_within_30d: float = 0.0
    supply_left: float = 0.0
    p_active: float = 0.0
    status: str = Field(max_length=16)  # stocked | due | stopped
    basis: str = Field(max_length=16)  # personal | product_prior
    consumable: bool = False
    computed_at: datetime = ts_field(nullable=False, default_now=True)


class ReplenishmentSetting(SQLModel, table=True):
    """A shop's replenishment settings: how long its deliveries take (a reminder goes out that long, plus a
    few days' lead, before the shopper's supply runs out)."""

    __tablename__ = "replenishment_setting"
    __table_args__ = (UniqueConstraint("shop_id", name="uq_replenishment_setting_shop"),)

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    delivery_days: int = 3
    updated_at: datetime = ts_field(nullable=False, default_now=True)
