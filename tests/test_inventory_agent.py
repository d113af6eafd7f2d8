"""The inventory agent in production (issue 19): stock history from version-guarded webhooks, censored demand,
the nightly job's decisions per variant, and the admin API with its per-vendor CSV and settings."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime, timedelta

import jwt
import numpy as np
import pytest
from sqlmodel import select

from app import tasks
from app.db import session_scope
from app.jobs.inventory import censored_series, forecast_shop
from app.models.commerce import InventoryLevel, Order, OrderLine, Product, ProductVariant
from app.models.inventory import DemandForecast, InventoryDay
from app.models.shop import Shop
from app.worker import PERIODIC_JOBS
from tests.conftest import TEST_API_KEY, TEST_API_SECRET
from webhooks.handlers.inventory import level_changed

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
DOMAIN, OTHER = "stock.myshopify.com", "other.myshopify.com"
STEADY, ONCE, NEVER, SIBLING = 11, 12, 13, 14  # variants; STEADY and ONCE are the same product
ITEM = {STEADY: 901, ONCE: 902, NEVER: 903, SIBLING: 904}
_ids = iter(range(500_000, 600_000))


def _token(domain: str = DOMAIN) -> str:
    now = int(time.time())
    claims = {"iss": f"https://{domain}/admin", "dest": f"https://{domain}", "aud": TEST_API_KEY, "sub": "1",
              "exp": now + 60, "nbf": now - 5, "iat": now - 5, "jti": "j", "sid": "s"}  # fmt: skip
    return jwt.encode(claims, TEST_API_SECRET, algorithm="HS256")


def _sale(s, shop_id, variant, product, days_ago, qty, *, cancelled=False):
    oid = next(_ids)
    at = NOW - timedelta(days=days_ago, hours=2)
    s.add(Order(shop_id=shop_id, shopify_id=oid, processed_at=at, cancelled_at=at if cancelled else None))
    s.add(OrderLine(shop_id=shop_id, shopify_id=next(_ids), order_shopify_id=oid, product_shopify_id=product,
                    variant_shopify_id=variant, quantity=qty, title="x"))  # fmt: skip


def _level(s, shop, item, available, at, location=1):
    payload = {"inventory_item_id": item, "location_id": location, "available": available,
               "updated_at": at.isoformat()}  # fmt: skip
    level_changed(s, shop, payload, None)


@pytest.fixture
def shop_id(jobs_env):
    """A shop selling STEADY 3 a day for 120 days except while it was out of stock (40..30 days ago), ONCE once,
    NEVER never; SIBLING (another product, vendor Acme) 1 a day. Another shop beside it."""
    with session_scope(jobs_env.database_url) as s:
        shops = [Shop(domain=d, access_token_enc="x", installed_at=NOW) for d in (DOMAIN, OTHER)]
        s.add_all(shops)
        s.flush()
        shop = shops[0]
        s.add(Product(shop_id=shop.id, shopify_id=1, title="Tea", vendor="Leafco"))
        s.add(Product(shop_id=shop.id, shopify_id=2, title="Mug", vendor="Acme"))
        for v, product in ((STEADY, 1), (ONCE, 1), (NEVER, 1), (SIBLING, 2)):
            s.add(ProductVariant(shop_id=shop.id, shopify_id=v, product_shopify_id=product, title=f"v{v}",
                                 sku=f"SKU{v}", inventory_item_id=ITEM[v]))  # fmt: skip
        for d in range(1, 121):
            if not 30 < d <= 40:
                _sale(s, shop.id, STEADY, 1, d, 3)
            _sale(s, shop.id, SIBLING, 2, d, 1)
        _sale(s, shop.id, STEADY, 1, 5, 50, cancelled=True)  # a cancelled order is no demand
        _sale(s, shop.id, ONCE, 1, 3, 2)
        _level(s, shop, ITEM[STEADY], 0, NOW - timedelta(days=40, hours=1))  # sold out 40 days ago ...
        _level(s, shop, ITEM[STEADY], 200, NOW - timedelta(days=30, hours=20))  # ... restocked 30 days ago
        _level(s, shop, ITEM[STEADY], 20, NOW - timedelta(days=1))  # 20 left now: about a week of cover
        _level(s, shop, ITEM[SIBLING], 500, NOW - timedelta(days=2))
        _level(s, shop, ITEM[NEVER], 4, NOW - timedelta(days=2))
        _level(s, shop, ITEM[ONCE], 0, NOW - timedelta(days=2))
        s.add(Product(shop_id=shops[1].id, shopify_id=1, title="Other", vendor="Leafco"))
        s.add(
            ProductVariant(shop_id=shops[1].id, shopify_id=STEADY, product_shopify_id=1, inventory_item_id=1)
        )
        return shop.id


def _rows(settings, shop_id):
    with session_scope(settings.database_url) as s:
        return {
            r.variant_shopify_id: r
            for r in s.exec(select(DemandForecast).where(DemandForecast.shop_id == shop_id))
        }


def test_censored_days_are_unknown_not_zero():
    units = np.array([3, 0, 0, 2, 0], dtype=float)
    stock = np.array([5, 0, 0, 4, np.nan])
    out = censored_series(units, stock)
    assert np.isnan(out[1]) and np.isnan(out[2]) and out[0] == 3 and out[4] == 0  # unknown stock: observed


def test_nightly_job_stores_decisions_per_variant(jobs_env, shop_id):
    assert forecast_shop(shop_id, now=NOW) == 4
    rows = _rows(jobs_env, shop_id)
    steady = rows[STEADY]
    assert steady.censored_days == 9 and steady.basis == "history"  # 40..32 days ago; restocked on day 31
    # 3 a day: censoring keeps the ten sold-out days from dragging the level down (28 days ≈ 84 units)
    assert 70 <= steady.units_28d <= 100
    assert steady.on_hand == 20 and 4 <= steady.days_of_cover <= 9
    assert steady.stockout_p10 <= steady.stockout_p50 <= steady.stockout_p90
    assert steady.alert and steady.suggested_order > 0 and steady.reorder_point > 14 * 3 * 0.8
    assert rows[ONCE].basis == "product_prior" and rows[ONCE].on_hand == 0
    assert rows[NEVER].basis == "none" and rows[NEVER].units_28d == 0 and not rows[NEVER].alert
    assert rows[SIBLING].vendor == "Acme" and not rows[SIBLING].alert and rows[SIBLING].suggested_order == 0
    assert forecast_shop(shop_id, now=NOW) == 4  # idempotent
    assert _rows(jobs_env, shop_id)[STEADY].units_28d == steady.units_28d


def test_levels_are_version_guarded_and_absurd_values_refused(jobs_env, shop_id):
    with session_scope(jobs_env.database_url) as s:
        shop = s.get(Shop, shop_id)
        _level(s, shop, 777, 9, NOW)
        _level(s, shop, 777, 3, NOW - timedelta(hours=5))  # older, arriving late: ignored
        _level(s, shop, 777, 10**12, NOW + timedelta(hours=1))  # absurd: refused
        _level(s, shop, 777, "many", NOW + timedelta(hours=2))  # not a number: refused
    with session_scope(jobs_env.database_url) as s:
        level = s.exec(select(InventoryLevel).where(InventoryLevel.shop_id == shop_id,
                                                    InventoryLevel.inventory_item_id == 777)).one()  # fmt: skip
        days = s.exec(select(InventoryDay).where(InventoryDay.shop_id == shop_id,
                                                 InventoryDay.inventory_item_id == 777)).all()  # fmt: skip
    assert level.available == 9
    assert [(d.day, d.available) for d in days] == [(NOW.date(), 9)]


def test_admin_api_csv_and_settings(client, jobs_env, shop_id):
    forecast_shop(shop_id, now=NOW)
    auth = {"Authorization": f"Bearer {_token()}"}
    body = client.get("/api/admin/inventory", headers=auth).json
    order = [v["variant_shopify_id"] for v in body["variants"]]
    assert order[:2] == [ONCE, STEADY] and body["alerts"] == 2  # alerts first, the least cover first
    assert {v["variant_shopify_id"] for v in body["variants"]} == set(ITEM)  # this shop's only
    assert body["defaults"] == {"lead_time_days": 14, "review_days": 7, "service_level": 0.95}
    assert (
        client.get("/api/admin/inventory", headers={"Authorization": f"Bearer {_token(OTHER)}"}).json[
            "variants"
        ]
        == []
    )
    out = client.get("/api/admin/inventory/reorder.csv?vendor=Leafco", headers=auth)
    assert out.status_code == 200 and out.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(out.get_data(as_text=True))))
    assert [r["sku"] for r in rows] == [f"SKU{ONCE}", f"SKU{STEADY}"]  # Leafco's to order; NEVER has stock
    assert all(int(r["suggested_order"]) > 0 for r in rows)
    assert client.get("/api/admin/inventory/reorder.csv", headers=auth).status_code == 400
    for bad in ({"lead_time_days": -2}, {"service_level": 1.5}, {"review_days": "soon"}, [1]):
        r = client.put("/api/admin/inventory/settings", json=bad, headers=auth)
        assert r.status_code == 400 and r.json["message"], bad
    ok = client.put("/api/admin/inventory/settings", headers=auth,
                    json={"vendor": "Leafco", "lead_time_days": 2, "review_days": 1, "service_level": 0.9})  # fmt: skip
    assert ok.status_code == 200
    forecast_shop(shop_id, now=NOW)
    steady = _rows(jobs_env, shop_id)[STEADY]
    assert not steady.alert  # a week of cover is enough with a two-day lead time and a one-day review
    assert client.get("/api/admin/inventory").status_code == 401


def test_nightly_cron_queues_a_forecast_per_installed_shop(jobs_env, shop_id, monkeypatch):
    queued = []
    monkeypatch.setattr(tasks, "forecast_inventory", lambda url, sid: queued.append(sid) or True)
    from app.jobs.inventory import forecast_all_shops

    assert forecast_all_shops() == 2 and shop_id in queued
    assert any(job[0] == tasks.FORECAST_ALL_INVENTORY for job in PERIODIC_JOBS)


def test_cards_stop_promoting_what_sells_out_before_its_restock(jobs_env, shop_id):
    from app.recommend.personal import list_rules
    from app.stores.catalog import product_cards

    forecast_shop(shop_id, now=NOW)
    with session_scope(jobs_env.database_url) as s:
        cards = product_cards(s, shop_id, [1, 2])
    # STEADY (a week of cover, 14-day lead time) sells out before a restock: the card shows NEVER instead
    assert cards[1]["variant_id"] == NEVER and not cards[1]["selling_out"] and not cards[2]["selling_out"]
    with session_scope(jobs_env.database_url) as s:
        _level(s, s.get(Shop, shop_id), ITEM[NEVER], 0, NOW + timedelta(minutes=1))
        cards = product_cards(s, shop_id, [1, 2])
    assert cards[1]["available"] and cards[1]["selling_out"] and cards[1]["variant_id"] == STEADY
    rules = list_rules(cards, {}, {}, {}, [])
    assert rules.out_of_stock == {"1"}  # still sellable, no longer promoted


def test_stock_is_summed_over_locations_and_carried_forward(jobs_env, shop_id):
    from app.stores.inventory import stock_by_day

    day0 = NOW.date() - timedelta(days=5)
    with session_scope(jobs_env.database_url) as s:
        shop = s.get(Shop, shop_id)
        _level(s, shop, 4242, 0, NOW - timedelta(days=4), location=1)  # sold out at the first location ...
        _level(
            s, shop, 4242, 5, NOW - timedelta(days=3), location=2
        )  # ... five at the second from a day later
        stock = stock_by_day(s, shop_id, [4242], day0, NOW.date())[4242]
    assert np.isnan(stock[0]) and stock[1] == 0 and list(stock[2:]) == [5, 5, 5]
    units = np.zeros(5)
    assert list(np.isnan(censored_series(units, stock))) == [False, True, False, False, False]


def test_a_lone_variant_with_one_sale_gets_its_categorys_prior(jobs_env, shop_id):
    """A one-variant product sold once borrows its category's forecast (flagged); a variant with a sibling that
    has a history still borrows its product's; without a category a lone one keeps its product's (its own)."""
    with session_scope(jobs_env.database_url) as s:
        for pid, kind in ((1, "Kitchen"), (2, "Kitchen")):
            product = s.exec(
                select(Product).where(Product.shop_id == shop_id, Product.shopify_id == pid)
            ).one()
            product.product_type = kind
            s.add(product)
        for pid, vid, kind in ((3, 31, " kitchen "), (4, 41, None)):
            s.add(Product(shop_id=shop_id, shopify_id=pid, title=f"P{pid}", vendor="Acme", product_type=kind))
            s.add(
                ProductVariant(
                    shop_id=shop_id, shopify_id=vid, product_shopify_id=pid, inventory_item_id=vid * 10
                )
            )
            _sale(s, shop_id, vid, pid, 4, 1)
    forecast_shop(shop_id, now=NOW)
    rows = _rows(jobs_env, shop_id)
    assert rows[31].basis == "category_prior"  # the category's two variants with a history, averaged
    assert rows[31].units_28d == pytest.approx(
        (rows[STEADY].units_28d + rows[SIBLING].units_28d) / 2, abs=0.01
    )
    # ONCE's sibling STEADY has a history: the product's prior comes first
    assert rows[ONCE].basis == "product_prior"
    assert rows[41].basis == "product_prior"


def test_a_refund_leaves_demand_as_ordered(jobs_env, shop_id):
    """Returns are not netted out of demand (what was ordered is what was wanted), nor read as negative sales."""
    from app.models.commerce import Refund, RefundLine
    from app.stores.inventory import daily_units

    start, end = NOW.date() - timedelta(days=10), NOW.date()
    with session_scope(jobs_env.database_url) as s:
        before = daily_units(s, shop_id, start, end)[SIBLING].copy()
        line = s.exec(select(OrderLine).where(OrderLine.shop_id == shop_id,
                                              OrderLine.variant_shopify_id == SIBLING)).first()  # fmt: skip
        s.add(
            Refund(shop_id=shop_id, shopify_id=77, order_shopify_id=line.order_shopify_id, processed_at=NOW)
        )
        s.add(RefundLine(shop_id=shop_id, shopify_id=78, refund_shopify_id=77, order_shopify_id=line.order_shopify_id,
                         order_line_shopify_id=line.shopify_id, variant_shopify_id=SIBLING, quantity=1))  # fmt: skip
        _sale(s, shop_id, SIBLING, 2, 2, -4)  # a negative line (an exchange's return) is no sale either
        after = daily_units(s, shop_id, start, end)[SIBLING]
    assert list(after) == list(before) == [1.0] * 10


def test_cli_forecasts_a_shop_with_a_progress_bar(jobs_env, shop_id):
    from click.testing import CliRunner

    from app.cli import main

    out = CliRunner().invoke(main, ["inventory", "forecast", DOMAIN])
    assert out.exit_code == 0, out.output
    assert f"{DOMAIN}: 4 variants forecast" in out.stdout
    assert "variants: 100%" in out.stderr and "4/4" in out.stderr  # the bar, drawn to the end
    assert len(_rows(jobs_env, shop_id)) == 4
    missing = CliRunner().invoke(main, ["inventory", "forecast", "nowhere.myshopify.com"])
    assert missing.exit_code != 0 and "is not an installed shop" in missing.output
