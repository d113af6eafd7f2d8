"""guest SMS: checkouts' SMS marketing box and number and address country/province, orders' phone, and the
guest's number, SMS consent and country/province on guest_contact (e-mail optional: phone-only checkouts)
(issue 16)

Revision ID: 0037
Revises: 0034
Create Date: 2026-12-06 22:40:00.000000
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.models.base

revision = "0037"
down_revision = "0034"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("checkout", schema=None) as batch_op:
        batch_op.add_column(sa.Column("buyer_accepts_sms_marketing", sa.Boolean(), nullable=True))
        batch_op.add_column(
            sa.Column("sms_marketing_phone", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.add_column(sa.Column("country_code", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True))
        batch_op.add_column(
            sa.Column("province_code", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True)
        )
    with op.batch_alter_table("shop_order", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    with op.batch_alter_table("guest_contact", schema=None) as batch_op:
        batch_op.alter_column(
            "email", existing_type=sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True
        )
        batch_op.add_column(sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch_op.add_column(sa.Column("sms_state", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch_op.add_column(
            sa.Column("sms_state_updated_at", app.models.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("country_code", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True))
        batch_op.add_column(
            sa.Column("province_code", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True)
        )
        batch_op.create_index("ix_guest_contact_shop_phone", ["shop_id", "phone"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("guest_contact", schema=None) as batch_op:
        batch_op.drop_index("ix_guest_contact_shop_phone")
        batch_op.drop_column("province_code")
        batch_op.drop_column("country_code")
        batch_op.drop_column("sms_state_updated_at")
        batch_op.drop_column("sms_state")
        batch_op.drop_column("phone")
    op.execute("DELETE FROM guest_contact WHERE email IS NULL")  # phone-only guests have no place before 0037
    with op.batch_alter_table("guest_contact", schema=None) as batch_op:
        batch_op.alter_column(
            "email", existing_type=sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False
        )
    with op.batch_alter_table("shop_order", schema=None) as batch_op:
        batch_op.drop_column("phone")
    with op.batch_alter_table("checkout", schema=None) as batch_op:
        batch_op.drop_column("province_code")
        batch_op.drop_column("country_code")
        batch_op.drop_column("sms_marketing_phone")
        batch_op.drop_column("buyer_accepts_sms_marketing")
