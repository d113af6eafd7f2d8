"""The install backfill brings each variant's stock per location (issue 19): a shop with two locations in the fake
Shopify is backfilled through its bulk JSONL, its levels and the day's stock land in ``inventory_level`` and
``inventory_day`` (the tables ``inventory_levels/update`` writes), a re-sync changes nothing, a newer webhook-style
update survives a re-sync, and the nightly forecast then makes per-location rows without any webhook."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import select

from app.commerce.upserts import upsert_inventory_level
from app.jobs.inventory import forecast_shop
from app.jobs.sync import sync_shop
from app.models.commerce import InventoryLevel
from app.models.inventory import DemandForecast, DemandForecastLocation, InventoryDay
from app.stores.inventory import record_level_day

ITEM, VARIANT, WAREHOUSE, FLOOR = 501, 201, 71, 72


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _seed(fake, domain: str, now: datetime) -> None:
    fake.seed(
        domain,
        products=[
            {
                "id": 101,
                "title": "Wool socks",
                "updated_at": _iso(now - timedelta(days=90)),
                "variants": [
                    {
                        "id": VARIANT,
                        "sku": "SOCK-1",
                        "price": "9.00",
                        "inventory_item_id": ITEM,
                        "inventory_levels": [
                            {
                                "location_id": WAREHOUSE,
                                "location_name": "Warehouse",
                                "available": 40,
                                "updated_at": _iso(now - timedelta(days=20)),
                            },
                            {
                                "location_id": FLOOR,
                                "location_name": "Shop floor",
                                "available": 4,
                                "updated_at": _iso(now - timedelta(days=3)),
                            },
                        ],
                    }
                ],
            }
        ],
        orders=[
            {
                "id": 400 + k,
                "created_at": _iso(now - timedelta(days=2 + 3 * k)),
                "lines": [{"variant_id": VARIANT, "quantity": 1 + k % 2}],
            }
            for k in range(25)
        ],
    )


def _stock(session, shop_id: int):
    session.expire_all()
    levels = {
        (r.inventory_item_id, r.location_id): (r.available, r.shopify_updated_at.replace(tzinfo=None))
        for r in session.exec(select(InventoryLevel).where(InventoryLevel.shop_id == shop_id))
    }
    days = {
        (r.inventory_item_id, r.location_id, r.day): r.available
        for r in session.exec(select(InventoryDay).where(InventoryDay.shop_id == shop_id))
    }
    return levels, days


def test_the_backfill_brings_stock_per_location_and_the_forecast_uses_it(live_app, installed_shop, session):
    now = datetime.now(UTC).replace(microsecond=0)
    shop_id = installed_shop.id
    _seed(live_app.fake, installed_shop.domain, now)
    sync_shop(shop_id, kind="initial", settings=live_app.settings)

    levels, days = _stock(session, shop_id)
    assert {k: v[0] for k, v in levels.items()} == {(ITEM, WAREHOUSE): 40, (ITEM, FLOOR): 4}
    assert days == {
        (ITEM, WAREHOUSE, (now - timedelta(days=20)).date()): 40,
        (ITEM, FLOOR, (now - timedelta(days=3)).date()): 4,
    }

    # A re-sync (same day, same data) changes nothing.
    sync_shop(shop_id, settings=live_app.settings)
    assert _stock(session, shop_id) == (levels, days)

    # An update newer than the backfilled version (as inventory_levels/update applies it) wins over a re-sync
    # that still carries the older level; an older one changes nothing.
    for at, available in ((now, 1), (now - timedelta(days=4), 30)):
        data = {
            "inventory_item_id": ITEM,
            "location_id": FLOOR,
            "available": available,
            "updated_at": _iso(at),
        }
        record_level_day(session, shop_id, upsert_inventory_level(session, shop_id, data))
        session.commit()
    sync_shop(shop_id, settings=live_app.settings)
    levels, days = _stock(session, shop_id)
    assert levels[(ITEM, FLOOR)][0] == 1 and days[(ITEM, FLOOR, now.date())] == 1
    assert days[(ITEM, FLOOR, (now - timedelta(days=3)).date())] == 4

    # A stock change in Shopify reaches the next sync with its own time.
    live_app.fake.store(installed_shop.domain).set_inventory_level(VARIANT, WAREHOUSE, 25)
    sync_shop(shop_id, settings=live_app.settings)
    levels, days = _stock(session, shop_id)
    assert levels[(ITEM, WAREHOUSE)][0] == 25 and days[(ITEM, WAREHOUSE, now.date())] == 25

    # The nightly forecast: per-location rows for both locations, with no webhook ever received.
    assert forecast_shop(shop_id, settings=live_app.settings, now=now + timedelta(days=1)) == 1
    session.expire_all()
    total = session.exec(select(DemandForecast).where(DemandForecast.shop_id == shop_id)).one()
    assert total.on_hand == 26
    rows = {
        r.location_id: r
        for r in session.exec(select(DemandForecastLocation).where(DemandForecastLocation.shop_id == shop_id))
    }
    assert set(rows) == {WAREHOUSE, FLOOR}
    assert rows[WAREHOUSE].on_hand == 25 and rows[FLOOR].on_hand == 1
    assert all(r.variant_shopify_id == VARIANT and r.units_28d > 0 for r in rows.values())
    assert abs(sum(r.share for r in rows.values()) - 1) < 1e-3
