"""The inventory agent's tables (issue 19), each scoped by shop with (shop_id, key) indexes.

- ``inventory_day``: each inventory item's stock at each location at the end of each day it changed (from
  ``inventory_levels/update`` and the backfill), so that days at zero stock are censored in the demand history.
- ``inventory_setting``: the merchant's lead time, review period and service level per vendor ('' = default).
- ``demand_forecast``: one row per variant, rewritten nightly by ``app.jobs.inventory.forecast_shop`` from
  ``app.modelling.demand.forecast`` (what ``attune backtest demand`` measures) and ``app.modelling.inventory``;
  ``demand_forecast_location`` the same per location where the shop has several.
- ``demand_snapshot``: a weekly copy of the served forecasts, scored against what sold (live accuracy).
- ``inventory_alert``: stock-out alert episodes (e-mail and Flow at most once each); ``inventory_preference``.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import shop_fk, shopify_id_field, ts_field


class InventoryDay(SQLModel, table=True):
    __tablename__ = "inventory_day"
    __table_args__ = (
        UniqueConstraint("shop_id", "inventory_item_id", "location_id", "day", name="uq_inventory_day"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    inventory_item_id: int = shopify_id_field(index=False)
    location_id: int = shopify_id_field(index=False)
    day: date
    available: int


class InventorySetting(SQLModel, table=True):
    __tablename__ = "inventory_setting"
    __table_args__ = (UniqueConstraint("shop_id", "vendor", name="uq_inventory_setting_vendor"),)

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    vendor: str = Field(default="", max_length=255)
    lead_time_days: int = 14
    review_days: int = 7
    service_level: float = 0.95


class DemandForecast(SQLModel, table=True):
    __tablename__ = "demand_forecast"
    __table_args__ = (
        UniqueConstraint("shop_id", "variant_shopify_id", name="uq_demand_forecast_variant"),
        Index("ix_demand_forecast_shop_vendor", "shop_id", "vendor"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    variant_shopify_id: int = shopify_id_field(index=False)
    product_shopify_id: int = shopify_id_field(index=False)
    title: str = Field(default="", max_length=512)
    sku: str | None = Field(default=None, max_length=255)
    vendor: str = Field(default="", max_length=255)
    method: str = Field(max_length=32)
    basis: str = Field(max_length=16)  # history | product_prior | category_prior (one sale ever) | none
    censored_days: int = 0
    on_hand: int = 0
    units_28d: float = 0.0  # expected units over the next 28 days
    daily: str = Field(default="", max_length=2000)  # the 28 expected daily units, comma-separated
    days_of_cover: int = 0
    lead_time_days: int = (
        14  # the vendor's, when this row was computed: cover below it sells out before a restock
    )
    stockout_p10: date | None = None
    stockout_p50: date | None = None
    stockout_p90: date | None = None
    reorder_point: int = 0
    order_up_to: int = 0
    suggested_order: int = 0
    alert: bool = False
    computed_at: datetime = ts_field(nullable=False, default_now=True)


class DemandForecastLocation(SQLModel, table=True):
    """A variant's forecast and decisions at one location of a multi-location shop (its share of the variant's
    demand from the location's stock drawdowns; rewritten with ``demand_forecast``)."""

    __tablename__ = "demand_forecast_location"
    __table_args__ = (
        UniqueConstraint("shop_id", "variant_shopify_id", "location_id", name="uq_demand_forecast_location"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    variant_shopify_id: int = shopify_id_field(index=False)
    location_id: int = shopify_id_field(index=False)
    share: float = 0.0  # the location's share of the variant's demand
    on_hand: int = 0
    units_28d: float = 0.0
    days_of_cover: int = 0
    stockout_p10: date | None = None
    stockout_p50: date | None = None
    stockout_p90: date | None = None
    reorder_point: int = 0
    suggested_order: int = 0
    alert: bool = False
    computed_at: datetime = ts_field(nullable=False, default_now=True)


class DemandSnapshot(SQLModel, table=True):
    """A served forecast kept for the live accuracy readout: the 28 expected daily units from ``origin``, the
    naive baseline's level (the last observed day) and the in-sample naive MSE that scales RMSSE."""

    __tablename__ = "demand_snapshot"
    __table_args__ = (
        UniqueConstraint("shop_id", "variant_shopify_id", "origin", name="uq_demand_snapshot_variant_origin"),
        Index("ix_demand_snapshot_shop_origin", "shop_id", "origin"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    variant_shopify_id: int = shopify_id_field(index=False)
    origin: date
    daily: str = Field(default="", max_length=2000)
    naive: float = 0.0
    scale: float = 1.0


class InventoryAlert(SQLModel, table=True):
    """One stock-out alert episode of a variant: opened when its cover falls below lead time + review period,
    closed when it no longer does; e-mailed and fired to Flow at most once per episode."""

    __tablename__ = "inventory_alert"
    __table_args__ = (
        UniqueConstraint("shop_id", "variant_shopify_id", "opened_on", name="uq_inventory_alert_episode"),
        Index("ix_inventory_alert_shop_open", "shop_id", "closed_on"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    variant_shopify_id: int = shopify_id_field(index=False)
    product_shopify_id: int = shopify_id_field(index=False)
    opened_on: date
    closed_on: date | None = None
    days_of_cover: int = 0
    stockout_p50: date | None = None
    suggested_order: int = 0
    emailed_at: datetime | None = ts_field()
    flow_at: datetime | None = ts_field()
    flow_error: str | None = Field(default=None, max_length=500)


class InventoryPreference(SQLModel, table=True):
    """The shop's inventory switches: favour overstocked items in lists, e-mail and Flow alerts."""

    __tablename__ = "inventory_preference"
    __table_args__ = (UniqueConstraint("shop_id", name="uq_inventory_preference_shop"),)

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    favour_overstock: bool = False
    alert_email: bool = True
    alert_flow: bool = True


class InventoryLocationSetting(SQLModel, table=True):
    """The merchant's lead time, review period and service level for one location: its per-location decisions
    use these instead of the vendor's."""

    __tablename__ = "inventory_location_setting"
    __table_args__ = (UniqueConstraint("shop_id", "location_id", name="uq_inventory_location_setting"),)

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    location_id: int = shopify_id_field(index=False)
    lead_time_days: int = 14
    review_days: int = 7
    service_level: float = 0.95
