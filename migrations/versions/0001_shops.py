"""shops

Revision ID: 0001
Revises: 
Create Date: 2026-11-25 08:11:22.439065
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import app.models.base


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    
    op.create_table('shop',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('domain', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('access_token_enc', sqlmodel.sql.sqltypes.AutoString(length=2048), nullable=True),
    sa.Column('refresh_token_enc', sqlmodel.sql.sqltypes.AutoString(length=2048), nullable=True),
    sa.Column('access_token_expires_at', app.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('refresh_token_expires_at', app.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('scopes', sqlmodel.sql.sqltypes.AutoString(length=2048), nullable=False),
    sa.Column('pixel_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('web_pixel_id', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('installed_at', app.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('uninstalled_at', app.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('shop', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shop_domain'), ['domain'], unique=True)

    


def downgrade() -> None:
    
    with op.batch_alter_table('shop', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shop_domain'))

    op.drop_table('shop')
    
