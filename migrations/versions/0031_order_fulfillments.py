"""orders keep their status page and fulfilments (carrier, tracking): the support agent's order answers (issue 18)

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-06 17:00:00.000000
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("shop_order", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status_url", sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=True))
        batch_op.add_column(sa.Column("fulfillments", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("shop_order", schema=None) as batch_op:
        batch_op.drop_column("fulfillments")
        batch_op.drop_column("status_url")
