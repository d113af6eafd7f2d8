"""back-in-stock requests, and the outbox's address for a message the shopper asked for (issue 19)

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-06 19:40:00.000000
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel

import app.models.base


revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "back_in_stock_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("variant_shopify_id", sa.BigInteger(), nullable=False),
        sa.Column("product_shopify_id", sa.BigInteger(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("shopper_key", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("customer_shopify_id", sa.BigInteger(), nullable=True),
        sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("consent_text", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("locale", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("suppressions", sa.Integer(), nullable=False),
        sa.Column("round_no", sa.Integer(), nullable=False),
        sa.Column("last_reason", sqlmodel.sql.sqltypes.AutoString(length=280), nullable=True),
        sa.Column("requested_at", app.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("notified_at", app.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("converted_at", app.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", app.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["shop_id"], ["shop.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "shop_id", "variant_shopify_id", "channel", "address", name="uq_back_in_stock_request_contact"
        ),
    )
    with op.batch_alter_table("back_in_stock_request", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_back_in_stock_request_shop_id"), ["shop_id"], unique=False)
        batch_op.create_index(
            "ix_back_in_stock_request_shop_status", ["shop_id", "status", "variant_shopify_id"], unique=False
        )
        batch_op.create_index(
            "ix_back_in_stock_request_shop_shopper", ["shop_id", "shopper_key", "requested_at"], unique=False
        )
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_column("address")
    with op.batch_alter_table("back_in_stock_request", schema=None) as batch_op:
        batch_op.drop_index("ix_back_in_stock_request_shop_shopper")
        batch_op.drop_index("ix_back_in_stock_request_shop_status")
        batch_op.drop_index(batch_op.f("ix_back_in_stock_request_shop_id"))
    op.drop_table("back_in_stock_request")
