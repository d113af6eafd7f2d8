"""support answers keep the shopper's 👍/👎 and the answer's confidence: each shop's threshold (issue 18)

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-06 17:15:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("support_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("helpful", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("confidence", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("product_shopify_id", sa.BigInteger(), nullable=True))
        batch_op.create_index("ix_support_message_shop_product", ["shop_id", "product_shopify_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("support_message", schema=None) as batch_op:
        batch_op.drop_index("ix_support_message_shop_product")
        batch_op.drop_column("product_shopify_id")
        batch_op.drop_column("confidence")
        batch_op.drop_column("helpful")
