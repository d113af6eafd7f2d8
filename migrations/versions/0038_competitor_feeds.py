"""competitor feeds by URL, title matches awaiting the merchant's confirmation, undercut alerts (issue 20)

Revision ID: 0038
Revises: 0033
Create Date: 2026-12-06 19:30:00.000000
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel
import app.models.base


revision = "0038"
down_revision = "0033"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pricing_competitor_price", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("match_status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True)
        )
        batch_op.add_column(sa.Column("match_score", sa.Float(), nullable=True))
    op.create_table(
        "pricing_competitor_feed",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("competitor", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("url", sqlmodel.sql.sqltypes.AutoString(length=2048), nullable=True),
        sa.Column("alert_pct", sa.Float(), nullable=False),
        sa.Column("last_fetched_at", app.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("last_report", sa.JSON(), nullable=False),
        sa.Column("created_at", app.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["shop_id"], ["shop.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("shop_id", "competitor", name="uq_competitor_feed"),
    )
    with op.batch_alter_table("pricing_competitor_feed", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pricing_competitor_feed_shop_id"), ["shop_id"], unique=False)
    op.create_table(
        "pricing_competitor_alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("competitor", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("item_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("variant_id", sa.BigInteger(), nullable=False),
        sa.Column("our_price", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("their_price", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("gap", sa.Float(), nullable=False),
        sa.Column("created_at", app.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("mailed_at", app.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["shop_id"], ["shop.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "shop_id",
            "competitor",
            "item_id",
            "variant_id",
            "our_price",
            "their_price",
            name="uq_competitor_alert",
        ),
    )
    with op.batch_alter_table("pricing_competitor_alert", schema=None) as batch_op:
        batch_op.create_index("ix_competitor_alert_shop_created", ["shop_id", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_pricing_competitor_alert_shop_id"), ["shop_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("pricing_competitor_alert", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pricing_competitor_alert_shop_id"))
        batch_op.drop_index("ix_competitor_alert_shop_created")
    op.drop_table("pricing_competitor_alert")
    with op.batch_alter_table("pricing_competitor_feed", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pricing_competitor_feed_shop_id"))
    op.drop_table("pricing_competitor_feed")
    with op.batch_alter_table("pricing_competitor_price", schema=None) as batch_op:
        batch_op.drop_column("match_score")
        batch_op.drop_column("match_status")
