"""web push and on-site channels: push subscriptions, the on-site nudge's outbox message, the outbox's latest
send time

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 10:40:00.000000
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import app.models.base


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('push_subscription',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('shopper_key', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('customer_shopify_id', sa.BigInteger(), nullable=True),
    sa.Column('client_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('endpoint', sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=False),
    sa.Column('p256dh', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('auth', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shop.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('shop_id', 'endpoint', name='uq_push_subscription_endpoint')
    )
    with op.batch_alter_table('push_subscription', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_push_subscription_shop_id'), ['shop_id'], unique=False)
        batch_op.create_index('ix_push_subscription_shop_shopper', ['shop_id', 'shopper_key'], unique=False)

    with op.batch_alter_table('nudge', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outbox_id', sa.Integer(), nullable=True))
        batch_op.create_unique_constraint('uq_nudge_outbox', ['shop_id', 'outbox_id'])

    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('latest_at', app.models.base.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_column('latest_at')

    with op.batch_alter_table('nudge', schema=None) as batch_op:
        batch_op.drop_constraint('uq_nudge_outbox', type_='unique')
        batch_op.drop_column('outbox_id')

    with op.batch_alter_table('push_subscription', schema=None) as batch_op:
        batch_op.drop_index('ix_push_subscription_shop_shopper')
        batch_op.drop_index(batch_op.f('ix_push_subscription_shop_id'))

    op.drop_table('push_subscription')
