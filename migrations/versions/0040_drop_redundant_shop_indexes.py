"""drop the shop_id indexes of message_decision, outbox_message and conversation_message, and outbox_message's
(shop_id, shopper_key): each is the first column(s) of another index of the same table, which serves the same
lookups, while every insert and every outbox status change had to update it too (issue 15)

Revision ID: 0040
Revises: 0039
Create Date: 2026-12-07 10:50:00.000000
"""

from alembic import op

revision = "0040"
down_revision = "0039"
branch_labels = None
depends_on = None

DROPPED = [
    ("ix_message_decision_shop_id", "message_decision", ["shop_id"]),
    ("ix_outbox_message_shop_id", "outbox_message", ["shop_id"]),
    ("ix_outbox_message_shop_shopper", "outbox_message", ["shop_id", "shopper_key"]),
    ("ix_conversation_message_shop_id", "conversation_message", ["shop_id"]),
]


def upgrade() -> None:
    for name, table, _ in DROPPED:
        op.drop_index(name, table_name=table)


def downgrade() -> None:
    for name, table, columns in DROPPED:
        op.create_index(name, table, columns)
