"""ranker_model: each shop's next-basket ranker; recommendation_list says which ranker built a personal list

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 08:00:00.000000
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.models.base

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ranker_model",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("why", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
        sa.Column("trained_at", app.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_order_at", app.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("customers", sa.Integer(), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("blob", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["shop_id"], ["shop.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("shop_id", name="uq_ranker_model_shop"),
    )
    with op.batch_alter_table("ranker_model", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ranker_model_shop_id"), ["shop_id"], unique=False)
    with op.batch_alter_table("recommendation_list", schema=None) as batch_op:
        batch_op.add_column(sa.Column("model_version", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "model_note", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False, server_default=""
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("recommendation_list", schema=None) as batch_op:
        batch_op.drop_column("model_note")
        batch_op.drop_column("model_version")
    with op.batch_alter_table("ranker_model", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ranker_model_shop_id"))
    op.drop_table("ranker_model")
