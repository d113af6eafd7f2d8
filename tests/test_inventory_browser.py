"""The dashboard's Reorder section in headless Chromium, opened through the fake Shopify's admin frame: the
vendor's variants that run out before a restock, with cover, stock-out range and the suggested order, and the
vendor's CSV downloaded with the session token. A screenshot goes to test-artifacts/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import ROOT, TEST_API_KEY
from fixtures_shopify import InstalledShop, LiveApp
from sqlmodel import select

from app.jobs.inventory import forecast_shop
from app.models.commerce import InventoryLevel, Order, OrderLine, Product, ProductVariant
from tests.browser_support import BROWSER_MARKS, admin_page, chromium

pytestmark = [*BROWSER_MARKS, pytest.mark.slow]
ARTIFACTS = ROOT / "test-artifacts"


def test_reorder_section_lists_what_to_order_per_vendor(
    live_app: LiveApp, installed_shop: InstalledShop, session, settings
):
    sid, now = installed_shop.id, datetime.now(UTC)
    session.add(Product(shop_id=sid, shopify_id=31, title="Green tea", vendor="Leafco"))
    session.add(
        ProductVariant(shop_id=sid, shopify_id=310, product_shopify_id=31, sku="GT-1", inventory_item_id=3100)
    )
    session.add(InventoryLevel(shop_id=sid, inventory_item_id=3100, location_id=1, available=6,
                               shopify_updated_at=now))  # fmt: skip
    for d in range(1, 61):
        session.add(Order(shop_id=sid, shopify_id=9000 + d, processed_at=now - timedelta(days=d)))
        session.add(OrderLine(shop_id=sid, shopify_id=19000 + d, order_shopify_id=9000 + d, product_shopify_id=31,
                              variant_shopify_id=310, quantity=2, title="x"))  # fmt: skip
    session.commit()
    forecast_shop(sid, settings, now=now)
    landing = live_app.fake.origin_template.format(shop=installed_shop.domain) + f"/admin/apps/{TEST_API_KEY}"
    ARTIFACTS.mkdir(exist_ok=True)
    with chromium() as browser:
        page = admin_page(browser)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(landing)
        row = page.locator('#reorder-body [data-vendor="Leafco"] tr[data-variant="310"]')
        row.wait_for(timeout=10_000)
        text = row.inner_text()
        assert "Green tea" in text and "critical" in row.locator(".badge").get_attribute("class")
        cells = row.locator("td")
        assert cells.nth(0).inner_text() == "6" and int(cells.nth(1).inner_text()) <= 3
        assert int(cells.nth(4).inner_text()) > 20  # two a day over 14 + 7 days, less the 6 on hand
        with page.expect_download() as download:
            page.locator('#reorder-body [data-vendor="Leafco"] button').click()
        csv_text = Path(download.value.path()).read_text()
        assert csv_text.startswith("sku,title,variant_id") and "GT-1" in csv_text
        page.locator("#reorder").screenshot(path=str(ARTIFACTS / "admin-reorder.png"))
        assert not errors, errors


def test_forecast_accuracy_chart_table_locations_and_switches(
    live_app: LiveApp, installed_shop: InstalledShop, session, settings
):
    """Live accuracy: a chart bar pair and a table row per forecast week, the total in the footer; each location's
    numbers under its variant; the alert switch saved through the API."""
    from app.db import session_scope
    from app.models.inventory import DemandSnapshot, InventoryPreference
    from app.stores.inventory_live import sync_alerts

    sid, now = installed_shop.id, datetime.now(UTC)
    session.add(Product(shop_id=sid, shopify_id=41, title="Jam", vendor="Jamco"))
    session.add(ProductVariant(shop_id=sid, shopify_id=410, product_shopify_id=41, inventory_item_id=4100))
    for loc, available in ((1, 3), (2, 20)):
        session.add(InventoryLevel(shop_id=sid, inventory_item_id=4100, location_id=loc, available=available,
                                   shopify_updated_at=now))  # fmt: skip
    for d in range(1, 61):
        session.add(Order(shop_id=sid, shopify_id=8000 + d, processed_at=now - timedelta(days=d)))
        session.add(OrderLine(shop_id=sid, shopify_id=18000 + d, order_shopify_id=8000 + d, product_shopify_id=41,
                              variant_shopify_id=410, quantity=2, title="x"))  # fmt: skip
    for weeks_ago, naive in ((3, 5.0), (2, 0.0)):
        session.add(DemandSnapshot(shop_id=sid, variant_shopify_id=410, origin=(now - timedelta(weeks=weeks_ago)).date(),
                                   daily=",".join(["2.000"] * 28), naive=naive, scale=1.0))  # fmt: skip
    session.commit()
    forecast_shop(sid, settings, now=now)
    with session_scope(settings.database_url) as s:
        sync_alerts(s, sid, now.date())  # the alert job's episodes (e-mail is not set up here)
    landing = live_app.fake.origin_template.format(shop=installed_shop.domain) + f"/admin/apps/{TEST_API_KEY}"
    ARTIFACTS.mkdir(exist_ok=True)
    with chromium() as browser:
        page = admin_page(browser)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(landing)
        table = page.locator("#forecast-accuracy-body #accuracy-table")
        table.wait_for(timeout=10_000)
        assert table.locator("tbody tr").count() == 2
        assert page.locator("#accuracy-chart g[data-origin]").count() == 2
        assert page.locator('#accuracy-chart rect[data-series="naive"]').count() == 2
        total = table.locator('tfoot tr[data-origin="all"] td')
        assert total.nth(0).inner_text() == "2" and total.nth(4).inner_text() == "0.00"  # MAE 0: two a day
        assert total.nth(5).inner_text() == "2.60"  # naive: 3 off on 21 days, 2 off on 14 days
        assert (
            "better than repeating the last day"
            in page.locator("#forecast-accuracy-body .verdict").inner_text()
        )
        row = page.locator('#reorder-body tr[data-variant="410"]')
        row.wait_for(timeout=10_000)
        assert row.locator("li[data-location]").count() == 2
        assert "3 on hand" in row.locator('li[data-location="1"]').inner_text()
        assert (
            row.locator(".alert-since").inner_text() == f"Alert since {now.date().isoformat()}"
        )  # not announced
        page.locator('#reorder-body input[name="alert_flow"]').uncheck()
        page.get_by_text("Saved.").wait_for(timeout=10_000)
        page.locator("#forecast-accuracy").screenshot(path=str(ARTIFACTS / "admin-forecast-accuracy.png"))
        assert not errors, errors
    session.expire_all()
    pref = session.exec(select(InventoryPreference).where(InventoryPreference.shop_id == sid)).one()
    assert pref.alert_flow is False and pref.alert_email is True
