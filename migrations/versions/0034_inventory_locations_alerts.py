"""inventory agent: per-location forecasts and settings, forecast snapshots for live accuracy, alert episodes, preferences (issue 19)

Revision ID: 0034
Revises: 0036
Create Date: 2026-12-06 19:40:00.000000
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.models.base

revision = "0034"
down_revision = "0036"
branch_labels = None
depends_on = None


def _shop(table: str) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.create_index(batch_op.f(f"ix_{table}_shop_id"), ["shop_id"], unique=False)


def upgrade() -> None:
    op.create_table(
        "demand_forecast_location",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("variant_shopify_id", sa.BigInteger(), nullable=False),
        sa.Column("location_id", sa.BigInteger(), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("on_hand", sa.Integer(), nullable=False),
        sa.Column("units_28d", sa.Float(), nullable=False),
        sa.Column("days_of_cover", sa.Integer(), nullable=False),
        sa.Column("stockout_p10", sa.Date(), nullable=True),
        sa.Column("stockout_p50", sa.Date(), nullable=True),
        sa.Column("stockout_p90", sa.Date(), nullable=True),
        sa.Column("reorder_point", sa.Integer(), nullable=False),
        sa.Column("suggested_order", sa.Integer(), nullable=False),
        sa.Column("alert", sa.Boolean(), nullable=False),
        sa.Column("computed_at", app.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["shop_id"], ["shop.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "shop_id", "variant_shopify_id", "location_id", name="uq_demand_forecast_location"
        ),
    )
    _shop("demand_forecast_location")
    op.create_table(
        "demand_snapshot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("variant_shopify_id", sa.BigInteger(), nullable=False),
        sa.Column("origin", sa.Date(), nullable=False),
        sa.Column("daily", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("naive", sa.Float(), nullable=False),
        sa.Column("scale", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["shop_id"], ["shop.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "shop_id", "variant_shopify_id", "origin", name="uq_demand_snapshot_variant_origin"
        ),
    )
    _shop("demand_snapshot")
    with op.batch_alter_table("demand_snapshot", schema=None) as batch_op:
        batch_op.create_index("ix_demand_snapshot_shop_origin", ["shop_id", "origin"], unique=False)
    op.create_table(
        "inventory_alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("variant_shopify_id", sa.BigInteger(), nullable=False),
        sa.Column("product_shopify_id", sa.BigInteger(), nullable=False),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("days_of_cover", sa.Integer(), nullable=False),
        sa.Column("stockout_p50", sa.Date(), nullable=True),
        sa.Column("suggested_order", sa.Integer(), nullable=False),
        sa.Column("emailed_at", app.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("flow_at", app.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("flow_error", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.ForeignKeyConstraint(["shop_id"], ["shop.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("shop_id", "variant_shopify_id", "opened_on", name="uq_inventory_alert_episode"),
    )
    _shop("inventory_alert")
    with op.batch_alter_table("inventory_alert", schema=None) as batch_op:
        batch_op.create_index("ix_inventory_alert_shop_open", ["shop_id", "closed_on"], unique=False)
    op.create_table(
        "inventory_preference",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("favour_overstock", sa.Boolean(), nullable=False),
        sa.Column("alert_email", sa.Boolean(), nullable=False),
        sa.Column("alert_flow", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["shop_id"], ["shop.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("shop_id", name="uq_inventory_preference_shop"),
    )
    _shop("inventory_preference")
    op.create_table(
        "inventory_location_setting",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.BigInteger(), nullable=False),
        sa.Column("lead_time_days", sa.Integer(), nullable=False),
        sa.Column("review_days", sa.Integer(), nullable=False),
        sa.Column("service_level", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["shop_id"], ["shop.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("shop_id", "location_id", name="uq_inventory_location_setting"),
    )
    _shop("inventory_location_setting")


def downgrade() -> None:
    for table in (
        "inventory_location_setting",
        "inventory_preference",
        "inventory_alert",
        "demand_snapshot",
        "demand_forecast_location",
    ):
        with op.batch_alter_table(table, schema=None) as batch_op:
            if table == "inventory_alert":
                batch_op.drop_index("ix_inventory_alert_shop_open")
            if table == "demand_snapshot":
                batch_op.drop_index("ix_demand_snapshot_shop_origin")
            batch_op.drop_index(batch_op.f(f"ix_{table}_shop_id"))
        op.drop_table(table)
