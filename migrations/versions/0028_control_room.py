"""control room: each agent's settings per shop (switch, channels, weekly budget, allowed hours) and each agent's
latest lift per shop (the pool thin shops are shrunk toward)

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-06 16:30:00.000000
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import app.models.base


revision = '0028'
down_revision = '0027'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('agent_setting',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('agent', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('channels', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('weekly_budget', sa.Integer(), nullable=True),
    sa.Column('quiet_start_minute', sa.Integer(), nullable=True),
    sa.Column('quiet_end_minute', sa.Integer(), nullable=True),
    sa.Column('updated_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shop.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('shop_id', 'agent', name='uq_agent_setting_agent')
    )
    with op.batch_alter_table('agent_setting', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agent_setting_shop_id'), ['shop_id'], unique=False)

    op.create_table('agent_lift_snapshot',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('agent', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('metric', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('estimate', sa.Float(), nullable=False),
    sa.Column('standard_error', sa.Float(), nullable=False),
    sa.Column('shoppers', sa.Integer(), nullable=False),
    sa.Column('simulated', sa.Boolean(), nullable=False),
    sa.Column('measured_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shop.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('shop_id', 'agent', 'metric', name='uq_agent_lift_snapshot')
    )
    with op.batch_alter_table('agent_lift_snapshot', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agent_lift_snapshot_shop_id'), ['shop_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('agent_lift_snapshot', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agent_lift_snapshot_shop_id'))
    op.drop_table('agent_lift_snapshot')
    with op.batch_alter_table('agent_setting', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agent_setting_shop_id'))
    op.drop_table('agent_setting')
