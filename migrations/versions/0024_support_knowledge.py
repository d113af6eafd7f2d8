"""support knowledge: the support agent's passages per shop (policies, pages, products, reviews, FAQ) with
their vectors, the merchant's FAQ entries, and how each support answer was given (abstained, hand-off rule,
source passage)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 13:30:00.000000
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import app.models.base


revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('knowledge_passage',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('source_key', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('question', sa.Text(), nullable=True),
    sa.Column('url', sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=True),
    sa.Column('product_shopify_id', sa.BigInteger(), nullable=True),
    sa.Column('customer_shopify_id', sa.BigInteger(), nullable=True),
    sa.Column('digest', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('model', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('dim', sa.Integer(), nullable=False),
    sa.Column('vector', sa.LargeBinary(), nullable=False),
    sa.Column('question_vector', sa.LargeBinary(), nullable=True),
    sa.Column('updated_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shop.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('shop_id', 'source_key', 'position', name='uq_knowledge_passage_shop_source_pos')
    )
    with op.batch_alter_table('knowledge_passage', schema=None) as batch_op:
        batch_op.create_index('ix_knowledge_passage_shop_product', ['shop_id', 'product_shopify_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_knowledge_passage_shop_id'), ['shop_id'], unique=False)

    op.create_table('support_faq',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('question', sa.Text(), nullable=False),
    sa.Column('answer', sa.Text(), nullable=False),
    sa.Column('created_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shop.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('support_faq', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_support_faq_shop_id'), ['shop_id'], unique=False)

    with op.batch_alter_table('support_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('abstained', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('handoff', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch_op.add_column(sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=160), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('support_message', schema=None) as batch_op:
        batch_op.drop_column('source')
        batch_op.drop_column('handoff')
        batch_op.drop_column('abstained')
    with op.batch_alter_table('support_faq', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_support_faq_shop_id'))
    op.drop_table('support_faq')
    with op.batch_alter_table('knowledge_passage', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_knowledge_passage_shop_id'))
        batch_op.drop_index('ix_knowledge_passage_shop_product')
    op.drop_table('knowledge_passage')
