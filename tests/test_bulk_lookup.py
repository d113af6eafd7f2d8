"""``app.stores.bulk.one_of``: the rows ``IN`` a list would find, no more (a value longer than the column is not
cut down to match another row), none for an empty list; on PostgreSQL one parameter, the same text for 3 values
as for 30. On both databases."""

from __future__ import annotations

from sqlmodel import select

from app.db import session_scope
from app.models.commerce import Customer
from app.models.shop import Shop
from app.stores.bulk import one_of
from tests.bulk_support import statements

FULL = "c4@" + "e" * 317  # as long as the column allows (320)


def _customers(settings, n: int) -> int:
    with session_scope(settings.database_url) as s:
        shop = Shop(domain="lookup.myshopify.com")
        s.add(shop)
        s.flush()
        for k in range(n):
            s.add(
                Customer(shop_id=shop.id, shopify_id=2**40 + k, email=FULL if k == 4 else f"c{k}@example.com")
            )
        return shop.id


def _found(settings, shop_id: int, column, values) -> list:  # noqa: ANN001
    with session_scope(settings.database_url) as s:
        rows = s.exec(select(column).where(Customer.shop_id == shop_id, one_of(s, column, values))).all()
    return sorted(rows)


def test_it_finds_what_in_finds_and_nothing_more(settings):
    shop_id = _customers(settings, 5)
    assert _found(settings, shop_id, Customer.shopify_id, [2**40 + 1, 2**40 + 3, 7]) == [2**40 + 1, 2**40 + 3]
    assert _found(settings, shop_id, Customer.shopify_id, []) == []
    assert _found(settings, shop_id, Customer.email, ["c2@example.com"]) == ["c2@example.com"]
    assert _found(settings, shop_id, Customer.email, [FULL]) == [FULL]
    assert (
        _found(settings, shop_id, Customer.email, [FULL + "x"]) == []
    )  # longer than the column: never cut to fit


def test_on_postgresql_the_statement_is_the_same_text_for_3_values_as_for_30(settings):
    shop_id = _customers(settings, 30)
    with statements(settings.database_url, lambda sql: "FROM customer" in sql) as seen:
        few = _found(settings, shop_id, Customer.shopify_id, [2**40 + k for k in range(3)])
        many = _found(settings, shop_id, Customer.shopify_id, [2**40 + k for k in range(30)])
    assert len(few) == 3 and len(many) == 30 and len(seen) == 2
    if settings.database_url.startswith("postgresql"):
        assert seen[0] == seen[1] and "ANY" in seen[0]
