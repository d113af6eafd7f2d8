"""refund_money: a refund's amount is the money it gave back (its successful transactions), with its currency

Until now ``refund.amount`` held the sum of the refund's line subtotals, which is not the money returned
(Shopify's sample refund: lines 414.95, transactions 85.00). Those values are cleared: the next version
of each refund (a re-delivery, an order update that embeds it, or a full sync: ``attune sync SHOP`` or the
admin's Sync, whose bulk orders carry each refund's ``totalRefundedSet``) fills them in. Until then a
refund counts as no money returned.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 12:00:00.000000
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("refund", schema=None) as batch_op:
        batch_op.add_column(sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True))
    op.execute("UPDATE refund SET amount = NULL")


def downgrade() -> None:
    with op.batch_alter_table("refund", schema=None) as batch_op:
        batch_op.drop_column("currency")
