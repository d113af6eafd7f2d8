"""The Reorder section's back-in-stock table in headless Chromium, opened through the fake Shopify's admin
frame (issue 19): per variant, the shoppers waiting, told and who bought, and the conversion rate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from conftest import TEST_API_KEY
from fixtures_shopify import InstalledShop, LiveApp

from app.models.back_in_stock import NOTIFIED, WAITING, BackInStockRequest
from app.models.commerce import Product, ProductVariant
from tests.browser_support import BROWSER_MARKS, admin_page, chromium

pytestmark = [*BROWSER_MARKS, pytest.mark.slow]


def test_back_in_stock_table_shows_waiting_told_and_conversion(
    live_app: LiveApp, installed_shop: InstalledShop, session
):
    sid, now = installed_shop.id, datetime.now(UTC)
    session.add(Product(shop_id=sid, shopify_id=41, title="Rain jacket", vendor="Drycorp"))
    session.add(
        ProductVariant(shop_id=sid, shopify_id=410, product_shopify_id=41, title="M", inventory_item_id=4100)
    )
    rows = [(WAITING, None), (WAITING, None), (WAITING, None), (NOTIFIED, now), (NOTIFIED, None)]
    for i, (status, converted) in enumerate(rows):
        session.add(BackInStockRequest(shop_id=sid, variant_shopify_id=410, product_shopify_id=41, channel="email",
                                       address=f"r{i}@example.com", shopper_key=f"client:r{i}", client_id=f"r{i}",
                                       status=status, requested_at=now - timedelta(days=3),
                                       notified_at=now - timedelta(days=1) if status == NOTIFIED else None,
                                       converted_at=converted))  # fmt: skip
    session.commit()
    landing = live_app.fake.origin_template.format(shop=installed_shop.domain) + f"/admin/apps/{TEST_API_KEY}"
    with chromium() as browser:
        page = admin_page(browser)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(landing)
        row = page.locator('#reorder-body tr[data-back-in-stock="410"]')
        row.wait_for(timeout=10_000)
        assert row.locator("th").inner_text() == "Rain jacket – M"
        assert row.locator("td").all_inner_texts() == ["3", "2", "1", "50.0%"]
        verdict = page.locator("#reorder-body .back-in-stock .verdict").inner_text()
        assert verdict == "3 shoppers waiting; 2 told, 1 bought (50.0% bought)."
        assert not errors, errors
