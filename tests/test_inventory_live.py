"""The inventory agent's per-location forecasts, live accuracy, overstock favouring and admin endpoints (issue 19).

- A variant stocked at two locations gets a forecast and decisions per location: the location's share of the
  demand from its stock drawdowns, through the same ``forecast`` the backtest measures; the location that sells
  three quarters of it runs short while the total does not.
- Weekly snapshots of the served forecasts are scored against what sold (censored days left out), beside the
  naive baseline scored the same way; the admin serves them (bad ``weeks`` is a 400).
- Overstocked items are lifted a little in lists where the merchant asks for it, never past a pin or a rule.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

import jwt
import numpy as np
import pytest
from sqlmodel import select

from app.db import session_scope
from app.jobs.inventory import HISTORY_DAYS, _from_first_sale, censored_series, forecast_shop
from app.modelling.demand import Config, forecast
from app.modelling.inventory_live import Snapshot, accuracy, location_shares
from app.models.commerce import InventoryLevel, Order, OrderLine, Product, ProductVariant
from app.models.inventory import DemandForecast, DemandForecastLocation, DemandSnapshot, InventoryDay
from app.models.shop import Shop
from app.recommend.blend import MAX_FAVOUR_BOOST, Candidate, Rules, blend
from app.recommend.personal import list_rules
from app.stores.catalog import product_cards
from app.stores.inventory_live import accuracy_pairs, save_preference
from tests.conftest import TEST_API_KEY, TEST_API_SECRET

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
DOMAIN, OTHER = "where.myshopify.com", "elsewhere.myshopify.com"
VARIANT, ITEM, PLENTY, PLENTY_ITEM = 11, 901, 21, 902
_ids = iter(range(700_000, 800_000))


def _token(domain: str = DOMAIN) -> str:
    now = int(time.time())
    claims = {"iss": f"https://{domain}/admin", "dest": f"https://{domain}", "aud": TEST_API_KEY, "sub": "1",
              "exp": now + 60, "nbf": now - 5, "iat": now - 5, "jti": "j", "sid": "s"}  # fmt: skip
    return jwt.encode(claims, TEST_API_SECRET, algorithm="HS256")


def _sale(s, shop_id, variant, product, at, qty):
    oid = next(_ids)
    s.add(Order(shop_id=shop_id, shopify_id=oid, processed_at=at))
    s.add(OrderLine(shop_id=shop_id, shopify_id=next(_ids), order_shopify_id=oid, product_shopify_id=product,
                    variant_shopify_id=variant, quantity=qty, title="x"))  # fmt: skip


def _shops(s) -> tuple[int, int]:
    shops = [Shop(domain=d, access_token_enc="x", installed_at=NOW) for d in (DOMAIN, OTHER)]
    s.add_all(shops)
    s.flush()
    return shops[0].id, shops[1].id


@pytest.fixture
def two_locations(jobs_env):
    """VARIANT sells 4 a day for 120 days; location 1's stock falls 3 a day (30 left), location 2's 1 a day
    (100 left). PLENTY (another product) sells 1 a day with 500 in stock at one location."""
    with session_scope(jobs_env.database_url) as s:
        shop_id, _ = _shops(s)
        s.add(Product(shop_id=shop_id, shopify_id=1, title="Tea", vendor="Leafco"))
        s.add(Product(shop_id=shop_id, shopify_id=2, title="Mug", vendor="Acme"))
        s.add(
            ProductVariant(shop_id=shop_id, shopify_id=VARIANT, product_shopify_id=1, inventory_item_id=ITEM)
        )
        s.add(ProductVariant(shop_id=shop_id, shopify_id=PLENTY, product_shopify_id=2,
                             inventory_item_id=PLENTY_ITEM))  # fmt: skip
        for d in range(1, 121):
            _sale(s, shop_id, VARIANT, 1, NOW - timedelta(days=d, hours=2), 4)
            _sale(s, shop_id, PLENTY, 2, NOW - timedelta(days=d, hours=2), 1)
            day = NOW.date() - timedelta(days=d)
            s.add(
                InventoryDay(
                    shop_id=shop_id, inventory_item_id=ITEM, location_id=1, day=day, available=30 + 3 * d
                )
            )
            s.add(
                InventoryDay(
                    shop_id=shop_id, inventory_item_id=ITEM, location_id=2, day=day, available=100 + d
                )
            )
        s.add(InventoryLevel(shop_id=shop_id, inventory_item_id=ITEM, location_id=1, available=30,
                             shopify_updated_at=NOW))  # fmt: skip
        s.add(InventoryLevel(shop_id=shop_id, inventory_item_id=ITEM, location_id=2, available=100,
                             shopify_updated_at=NOW))  # fmt: skip
        s.add(InventoryLevel(shop_id=shop_id, inventory_item_id=PLENTY_ITEM, location_id=1, available=500,
                             shopify_updated_at=NOW))  # fmt: skip
    return shop_id


def test_location_shares_follow_drawdowns_then_stock_then_equal():
    falling = {1: np.array([np.nan, 9, 6, 3, 10]), 2: np.array([5, 4, 3, 2, 1.0])}  # a restock is no demand
    assert location_shares(falling, {1: 10, 2: 1}) == pytest.approx({1: 0.6, 2: 0.4})  # 3 + 3 vs 4 × 1
    flat = {1: np.array([5, 5.0]), 2: np.array([1, 1.0])}
    assert location_shares(flat, {1: 30, 2: 10}) == pytest.approx({1: 0.75, 2: 0.25})
    assert location_shares({}, {1: 0, 2: -3}) == {1: 0.5, 2: 0.5}
    assert location_shares({}, {}) == {}


def test_each_location_gets_its_own_forecast_and_decision(jobs_env, two_locations):
    shop_id = two_locations
    forecast_shop(shop_id, now=NOW)
    with session_scope(jobs_env.database_url) as s:
        rows = {r.location_id: r for r in s.exec(select(DemandForecastLocation))}
        total = s.exec(select(DemandForecast).where(DemandForecast.variant_shopify_id == VARIANT)).one()
    assert set(rows) == {1, 2} and all(
        r.shop_id == shop_id and r.variant_shopify_id == VARIANT for r in rows.values()
    )
    assert rows[1].share == pytest.approx(0.75) and rows[2].share == pytest.approx(0.25)
    assert rows[1].on_hand == 30 and rows[2].on_hand == 100
    assert rows[1].units_28d == pytest.approx(3 * total.units_28d / 4 * 1, rel=0.15)
    assert (
        rows[1].alert and rows[1].days_of_cover < 21 and rows[1].suggested_order > 0
    )  # three a day, 30 left
    assert not rows[2].alert and rows[2].days_of_cover >= 56  # one a day, 100 left
    assert not total.alert  # 130 in all: the shortage is only visible per location
    # the same function the backtest measures, on the location's share of the variant's units
    start = NOW.date() - timedelta(days=HISTORY_DAYS)
    units = np.zeros(HISTORY_DAYS)
    units[HISTORY_DAYS - 120 :] = 4
    stock = {loc: np.full(HISTORY_DAYS, np.nan) for loc in (1, 2)}
    for d in range(1, 121):
        k = (NOW.date() - timedelta(days=d) - start).days
        stock[1][k], stock[2][k] = 30 + 3 * d, 100 + d
    series = [
        _from_first_sale(censored_series(units * share, stock[loc])) for loc, share in ((1, 0.75), (2, 0.25))
    ]
    fc = forecast(series, (NOW.date() - date(1970, 1, 1)).days, Config())
    assert rows[1].units_28d == pytest.approx(float(fc.mean[0].sum()), abs=1e-3)
    assert rows[2].units_28d == pytest.approx(float(fc.mean[1].sum()), abs=1e-3)


def test_a_single_location_shop_keeps_no_location_rows(jobs_env, two_locations):
    with session_scope(jobs_env.database_url) as s:
        level = s.exec(select(InventoryLevel).where(InventoryLevel.location_id == 2)).one()
        s.delete(level)
    forecast_shop(two_locations, now=NOW)
    with session_scope(jobs_env.database_url) as s:
        assert s.exec(select(DemandForecastLocation)).all() == []


def test_snapshots_are_weekly_and_a_same_day_rerun_replaces(jobs_env, two_locations):
    shop_id = two_locations

    def origins():
        with session_scope(jobs_env.database_url) as s:
            return sorted((r.origin, r.variant_shopify_id) for r in s.exec(select(DemandSnapshot)))

    forecast_shop(shop_id, now=NOW)
    forecast_shop(shop_id, now=NOW)
    assert origins() == sorted([(NOW.date(), VARIANT), (NOW.date(), PLENTY)])
    forecast_shop(shop_id, now=NOW + timedelta(days=3))  # not due: a week between snapshots
    assert {o for o, _ in origins()} == {NOW.date()}
    forecast_shop(shop_id, now=NOW + timedelta(days=7))
    assert {o for o, _ in origins()} == {NOW.date(), NOW.date() + timedelta(days=7)}
    latest = NOW.date() + timedelta(days=7)
    with session_scope(jobs_env.database_url) as s:
        snap = s.exec(
            select(DemandSnapshot).where(
                DemandSnapshot.variant_shopify_id == VARIANT, DemandSnapshot.origin == latest
            )
        ).one()
        served = s.exec(select(DemandForecast).where(DemandForecast.variant_shopify_id == VARIANT)).one()
    assert snap.daily == served.daily and len(snap.daily.split(",")) == 28  # what was served that night
    assert snap.naive == 0 and snap.scale > 0  # no sale in the 7 days since: the naive level is 0


def test_accuracy_math_against_naive():
    origin = date(2026, 5, 1)
    good = Snapshot(origin, np.full(28, 2.0), naive=5.0, scale=1.0)
    actual = np.array([2, 2, np.nan, 2, 4.0])  # a censored day is not scored
    weekly, overall = accuracy([(good, actual)])
    (score,) = weekly
    assert score.items == 1 and score.days == 5 and score.sold == 10 and score.forecast == 8
    assert score.mae == pytest.approx(0.5) and score.mae_naive == pytest.approx((3 + 3 + 3 + 1) / 4)
    assert score.rmsse == pytest.approx(np.sqrt(4 / 4)) and score.rmsse_naive == pytest.approx(
        np.sqrt(28 / 4), abs=1e-4
    )
    assert overall == score
    later = Snapshot(date(2026, 5, 8), np.full(28, 1.0), naive=1.0, scale=4.0)
    weekly, overall = accuracy([(good, actual), (later, np.array([1.0, 3.0])), (later, np.array([np.nan]))])
    assert [w.origin for w in weekly] == [origin, date(2026, 5, 8)] and overall.items == 2
    assert accuracy([]) == ([], None) and accuracy([(good, np.array([np.nan]))]) == ([], None)


def _live_accuracy_data(s, today: date) -> tuple[int, int]:
    """A snapshot 14 days ago forecasting 2 a day (naive 5); 2 sold each day but one, censored (out of stock)."""
    shop_id, other = _shops(s)
    origin = today - timedelta(days=14)
    s.add(ProductVariant(shop_id=shop_id, shopify_id=VARIANT, product_shopify_id=1, inventory_item_id=ITEM))
    for k in range(14):
        at = datetime.combine(origin + timedelta(days=k), datetime.min.time(), tzinfo=UTC) + timedelta(
            hours=10
        )
        if k != 3:
            _sale(s, shop_id, VARIANT, 1, at, 2)
    s.add(InventoryDay(shop_id=shop_id, inventory_item_id=ITEM, location_id=1, day=origin, available=40))
    s.add(InventoryDay(shop_id=shop_id, inventory_item_id=ITEM, location_id=1, day=origin + timedelta(days=3),
                       available=0))  # fmt: skip
    s.add(InventoryDay(shop_id=shop_id, inventory_item_id=ITEM, location_id=1, day=origin + timedelta(days=4),
                       available=50))  # fmt: skip
    for sid, naive in ((shop_id, 5.0), (other, 0.0)):
        s.add(DemandSnapshot(shop_id=sid, variant_shopify_id=VARIANT, origin=origin, daily=",".join(["2.000"] * 28),
                             naive=naive, scale=1.0))  # fmt: skip
    return shop_id, other


def test_live_accuracy_scores_stored_forecasts_against_what_sold(jobs_env):
    today = NOW.date()
    with session_scope(jobs_env.database_url) as s:
        shop_id, other = _live_accuracy_data(s, today)
    with session_scope(jobs_env.database_url) as s:
        pairs = accuracy_pairs(s, shop_id, today, weeks=4)
        assert accuracy_pairs(s, shop_id, today, weeks=1) == []  # 14 days ago is outside one week
        (other_pair,) = accuracy_pairs(s, other, today, weeks=4)
    ((snap, actual),) = pairs
    assert len(actual) == 14 and np.isnan(actual[3]) and np.nansum(actual) == 26
    _, overall = accuracy(pairs)
    assert overall.mae == 0 and overall.mae_naive == 3 and overall.rmsse == 0 and overall.rmsse_naive == 3
    assert np.nansum(other_pair[1]) == 0  # the other shop sold nothing: its orders are not this shop's


def test_admin_serves_accuracy_locations_and_preferences(client, jobs_env, two_locations):
    auth = {"Authorization": f"Bearer {_token()}"}
    forecast_shop(two_locations, now=NOW)
    body = client.get("/api/admin/inventory", headers=auth).json
    row = next(v for v in body["variants"] if v["variant_shopify_id"] == VARIANT)
    assert [x["location_id"] for x in row["locations"]] == [1, 2] and row["locations"][0]["alert"] is True
    assert body["preferences"] == {"favour_overstock": False, "alert_email": True, "alert_flow": True}
    for bad in ({}, [1], {"favour_overstock": "yes"}, {"louder": True}):
        r = client.put("/api/admin/inventory/preferences", json=bad, headers=auth)
        assert r.status_code == 400 and r.json["message"], bad
    ok = client.put("/api/admin/inventory/preferences", json={"favour_overstock": True}, headers=auth)
    assert ok.status_code == 200 and ok.json == {
        "favour_overstock": True,
        "alert_email": True,
        "alert_flow": True,
    }
    assert client.get("/api/admin/inventory", headers=auth).json["preferences"]["favour_overstock"] is True
    for bad in ("0", "27", "x", "-1"):
        assert client.get(f"/api/admin/inventory/accuracy?weeks={bad}", headers=auth).status_code == 400
    empty = client.get("/api/admin/inventory/accuracy", headers=auth).json
    assert empty == {
        "weeks": 12,
        "origins": [],
        "overall": None,
    }  # NOW's snapshot is not in the real past weeks
    assert client.get("/api/admin/inventory/accuracy").status_code == 401


def test_admin_accuracy_over_the_real_past_weeks(client, jobs_env):
    with session_scope(jobs_env.database_url) as s:
        _live_accuracy_data(s, datetime.now(UTC).date())
    body = client.get(
        "/api/admin/inventory/accuracy?weeks=4", headers={"Authorization": f"Bearer {_token()}"}
    ).json
    (week,) = body["origins"]
    assert week == body["overall"] and week["items"] == 1 and week["days"] == 14
    assert week["mae"] == 0 and week["mae_naive"] == 3 and week["rmsse"] == 0 and week["rmsse_naive"] == 3
    other = client.get(
        "/api/admin/inventory/accuracy", headers={"Authorization": f"Bearer {_token(OTHER)}"}
    ).json
    assert other["overall"]["mae"] == 2 and other["overall"]["mae_naive"] == 0  # its own: naive 0, no sales


def test_overstock_is_favoured_only_when_the_merchant_asks(jobs_env, two_locations):
    shop_id = two_locations
    forecast_shop(shop_id, now=NOW)
    with session_scope(jobs_env.database_url) as s:
        assert not product_cards(s, shop_id, [1, 2])[2]["overstocked"]
        save_preference(s, shop_id, favour_overstock=True)
    with session_scope(jobs_env.database_url) as s:
        cards = product_cards(s, shop_id, [1, 2])
    assert cards[2]["overstocked"] and not cards[1]["overstocked"]  # 500 for one a day; tea sells through
    rules = list_rules(cards, {}, {}, {}, [])
    assert rules.favoured == {"2"}


def test_the_overstock_lift_is_bounded_and_never_beats_a_rule():
    cands = [
        Candidate("a", 1.0, "popular", ""),
        Candidate("b", 0.9, "popular", ""),
        Candidate("c", 0.5, "popular", ""),
    ]
    plain = blend(cands, "popular", Rules())
    assert [r.product_id for r in plain] == ["a", "b", "c"]
    lifted = blend(cands, "popular", Rules(favoured={"b", "c"}, favour_boost=0.15))
    assert [r.product_id for r in lifted] == ["b", "a", "c"]  # close behind: moves up; far behind: stays
    assert [r.score for r in lifted] == [0.9, 1.0, 0.5]  # the scores shown are the blend's own
    huge = blend(cands, "popular", Rules(favoured={"c"}, favour_boost=10.0))
    assert [r.product_id for r in huge] == ["a", "b", "c"] and MAX_FAVOUR_BOOST < 1
    ruled = blend(
        cands,
        "popular",
        Rules(favoured={"b"}, favour_boost=0.15, out_of_stock={"b"}, pins={"popular": ["c"]}),
    )
    assert [r.product_id for r in ruled] == ["c", "a"]


def test_a_location_can_have_its_own_lead_time(client, jobs_env, two_locations):
    auth = {"Authorization": f"Bearer {_token()}"}
    for bad in ({"location_id": "1"}, {"location_id": 0}, {"location_id": True}, {"location_id": 1, "vendor": ""},
                {"location_id": 1, "lead_time_days": 400}):  # fmt: skip
        r = client.put("/api/admin/inventory/settings", json=bad, headers=auth)
        assert r.status_code == 400 and r.json["message"], bad
    ok = client.put("/api/admin/inventory/settings", headers=auth,
                    json={"location_id": 1, "lead_time_days": 2, "review_days": 1, "service_level": 0.9})  # fmt: skip
    assert ok.status_code == 200 and ok.json["location_id"] == 1
    forecast_shop(two_locations, now=NOW)
    with session_scope(jobs_env.database_url) as s:
        rows = {r.location_id: r for r in s.exec(select(DemandForecastLocation))}
    assert not rows[1].alert  # ten days of cover against a three-day cycle at location 1
    body = client.get("/api/admin/inventory", headers=auth).json
    assert body["location_settings"] == [
        {"location_id": 1, "lead_time_days": 2, "review_days": 1, "service_level": 0.9}
    ]
    assert body["settings"] == []  # the vendor's (and the shop's) stay at the defaults
