"""replenishment forecasts: when each customer runs out of each product (issue 17)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 13:40:00.000000
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel

import app.models.base


revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "replenishment_forecast",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("customer_shopify_id", sa.BigInteger(), nullable=False),
        sa.Column("product_shopify_id", sa.BigInteger(), nullable=False),
        sa.Column("purchase_days", sa.Integer(), nullable=False),
        sa.Column("usual_quantity", sa.Integer(), nullable=False),
        sa.Column("last_purchase_at", app.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("cycle_days", sa.Float(), nullable=False),
        sa.Column("due_at", app.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_low", app.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_high", app.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("predicted_next_at", app.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("p_within_14d", sa.Float(), nullable=False),
        sa.Column("p_within_30d", sa.Float(), nullable=False),
        sa.Column("supply_left", sa.Float(), nullable=False),
        sa.Column("p_active", sa.Float(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("basis", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("consumable", sa.Boolean(), nullable=False),
        sa.Column("computed_at", app.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["shop_id"], ["shop.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "shop_id", "customer_shopify_id", "product_shopify_id", name="uq_replenishment_pair"
        ),
    )
    with op.batch_alter_table("replenishment_forecast", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_replenishment_forecast_customer_shopify_id"), ["customer_shopify_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_replenishment_forecast_shop_id"), ["shop_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("replenishment_forecast", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_replenishment_forecast_shop_id"))
        batch_op.drop_index(batch_op.f("ix_replenishment_forecast_customer_shopify_id"))
    op.drop_table("replenishment_forecast")
