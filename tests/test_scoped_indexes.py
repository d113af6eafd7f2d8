"""Every lookup by shop and a second key uses an index on both columns. With single-column indexes SQLite's
planner chose the shop_id index and read every row of the shop (one order's lines, one customer's orders, one
outbox row's thread entry): the cost of a write or a per-customer refresh grew with the shop."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from app.migrate import upgrade

LOOKUPS = [
    ("order_line", "order_shopify_id"),
    ("order_line", "product_shopify_id"),
    ("shop_order", "customer_shopify_id"),
    ("refund", "order_shopify_id"),
    ("refund_line", "order_shopify_id"),
    ("refund_line", "refund_shopify_id"),
    ("product_variant", "product_shopify_id"),
    ("product_variant", "inventory_item_id"),
    ("customer", "email"),
    ("checkout", "customer_shopify_id"),
    ("pixel_event", "customer_shopify_id"),
    ("conversation_message", "outbox_id"),
    ("customer_profile", "customer_shopify_id"),
    ("outbox_message", "shopper_key"),
    ("message_decision", "shopper_key"),
    ("agent_setting", "agent"),
    ("agent_lift_snapshot", "agent"),
]


@pytest.fixture(scope="module")
def sqlite_engine(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('plans') / 'plans.sqlite3'}"
    upgrade(url)
    engine = create_engine(url)
    yield engine
    engine.dispose()


@pytest.mark.parametrize(("table", "column"), LOOKUPS)
def test_a_lookup_by_shop_and_key_searches_an_index_on_both(sqlite_engine, table, column):
    with sqlite_engine.connect() as conn:
        plan = " ".join(
            row[-1]
            for row in conn.execute(
                text(f"EXPLAIN QUERY PLAN SELECT * FROM {table} WHERE shop_id = :s AND {column} = :v"),
                {"s": 1, "v": 5},
            )
        )
    assert f"shop_id=? AND {column}=?" in plan, plan
