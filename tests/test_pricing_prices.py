"""Price suggestions and price changes (issue 20): the guardrails (cost plus the margin floor, the largest step,
the cool-down, the Omnibus rule: flagged, and refused for a shop selling in the EU), suggestions for overstock
and strong demand, and through the admin API against the fake Shopify: a refused change answers 422 with its
reasons, an accepted one is applied with productVariantsBulkUpdate and logged, and the price history follows."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests
from sqlmodel import select
from writeback_support import REQUIRED, point_jobs_at

from app.agents.price_suggestions import PriceRules, VariantFacts, check, live_compare_at, suggest
from app.db import session_scope
from app.jobs.prices import apply_price_change
from app.models.commerce import Product, ProductVariant
from app.models.inventory import DemandForecast
from app.models.pricing import PriceChange, PriceHistory
from app.stores.pricing import save_unit_costs
from tests.test_pricing_offers import run_jobs
from tests.webhook_support import deliver

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
DOMAIN = "prices.myshopify.com"


def facts(**kw) -> VariantFacts:
    base = dict(variant_id=1, product_id=10, title="Lamp", price=100.0, compare_at=None, unit_cost=60.0,
                stock=10, sold_30d=5, last_change_at=None,
                history=((NOW - timedelta(days=90), 100.0),))  # fmt: skip
    return VariantFacts(**{**base, **kw})


def test_guardrails_each_refuse_with_a_reason():
    rules = PriceRules()
    assert check(facts(), 95.0, None, rules, NOW).ok
    assert "margin floor" in check(facts(unit_cost=90.0), 95.0, None, rules, NOW).refusals[0]
    assert "more than 10%" in check(facts(), 85.0, None, rules, NOW).refusals[0]
    assert "more than 10%" in check(facts(), 115.0, None, rules, NOW).refusals[0]
    cooling = check(facts(last_change_at=NOW - timedelta(days=3)), 95.0, None, rules, NOW)
    assert "cool-down" in cooling.refusals[0]
    assert check(facts(last_change_at=NOW - timedelta(days=15)), 95.0, None, rules, NOW).ok
    # without a synced unit cost, the merchant's default share of the regular price is the cost
    assert check(facts(unit_cost=None), 95.0, None, rules, NOW).ok
    assert check(facts(unit_cost=None), 105.0, None, rules, NOW).ok
    floor = check(facts(unit_cost=None, price=60.0), 54.0, None, PriceRules(default_cost_share=0.5), NOW)
    assert "default cost share" in floor.refusals[0] and "50.00" in floor.refusals[0]  # 0.5 × the regular 100
    assert not check(facts(), 0.0, None, rules, NOW).ok


def test_omnibus_compare_at_must_be_the_lowest_price_of_30_days():
    # the price was 80 two weeks ago, 100 now: a "was 100" on a 95 price is misleading
    history = (
        (NOW - timedelta(days=90), 100.0),
        (NOW - timedelta(days=20), 80.0),
        (NOW - timedelta(days=5), 100.0),
    )
    v = facts(history=history)
    flagged = check(v, 95.0, 100.0, PriceRules(), NOW)
    assert flagged.ok and "Omnibus" in flagged.flags[0] and "80.00" in flagged.flags[0]
    blocked = check(v, 95.0, 100.0, PriceRules(sells_in_eu=True), NOW)
    assert not blocked.ok and "Omnibus" in blocked.refusals[0]
    # with the lowest price of the window as the compare-at price, nothing to flag
    assert check(v, 72.0, 80.0, PriceRules(sells_in_eu=True, max_step=0.5), NOW).flags == ()
    # a price in force since before the window counts too
    steady = facts(history=((NOW - timedelta(days=90), 100.0),))
    assert check(steady, 95.0, 100.0, PriceRules(sells_in_eu=True), NOW).ok


def test_a_live_compare_at_is_checked_against_the_30_days_before_its_price():
    """A compare-at price set in Shopify: the lowest price of the 30 days before the current price took effect."""
    cut = NOW - timedelta(days=2)
    history = ((NOW - timedelta(days=90), 100.0), (NOW - timedelta(days=20), 80.0),
               (NOW - timedelta(days=5), 100.0), (cut, 90.0))  # fmt: skip
    assert live_compare_at(facts(price=90.0, compare_at=100.0, history=history)) == (80.0, cut)
    assert live_compare_at(facts(price=90.0, compare_at=80.0, history=history)) is None  # the 30-day low
    # 100 for months before the sale: "was 100" is right
    fine = ((NOW - timedelta(days=90), 100.0), (cut, 90.0))
    assert live_compare_at(facts(price=90.0, compare_at=100.0, history=fine)) is None
    assert live_compare_at(facts(price=90.0, compare_at=None, history=history)) is None
    no_earlier_price = ((cut, 90.0),)  # nothing to compare with
    assert live_compare_at(facts(price=90.0, compare_at=100.0, history=no_earlier_price)) is None
    # a compare-at edited later at the same price (a second history row at 90) is still judged from the cut
    edited = (*history, (NOW - timedelta(days=1), 90.0))
    assert live_compare_at(facts(price=90.0, compare_at=120.0, history=edited)) == (80.0, cut)


def test_suggestions_for_overstock_and_strong_demand():
    found = suggest([facts(variant_id=1, stock=500, sold_30d=4), facts(variant_id=2, stock=5, sold_30d=40),
                     facts(variant_id=3, stock=20, sold_30d=20), facts(variant_id=4, stock=500, sold_30d=1, unit_cost=95.0)],
                    PriceRules(), NOW)  # fmt: skip
    by = {s.variant_id: s for s in found}
    assert by[1].kind == "markdown" and by[1].suggested == 90.0 and by[1].check.ok
    assert by[2].kind == "increase" and by[2].suggested == 105.0 and by[2].check.ok
    assert 3 not in by
    assert 4 not in by  # cost plus the floor (104.50) is above the price: no markdown, and never a rise
    tight = suggest([facts(stock=500, sold_30d=1, unit_cost=84.0)], PriceRules(), NOW)
    assert [s.suggested for s in tight] == [92.4]  # the markdown stops at cost plus the floor


def test_the_inventory_agents_forecast_decides_overstock_where_it_has_one():
    """100 in stock: 40 sold in the last 30 days is 11 weeks of cover (no markdown), but the inventory agent
    expects 2 a week from now on (50 weeks: a markdown); 2 sold in 30 days is 214 weeks, but a forecast of 20 a
    week is 5 (none); a forecast of nothing at all is a slow mover."""
    falling = facts(stock=100, sold_30d=40)
    assert suggest([falling], PriceRules(), NOW) == []
    (cut,) = suggest([replace(falling, forecast_weekly=2.0)], PriceRules(), NOW)
    assert cut.kind == "markdown" and "50 weeks of stock at the inventory agent's forecast" in cut.reason
    rising = facts(stock=100, sold_30d=2)
    assert [s.kind for s in suggest([rising], PriceRules(), NOW)] == ["markdown"]
    assert suggest([replace(rising, forecast_weekly=20.0)], PriceRules(), NOW) == []
    (idle,) = suggest([replace(rising, forecast_weekly=0.0)], PriceRules(), NOW)
    assert idle.suggested == 90.0 and idle.reason.startswith("no sale forecast in 4 weeks")


@pytest.fixture
def shop(live_app, jobs_env, monkeypatch):
    live_app.fake.granted_scopes = REQUIRED + ",write_products"
    store = live_app.fake.seed(DOMAIN)
    product = store.add_product({"id": 77, "title": "Lamp", "variants": [{"id": 7701, "price": "100.00"}]})
    assert product["id"] == "gid://shopify/Product/77"
    assert live_app.install(DOMAIN).status_code == 200
    shop_id = live_app.shop_row(DOMAIN).id
    point_jobs_at(live_app, monkeypatch)
    with session_scope(live_app.settings.database_url) as s:
        s.add(Product(shop_id=shop_id, shopify_id=77, title="Lamp", handle="lamp", status="active"))
        s.add(ProductVariant(shop_id=shop_id, shopify_id=7701, product_shopify_id=77, price=Decimal("100.00"),
                             inventory_quantity=400))  # fmt: skip
        s.add(PriceHistory(shop_id=shop_id, variant_id=7701, price=Decimal("100.00"),
                           observed_at=datetime.now(UTC) - timedelta(days=60)))  # fmt: skip
        save_unit_costs(s, shop_id, {7701: Decimal("60.00")})
    return shop_id


def _post(live_app, body) -> requests.Response:
    return requests.post(f"{live_app.url}/api/admin/pricing/price-changes", json=body, timeout=30,
                         headers={"Authorization": f"Bearer {live_app.fake.session_token(DOMAIN)}"})  # fmt: skip


def test_changes_through_the_api_are_checked_applied_and_logged(live_app, jobs_env, shop):
    auth = {"Authorization": f"Bearer {live_app.fake.session_token(DOMAIN)}"}
    sug = requests.get(f"{live_app.url}/api/admin/pricing/suggestions", headers=auth, timeout=30).json()
    assert [(s["variant_id"], s["kind"], s["suggested"]) for s in sug["suggestions"]] == [
        (7701, "markdown", 90.0)
    ]
    for body, status in (({"variant_id": 7701, "price": 60.0}, 422), ({"variant_id": 7701, "price": 50}, 422),
                         ({"variant_id": 7701, "price": "abc"}, 400), ({"variant_id": "x", "price": 90}, 400),
                         ({"variant_id": 9999, "price": 90}, 404), ([1], 400)):  # fmt: skip
        r = _post(live_app, body)
        assert r.status_code == status, (body, r.text)
        assert r.json()["message"]
    refused = _post(live_app, {"variant_id": 7701, "price": 60.0}).json()
    assert any("margin floor" in x for x in refused["refusals"]) and any(
        "10%" in x for x in refused["refusals"]
    )
    ok = _post(live_app, {"variant_id": 7701, "price": 90.0, "compare_at_price": 100.0})
    assert ok.status_code == 202 and ok.json()["status"] == "approved" and ok.json()["flags"] == []
    assert apply_price_change(shop, ok.json()["id"])["status"] == "applied"
    variant = live_app.fake.store(DOMAIN).variants["gid://shopify/ProductVariant/7701"]
    assert variant["price"] == "90.00" and variant["compareAtPrice"] == "100.00"
    with session_scope(live_app.settings.database_url) as s:
        prices = [h.price for h in s.exec(select(PriceHistory).order_by(PriceHistory.observed_at)).all()]
        assert prices == [Decimal("100.00"), Decimal("90.00")]
    # the cool-down now refuses the next step, even one the suggestion would make
    again = _post(live_app, {"variant_id": 7701, "price": 85.0})
    assert again.status_code == 422 and "cool-down" in again.json()["message"]
    log = requests.get(f"{live_app.url}/api/admin/pricing/price-changes", headers=auth, timeout=30).json()
    assert [c["status"] for c in log["changes"]][:2] == ["refused", "applied"]


def test_omnibus_blocks_a_misleading_was_price_for_an_eu_shop(live_app, jobs_env, shop):
    auth = {"Authorization": f"Bearer {live_app.fake.session_token(DOMAIN)}"}
    r = requests.put(f"{live_app.url}/api/admin/pricing/settings", json={"prices": {"sells_in_eu": True}},
                     headers=auth, timeout=30)  # fmt: skip
    assert r.status_code == 200 and r.json()["prices"]["sells_in_eu"] is True
    bad = requests.put(f"{live_app.url}/api/admin/pricing/settings", json={"prices": {"max_step": 5}},
                       headers=auth, timeout=30)  # fmt: skip
    assert bad.status_code == 422
    r = _post(live_app, {"variant_id": 7701, "price": 95.0, "compare_at_price": 120.0})
    assert r.status_code == 422 and "Omnibus" in r.json()["message"]
    assert live_app.fake.store(DOMAIN).variants["gid://shopify/ProductVariant/7701"]["price"] == "100.00"


def test_the_suggestions_read_the_inventory_agents_current_forecast(live_app, jobs_env, shop):
    """400 lamps and no sale: a markdown; the inventory agent's nightly forecast of 200 in 4 weeks (8 weeks of
    cover) takes it away; a forecast older than a week, or one with no sales history under it, is not read."""
    auth = {"Authorization": f"Bearer {live_app.fake.session_token(DOMAIN)}"}

    def kinds() -> list[str]:
        body = requests.get(f"{live_app.url}/api/admin/pricing/suggestions", headers=auth, timeout=30).json()
        return [s["kind"] for s in body["suggestions"]]

    assert kinds() == ["markdown"]
    with session_scope(live_app.settings.database_url) as s:
        row = DemandForecast(shop_id=shop, variant_shopify_id=7701, product_shopify_id=77, method="ets",
                             basis="history", on_hand=400, units_28d=200.0, days_of_cover=56,
                             computed_at=datetime.now(UTC) - timedelta(hours=6))  # fmt: skip
        s.add(row)
    assert kinds() == []
    for change in ({"computed_at": datetime.now(UTC) - timedelta(days=9)}, {"basis": "none"}):
        with session_scope(live_app.settings.database_url) as s:
            found = s.exec(select(DemandForecast).where(DemandForecast.shop_id == shop)).one()
            for name, value in {"basis": "history", "computed_at": datetime.now(UTC), **change}.items():
                setattr(found, name, value)
            s.add(found)
        assert kinds() == ["markdown"], change


def test_an_approved_change_is_rechecked_and_an_api_error_is_logged(live_app, jobs_env, shop):
    first = _post(live_app, {"variant_id": 7701, "price": 95.0}).json()
    second = _post(live_app, {"variant_id": 7701, "price": 92.0}).json()
    assert apply_price_change(shop, first["id"])["status"] == "applied"
    assert apply_price_change(shop, second["id"])["status"] == "refused"  # the cool-down, at apply time
    with session_scope(live_app.settings.database_url) as s:
        row = PriceChange(shop_id=shop, variant_id=7701, product_id=78, old_price=Decimal("95"),
                          new_price=Decimal("96"), status="approved")  # fmt: skip
        s.add(row)
        s.flush()
        change_id = row.id
    assert (
        apply_price_change(shop, change_id, now=datetime.now(UTC) + timedelta(days=20))["status"] == "failed"
    )


def test_the_price_history_follows_product_webhooks_and_the_omnibus_check_reads_it(live_app, jobs_env, shop):
    """The merchant cut the price to 80 in Shopify twenty days ago and put it back to 100 five days ago
    (products/update): both go into the history, so a "was 100" on a 95 price is flagged for a shop outside the
    EU and refused, naming the 80.00, for one selling in it."""
    now = datetime.now(UTC).replace(microsecond=0)
    client = live_app.client()
    for days, price in ((20, "80.00"), (5, "100.00")):
        at = (now - timedelta(days=days)).isoformat()
        product = {"id": 77, "title": "Lamp", "handle": "lamp", "status": "active", "updated_at": at,
                   "variants": [{"id": 7701, "product_id": 77, "price": price, "compare_at_price": None,
                                 "inventory_quantity": 400, "updated_at": at}]}  # fmt: skip
        assert deliver(client, "products/update", product, shop=DOMAIN).status_code == 200
        run_jobs(jobs_env.redis_url, ("webhooks",))
    with session_scope(live_app.settings.database_url) as s:
        rows = s.exec(select(PriceHistory).where(PriceHistory.variant_id == 7701)).all()
        history = sorted((h.observed_at.replace(tzinfo=UTC), h.price) for h in rows)
    assert [p for _, p in history] == [Decimal("100.00"), Decimal("80.00"), Decimal("100.00")]
    assert history[1][0] == now - timedelta(days=20)
    flagged = _post(live_app, {"variant_id": 7701, "price": 95.0, "compare_at_price": 100.0})
    assert flagged.status_code == 202 and "Omnibus" in flagged.json()["flags"][0]
    assert "80.00" in flagged.json()["flags"][0]
    auth = {"Authorization": f"Bearer {live_app.fake.session_token(DOMAIN)}"}
    put = requests.put(f"{live_app.url}/api/admin/pricing/settings", json={"prices": {"sells_in_eu": True}},
                       headers=auth, timeout=30)  # fmt: skip
    assert put.status_code == 200
    refused = _post(live_app, {"variant_id": 7701, "price": 95.0, "compare_at_price": 100.0})
    assert refused.status_code == 422 and "Omnibus" in refused.json()["message"]
    assert "80.00" in refused.json()["message"]

    # the merchant then puts "was 100" on a 95 price in Shopify itself: Attune cannot refuse it, the admin flags it
    at = (now - timedelta(days=1)).isoformat()
    product = {"id": 77, "title": "Lamp", "handle": "lamp", "status": "active", "updated_at": at,
               "variants": [{"id": 7701, "product_id": 77, "price": "95.00", "compare_at_price": "100.00",
                             "inventory_quantity": 400, "updated_at": at}]}  # fmt: skip
    assert deliver(client, "products/update", product, shop=DOMAIN).status_code == 200
    run_jobs(jobs_env.redis_url, ("webhooks",))
    sug = requests.get(f"{live_app.url}/api/admin/pricing/suggestions", headers=auth, timeout=30).json()
    (flag,) = sug["compare_at_flags"]
    assert (flag["variant_id"], flag["compare_at"], flag["lowest_30d"]) == (7701, 100.0, 80.0)
    assert flag["sells_in_eu"] is True
    assert "Omnibus" in flag["message"] and "80.00" in flag["message"]
