"""scoped indexes: every lookup by shop and a second key (a customer's orders, an order's lines and refunds, a
product's variants, an outbox row's thread entry ...) gets an index on both columns. With only single-column
indexes SQLite's planner picked the shop_id index and read every row of the shop: writing one order's lines, or
reading one customer's orders, cost O(shop) and a large shop's backfill slowed from about 80 to 9 orders/s.

Revision ID: 0022
Revises: 0018
Create Date: 2026-12-06 13:55:00.000000
"""
from alembic import op


revision = '0022'
down_revision = '0018'
branch_labels = None
depends_on = None

INDEXES = (
    ('customer', 'ix_customer_shop_email', ['shop_id', 'email']),
    ('product_variant', 'ix_variant_shop_product', ['shop_id', 'product_shopify_id']),
    ('product_variant', 'ix_variant_shop_item', ['shop_id', 'inventory_item_id']),
    ('shop_order', 'ix_order_shop_customer', ['shop_id', 'customer_shopify_id']),
    ('shop_order', 'ix_order_shop_processed', ['shop_id', 'processed_at']),
    ('order_line', 'ix_order_line_shop_order', ['shop_id', 'order_shopify_id']),
    ('order_line', 'ix_order_line_shop_product', ['shop_id', 'product_shopify_id']),
    ('refund', 'ix_refund_shop_order', ['shop_id', 'order_shopify_id']),
    ('refund_line', 'ix_refund_line_shop_order', ['shop_id', 'order_shopify_id']),
    ('refund_line', 'ix_refund_line_shop_refund', ['shop_id', 'refund_shopify_id']),
    ('checkout', 'ix_checkout_shop_customer', ['shop_id', 'customer_shopify_id']),
    ('pixel_event', 'ix_pixel_event_shop_customer', ['shop_id', 'customer_shopify_id']),
    ('conversation_message', 'ix_conversation_message_shop_outbox', ['shop_id', 'outbox_id']),
    ('customer_profile', 'ix_customer_profile_shop_customer', ['shop_id', 'customer_shopify_id']),
)


def upgrade() -> None:
    for table, name, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for table, name, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
