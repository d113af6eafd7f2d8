"""replenishment settings: each shop's delivery time (issue 17)

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-06 16:50:00.000000
"""

from alembic import op
import sqlalchemy as sa

import app.models.base


revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "replenishment_setting",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("delivery_days", sa.Integer(), nullable=False),
        sa.Column("updated_at", app.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["shop_id"], ["shop.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("shop_id", name="uq_replenishment_setting_shop"),
    )
    with op.batch_alter_table("replenishment_setting", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_replenishment_setting_shop_id"), ["shop_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("replenishment_setting", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_replenishment_setting_shop_id"))
    op.drop_table("replenishment_setting")
