"""Any permutation and duplication of a delivery stream ends in the state of the in-order stream."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlmodel import Session, select
from webhook_support import apply_each, make_shop

from app.db import get_engine
from app.models.commerce import Customer, Order, OrderLine, Product, ProductVariant

BASE = datetime(2026, 3, 1, tzinfo=UTC)
CUSTOMER_ID, PRODUCT_ID, ORDER_ID = (
    9_100_000_000_000_000_001,
    9_100_000_000_000_000_002,
    9_100_000_000_000_000_003,
)
_shops = itertools.count()


def _stamp(minutes: int) -> str:
    return (BASE + timedelta(minutes=minutes)).isoformat()


def customer_version(i: int, name: str, consent: str) -> tuple[str, dict]:
    return "customers/update" if i else "customers/create", {
        "id": CUSTOMER_ID,
        "first_name": name,
        "email": f"{name.lower()}@example.com",
        "updated_at": _stamp(i),
        "email_marketing_consent": {"state": consent, "consent_updated_at": _stamp(i)},
    }


def product_version(i: int, title: str, variants: list[int]) -> tuple[str, dict]:
    return "products/update" if i else "products/create", {
        "id": PRODUCT_ID,
        "title": title,
        "updated_at": _stamp(i),
        "variants": [
            {"id": 9_200_000_000_000_000_000 + v, "title": f"V{v}", "price": f"{v}.50"} for v in variants
        ],
    }


def order_version(i: int, status: str, lines: list[int]) -> tuple[str, dict]:
    return "orders/updated" if i else "orders/create", {
        "id": ORDER_ID,
        "financial_status": status,
        "total_price": f"{10 * len(lines)}.00",
        "updated_at": _stamp(i),
        "customer": {"id": CUSTOMER_ID, "updated_at": None},
        "line_items": [
            {"id": 9_150_000_000_000_000_000 + n, "quantity": n, "price": "10.00", "title": f"L{n}"}
            for n in lines
        ],
    }


names = st.sampled_from(["Ada", "Grace", "Linus", "Barbara"])
small_sets = st.lists(st.integers(1, 5), min_size=0, max_size=3, unique=True)


@st.composite
def delivery_streams(draw):
    """(in-order stream, a permutation of it with duplicates)."""
    stream = []
    for i in range(draw(st.integers(1, 4))):
        stream.append(customer_version(i, draw(names), draw(st.sampled_from(["subscribed", "unsubscribed"]))))
    for i in range(draw(st.integers(1, 4))):
        stream.append(product_version(i, draw(names), draw(small_sets)))
    for i in range(draw(st.integers(1, 4))):
        stream.append(
            order_version(i, draw(st.sampled_from(["pending", "paid", "refunded"])), draw(small_sets))
        )
    if draw(st.booleans()):
        stream.append(("products/delete", {"id": PRODUCT_ID}))
    shuffled = draw(st.permutations(stream))
    dupes = draw(st.lists(st.sampled_from(stream), max_size=6))
    positions = draw(st.lists(st.integers(0, len(shuffled)), min_size=len(dupes), max_size=len(dupes)))
    delivered = list(shuffled)
    for item, pos in zip(dupes, positions, strict=True):
        delivered.insert(pos, item)
    return stream, delivered


def _snapshot(db_url: str, shop_id: int) -> dict:
    out = {}
    with Session(get_engine(db_url)) as s:
        for model in (Customer, Product, ProductVariant, Order, OrderLine):
            rows = []
            for row in s.exec(select(model).where(model.shop_id == shop_id)):
                data = row.model_dump(exclude={"id", "shop_id"})
                if "deleted_at" in data:
                    data["deleted_at"] = data["deleted_at"] is not None
                rows.append(json.dumps(data, sort_keys=True, default=str))
            out[model.__tablename__] = sorted(rows)
    return out


@pytest.mark.usefixtures("jobs_env")
@hsettings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(streams=delivery_streams())
def test_any_order_and_duplication_converges(settings, session, streams):
    in_order, delivered = streams
    n = next(_shops)
    a = make_shop(session, f"order-a{n}.myshopify.com")
    b = make_shop(session, f"order-b{n}.myshopify.com")
    apply_each(settings.database_url, a.id, a.domain, in_order)
    apply_each(settings.database_url, b.id, b.domain, delivered)
    expected = _snapshot(settings.database_url, a.id)
    assert _snapshot(settings.database_url, b.id) == expected
    assert len(expected["customer"]) == 1 and len(expected["shop_order"]) == 1
