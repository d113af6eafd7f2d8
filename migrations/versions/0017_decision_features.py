"""decision features: what the agent knew of the shopper when it proposed, kept with the decision (the agent's
uplift model learns from features as they were before the message, never from what the shopper became after)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 11:40:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('message_decision', schema=None) as batch_op:
        batch_op.add_column(sa.Column('features', sa.JSON(), nullable=False, server_default='{}'))


def downgrade() -> None:
    with op.batch_alter_table('message_decision', schema=None) as batch_op:
        batch_op.drop_column('features')
