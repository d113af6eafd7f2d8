"""outbox_message.timezone: the recipient's zone the decision used, kept on the row so the relay's last
quiet-hours check reads it with the row (rows decided before this keep NULL and are looked up on their
decision, as before) (issue 15)

Revision ID: 0039
Revises: 0037
Create Date: 2026-12-07 10:10:00.000000
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0039"
down_revision = "0037"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("timezone", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_column("timezone")
