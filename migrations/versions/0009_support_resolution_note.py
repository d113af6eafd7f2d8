"""support_message.resolution_note: the merchant's reply when resolving an escalation

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 10:55:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("support_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resolution_note", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("support_message", schema=None) as batch_op:
        batch_op.drop_column("resolution_note")
