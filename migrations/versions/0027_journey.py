"""journey stages per shopper and the moves between them (issue 21)

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06 16:30:00.000000
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel

import app.models.base


revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "journey_stage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("shopper_key", sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
        sa.Column("stage", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("explanation", sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
        sa.Column("entered_at", app.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["shop_id"], ["shop.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("shop_id", "shopper_key", name="uq_journey_stage_shopper"),
    )
    with op.batch_alter_table("journey_stage", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_journey_stage_shop_id"), ["shop_id"], unique=False)
        batch_op.create_index("ix_journey_stage_shop_stage", ["shop_id", "stage"], unique=False)
    op.create_table(
        "journey_transition",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("shopper_key", sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
        sa.Column("from_stage", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("to_stage", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("at", app.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["shop_id"], ["shop.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("journey_transition", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_journey_transition_shop_id"), ["shop_id"], unique=False)
        batch_op.create_index("ix_journey_transition_shop_at", ["shop_id", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("journey_transition", schema=None) as batch_op:
        batch_op.drop_index("ix_journey_transition_shop_at")
        batch_op.drop_index(batch_op.f("ix_journey_transition_shop_id"))
    op.drop_table("journey_transition")
    with op.batch_alter_table("journey_stage", schema=None) as batch_op:
        batch_op.drop_index("ix_journey_stage_shop_stage")
        batch_op.drop_index(batch_op.f("ix_journey_stage_shop_id"))
    op.drop_table("journey_stage")
