"""Price suggestions sized by the price response (issue 20): the elasticity read from the shop's own price history
and orders (through the database), shrunk toward the product type, decides how deep a markdown goes and whether
an increase pays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import jwt
import numpy as np
import pytest

from app.agents.price_suggestions import PriceRules, VariantFacts, suggest
from app.db import session_scope
from app.modelling.price_response import Response
from app.models.commerce import Order, OrderLine, Product, ProductVariant
from app.models.pricing import PriceHistory
from app.models.shop import Shop
from app.stores.price_response import price_responses
from tests.conftest import TEST_API_KEY, TEST_API_SECRET

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def facts(**kw) -> VariantFacts:
    base = dict(variant_id=1, product_id=10, title="Lamp", price=100.0, compare_at=None, unit_cost=40.0,
                stock=10, sold_30d=5, last_change_at=None, history=((NOW - timedelta(days=90), 100.0),))  # fmt: skip
    return VariantFacts(**{**base, **kw})


def _resp(e: float, sd: float = 0.1) -> Response:
    return Response(e, sd, e, 4, 0.9, "lamps")


def test_the_elasticity_sizes_markdowns_and_decides_increases():
    rules = PriceRules()
    over = dict(stock=200, sold_30d=40)  # about 21 weeks of cover
    elastic = suggest([facts(response=_resp(-4.0), **over)], rules, NOW)[0]
    weak = suggest([facts(response=_resp(-0.8), **over)], rules, NOW)[0]
    assert elastic.kind == weak.kind == "markdown" and elastic.measured
    assert (
        95.0 > elastic.suggested > 85.0 and weak.suggested == 90.0
    )  # a responsive variant needs a smaller cut
    assert elastic.units_change > 0.3 and "elasticity -4.0" in elastic.reason
    # strong demand, plenty of stock: an increase only where the measured response is weak enough to pay
    strong = dict(stock=60, sold_30d=30)  # 8.6 weeks: neither scarce nor overstocked
    inelastic = suggest([facts(response=_resp(-0.4), **strong)], rules, NOW)
    assert [(s.kind, s.suggested) for s in inelastic] == [("increase", 105.0)]
    assert inelastic[0].margin_change_30d > 0
    assert suggest([facts(response=_resp(-3.5), **strong)], rules, NOW) == []
    assert suggest([facts(response=None, **strong)], rules, NOW) == []  # no measurement, no such increase
    # scarce, but so price-sensitive that a rise loses margin: no increase
    assert suggest([facts(response=_resp(-9.0), stock=5, sold_30d=40, unit_cost=20.0)], rules, NOW) == []


def _token(domain: str) -> str:
    import time

    now = int(time.time())
    claims = {"iss": f"https://{domain}/admin", "dest": f"https://{domain}", "aud": TEST_API_KEY, "sub": "1",
              "exp": now + 60, "nbf": now - 5, "iat": now - 5, "jti": "j", "sid": "s"}  # fmt: skip
    return jwt.encode(claims, TEST_API_SECRET, algorithm="HS256")


def _seed(db_url: str, truth: dict[int, tuple[str, float, int]]) -> int:
    """Variants (id → (product type, elasticity, changes)) with a year of price history and daily orders."""
    rng = np.random.default_rng(7)
    start = NOW - timedelta(days=360)
    with session_scope(db_url) as s:
        shop = Shop(domain="elastic.myshopify.com", access_token_enc="x", installed_at=NOW)
        s.add(shop)
        s.flush()
        order_id = 1
        for vid, (ptype, e, changes) in truth.items():
            s.add(Product(shop_id=shop.id, shopify_id=vid, title=f"P{vid}", handle=f"p{vid}", product_type=ptype,
                          status="active"))  # fmt: skip
            days = sorted(rng.choice(np.arange(30, 330), size=changes, replace=False)) if changes else []
            prices = [(start, 50.0)] + [(start + timedelta(days=int(d)), float(rng.choice([40.0, 45.0, 55.0, 60.0])))
                                        for d in days]  # fmt: skip
            for at, p in prices:
                s.add(
                    PriceHistory(shop_id=shop.id, variant_id=vid, price=Decimal(f"{p:.2f}"), observed_at=at)
                )
            s.add(ProductVariant(shop_id=shop.id, shopify_id=vid, product_shopify_id=vid, price=Decimal(f"{prices[-1][1]:.2f}"),
                                 inventory_quantity=500))  # fmt: skip
            for i in range(360):
                day = start + timedelta(days=i, hours=10)
                price = [p for at, p in prices if at <= day][-1]
                qty = int(rng.poisson(3.0 * (price / 50.0) ** e))
                if qty:
                    s.add(Order(shop_id=shop.id, shopify_id=order_id, processed_at=day))
                    s.add(OrderLine(shop_id=shop.id, shopify_id=order_id, order_shopify_id=order_id,
                                    variant_shopify_id=vid, quantity=qty))  # fmt: skip
                    order_id += 1
        return shop.id


@pytest.fixture
def seeded(db_url):
    truth = {i: ("Lamps", -2.0, 5) for i in range(1, 6)} | {i: ("Mugs", -0.5, 5) for i in range(6, 11)}
    truth[11] = ("Lamps", 0.0, 0)  # never changed price: its type's elasticity
    return _seed(db_url, truth)


def test_the_shops_own_history_is_read_and_shrunk_to_the_type(db_url, seeded):
    with session_scope(db_url) as s:
        out = price_responses(s, seeded, NOW)
    lamps = [out[i].elasticity for i in range(1, 6)]
    mugs = [out[i].elasticity for i in range(6, 11)]
    assert abs(sum(lamps) / 5 - -2.0) < 0.3 and abs(sum(mugs) / 5 - -0.5) < 0.3, (lamps, mugs)
    assert out[11].raw is None and abs(out[11].elasticity - sum(lamps) / 5) < 0.3
    assert out[1].product_type == "lamps" and out[1].changes >= 3


def test_the_suggestions_api_reports_the_measured_response(client, db_url, seeded, monkeypatch):
    import app.web.admin_prices as web

    monkeypatch.setattr(web, "utcnow", lambda: NOW)
    r = client.get("/api/admin/pricing/suggestions",
                   headers={"Authorization": f"Bearer {_token('elastic.myshopify.com')}"})  # fmt: skip
    assert r.status_code == 200, r.get_json()
    rows = {x["variant_id"]: x for x in r.get_json()["suggestions"]}
    assert rows, "500 units in stock at about 3 a day is overstock: markdowns expected"
    for vid, x in rows.items():
        assert x["measured"] is True
        assert (x["elasticity"] < -1.3) if vid <= 5 or vid == 11 else (x["elasticity"] > -1.0)


def test_a_markdown_never_breaks_its_own_step_when_rounded_to_the_cent():
    """1.95 × 0.9 = 1.755: rounded half-down to 1.75 the cut would be 10.3 %, past the 10 % step the rules allow."""
    rules = PriceRules()
    for price in (1.95, 1.65, 0.95, 19.99, 100.0):
        (s,) = suggest([facts(price=price, unit_cost=0.1, stock=500, sold_30d=0)], rules, NOW)
        assert s.kind == "markdown" and s.check.refusals == (), (price, s.suggested, s.check)
