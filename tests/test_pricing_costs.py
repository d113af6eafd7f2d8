"""``InventoryItem.unitCost`` from the Admin API (issue 20): the bulk sync reads it (through the fake Shopify's
bulk operation), ``inventory_items/update`` keeps it current, and the margin floor of price suggestions and
changes uses it; where the merchant entered no cost, their default cost share stands in."""

from __future__ import annotations

from decimal import Decimal

import requests
from sqlmodel import select
from webhook_support import deliver, run_jobs

from app.jobs.sync import sync_shop
from app.models.pricing import PriceHistory, VariantCost


def _products(cost_a: str | None) -> list[dict]:
    return [
        {
            "id": 501,
            "title": "Lamp",
            "updated_at": "2026-01-01T00:00:00Z",
            "variants": [
                {"id": 601, "sku": "LAMP-1", "barcode": "0012345678905", "price": "100.00",
                 "inventory_quantity": 400, "inventory_item_id": 701, "cost": cost_a},
                {"id": 602, "sku": "LAMP-2", "price": "100.00", "inventory_quantity": 400, "inventory_item_id": 702},
            ],
        }
    ]  # fmt: skip


def _costs(session, shop_id) -> dict[int, tuple[Decimal | None, str | None]]:
    session.expire_all()
    rows = session.exec(select(VariantCost).where(VariantCost.shop_id == shop_id)).all()
    return {r.variant_id: (r.unit_cost, r.barcode) for r in rows}


def test_bulk_sync_reads_unit_costs_and_the_floor_uses_them(live_app, installed_shop, session, jobs_env):
    live_app.fake.seed(installed_shop.domain, products=_products("85.00"))
    sync_shop(installed_shop.id, settings=live_app.settings)
    costs = _costs(session, installed_shop.id)
    assert costs[601] == (Decimal("85.00"), "0012345678905")
    assert 602 not in costs or costs[602][0] is None  # no cost entered in Shopify
    history = session.exec(select(PriceHistory).where(PriceHistory.shop_id == installed_shop.id)).all()
    assert sorted(h.variant_id for h in history) == [601, 602]  # the bulk sync starts the price history too

    auth = {"Authorization": f"Bearer {live_app.fake.session_token(installed_shop.domain)}"}
    sug = requests.get(f"{live_app.url}/api/admin/pricing/suggestions", headers=auth, timeout=30).json()
    by = {s["variant_id"]: s for s in sug["suggestions"]}
    # 400 in stock, none sold: a markdown; the real cost (85 × 1.10 = 93.50) stops it, the default (50 %) does not
    assert by[601]["suggested"] == 93.5 and by[602]["suggested"] == 90.0
    refused = requests.post(f"{live_app.url}/api/admin/pricing/price-changes", json={"variant_id": 601, "price": 92.0},
                            headers=auth, timeout=30)  # fmt: skip
    assert refused.status_code == 422 and "85.00 (unit cost)" in refused.json()["message"]

    # inventory_items/update keeps the cost current: a cost for the second item, a bad amount changes nothing
    for payload in ({"id": 702, "cost": "30.50", "sku": "LAMP-2"}, {"id": 701, "cost": "abc"}, {"id": 999, "cost": "1"},
                    {"cost": "5.00"}):  # fmt: skip
        r = deliver(live_app.client(), "inventory_items/update", payload, shop=installed_shop.domain)
        assert r.status_code == 200
    run_jobs(jobs_env.redis_url, ("webhooks",))
    costs = _costs(session, installed_shop.id)
    assert costs[601][0] == Decimal("85.00") and costs[602][0] == Decimal("30.50")

    # the merchant removes the cost in Shopify: the next sync clears it, and the default applies again
    store = live_app.fake.store(installed_shop.domain)
    store.variants["gid://shopify/ProductVariant/601"]["inventoryItem"]["unitCost"] = None
    sync_shop(installed_shop.id, settings=live_app.settings)
    assert _costs(session, installed_shop.id)[601][0] is None
