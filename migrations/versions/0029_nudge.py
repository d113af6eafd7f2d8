"""nudge: in-session rescue's live sessions (signals folded, risk, the one decision) and each shop's nudge
settings and learned risk layer

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-06 16:15:00.000000
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import app.models.base


revision = '0029'
down_revision = '0028'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('nudge_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('session_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('client_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('customer_shopify_id', sa.BigInteger(), nullable=True),
    sa.Column('cart_token', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('holdout', sa.Boolean(), nullable=False),
    sa.Column('state', sa.JSON(), nullable=False),
    sa.Column('features', sa.JSON(), nullable=False),
    sa.Column('risk', sa.Float(), nullable=True),
    sa.Column('cart_value', sa.Float(), nullable=False),
    sa.Column('events', sa.Integer(), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('rung', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('decided_at', app.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('started_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shop.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('shop_id', 'session_key', name='uq_nudge_session_shop_key')
    )
    with op.batch_alter_table('nudge_session', schema=None) as batch_op:
        batch_op.create_index('ix_nudge_session_shop_decided', ['shop_id', 'decided_at'], unique=False)
        batch_op.create_index('ix_nudge_session_shop_client', ['shop_id', 'client_id'], unique=False)
        batch_op.create_index('ix_nudge_session_shop_customer', ['shop_id', 'customer_shopify_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_nudge_session_shop_id'), ['shop_id'], unique=False)

    op.create_table('nudge_shop',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('settings', sa.JSON(), nullable=False),
    sa.Column('risk_layer', sa.JSON(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shop.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('shop_id', name='uq_nudge_shop_shop')
    )
    with op.batch_alter_table('nudge_shop', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_nudge_shop_shop_id'), ['shop_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('nudge_shop', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_nudge_shop_shop_id'))
    op.drop_table('nudge_shop')
    with op.batch_alter_table('nudge_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_nudge_session_shop_id'))
        batch_op.drop_index('ix_nudge_session_shop_customer')
        batch_op.drop_index('ix_nudge_session_shop_client')
        batch_op.drop_index('ix_nudge_session_shop_decided')
    op.drop_table('nudge_session')
