"""channel extras: the languages messages are written in (the customer's locale from Shopify, the shop's primary
locale from ``shopLocales``), and each decision's intended channel (the channel the policy would use, decided
before the arm is applied: a held-out shopper's counterfactual, for lift per agent × channel)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 13:20:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locale', sa.String(length=16), nullable=True))
    with op.batch_alter_table('shop', schema=None) as batch_op:
        batch_op.add_column(sa.Column('primary_locale', sa.String(length=16), nullable=True))
    with op.batch_alter_table('message_decision', schema=None) as batch_op:
        batch_op.add_column(sa.Column('intended_channel', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('message_decision', schema=None) as batch_op:
        batch_op.drop_column('intended_channel')
    with op.batch_alter_table('shop', schema=None) as batch_op:
        batch_op.drop_column('primary_locale')
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.drop_column('locale')
