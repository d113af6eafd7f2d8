"""writeback: Attune's writes back to Shopify (consent, customer metafields), done, skipped or failed

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08 10:00:00.000000
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import app.models.base


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('shopify_writeback',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('customer_shopify_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('requested_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('done_at', app.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shop.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('shop_id', 'customer_shopify_id', 'kind', name='uq_shopify_writeback_kind')
    )
    with op.batch_alter_table('shopify_writeback', schema=None) as batch_op:
        batch_op.create_index('ix_shopify_writeback_shop_status', ['shop_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_shopify_writeback_shop_id'), ['shop_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('shopify_writeback', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shopify_writeback_shop_id'))
        batch_op.drop_index('ix_shopify_writeback_shop_status')
    op.drop_table('shopify_writeback')
