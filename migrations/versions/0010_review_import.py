"""review_import: uploaded review files, imported by a worker job instead of the request

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 07:20:00.000000
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.models.base

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "review_import",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", app.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", app.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["shop_id"], ["shop.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("review_import", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_review_import_shop_id"), ["shop_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("review_import", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_import_shop_id"))
    op.drop_table("review_import")
