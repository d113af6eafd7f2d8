"""``app.stores.bulk.one_of``: the rows ``IN`` a list would find, no more (a value longer than the column is not
cut down to match another row), none for an empty list; on PostgreSQL one parameter, the same text for 3 values
as for 30. ``any_of`` in a ``prebuilt`` statement finds the same, its values given at each execution. On both
databases."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam
from sqlmodel import select

from app.db import session_scope
from app.models.commerce import Customer
from app.models.shop import Shop
from app.stores.bulk import any_of, execute, one_of, prebuilt
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


def _prebuilt_found(settings, shop_id: int, column, values) -> list:  # noqa: ANN001
    with session_scope(settings.database_url) as s:
        stmt = _BY_COLUMN[column.key](s)
        rows = s.connection().execute(stmt, {"shop_id": shop_id, "values": list(values)}).scalars().all()
    return sorted(rows)


def _query(name: str):  # noqa: ANN202
    @prebuilt
    def build(dialect: str):  # noqa: ANN202
        c = Customer.__table__.c
        return select(c[name]).where(c.shop_id == bindparam("shop_id"), any_of(dialect, c[name], "values"))

    return build


_BY_COLUMN = {name: _query(name) for name in ("shopify_id", "email")}


@pytest.mark.parametrize("found", [_found, _prebuilt_found], ids=["one_of", "any_of prebuilt"])
def test_it_finds_what_in_finds_and_nothing_more(settings, found):
    shop_id = _customers(settings, 5)
    assert found(settings, shop_id, Customer.shopify_id, [2**40 + 1, 2**40 + 3, 7]) == [2**40 + 1, 2**40 + 3]
    assert found(settings, shop_id, Customer.shopify_id, []) == []
    assert found(settings, shop_id, Customer.email, ["c2@example.com"]) == ["c2@example.com"]
    assert found(settings, shop_id, Customer.email, [FULL]) == [FULL]
    assert (
        found(settings, shop_id, Customer.email, [FULL + "x"]) == []
    )  # longer than the column: never cut to fit
    assert found(settings, shop_id, Customer.email, ["c1@example.com", "c3@example.com"]) == [
        "c1@example.com",
        "c3@example.com",
    ]  # the same statement, other values


def test_a_prebuilt_statement_is_built_once_per_dialect(settings):
    with session_scope(settings.database_url) as s:
        assert _BY_COLUMN["email"](s) is _BY_COLUMN["email"](s)


def test_on_postgresql_the_statement_is_the_same_text_for_3_values_as_for_30(settings):
    shop_id = _customers(settings, 30)
    with statements(settings.database_url, lambda sql: "FROM customer" in sql) as seen:
        few = _found(settings, shop_id, Customer.shopify_id, [2**40 + k for k in range(3)])
        many = _found(settings, shop_id, Customer.shopify_id, [2**40 + k for k in range(30)])
    assert len(few) == 3 and len(many) == 30 and len(seen) == 2
    if settings.database_url.startswith("postgresql"):
        assert seen[0] == seen[1] and "ANY" in seen[0]


def test_a_prebuilt_query_sees_what_the_session_has_not_flushed_yet(settings):
    """``execute`` flushes first, as the ORM's own queries do: a customer added in the same transaction is found
    (and, inside ``no_autoflush``, not)."""
    shop_id = _customers(settings, 1)
    with session_scope(settings.database_url) as s:
        s.add(Customer(shop_id=shop_id, shopify_id=2**40 + 9, email="new@example.com"))
        with s.no_autoflush:
            unseen = execute(s, _BY_COLUMN["email"](s), {"shop_id": shop_id, "values": ["new@example.com"]})
            assert unseen.scalars().all() == []
        seen = execute(s, _BY_COLUMN["email"](s), {"shop_id": shop_id, "values": ["new@example.com"]})
        assert seen.scalars().all() == ["new@example.com"]
