"""guest_contact: guest checkouts' e-mail address and marketing consent, so after-session rescue can reach a
guest who opted in at checkout (issue 16)

Revision ID: 0035
Revises: 0038
Create Date: 2026-12-06 19:40:00.000000
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import app.models.base


revision = "0035"
down_revision = "0038"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "guest_contact",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("guest_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("email_state", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("checkout_token", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("state_updated_at", app.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", app.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["shop_id"], ["shop.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("shop_id", "guest_key", name="uq_guest_contact_key"),
    )
    with op.batch_alter_table("guest_contact", schema=None) as batch_op:
        batch_op.create_index("ix_guest_contact_shop_email", ["shop_id", "email"], unique=False)
        batch_op.create_index(batch_op.f("ix_guest_contact_shop_id"), ["shop_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("guest_contact", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_guest_contact_shop_id"))
        batch_op.drop_index("ix_guest_contact_shop_email")
    op.drop_table("guest_contact")
