"""The admin's "Prices and the market" card in a real browser (issue 20): where each matched variant sits against
the market and by how much, a title match confirmed with a click (and then compared), undercut alerts, feeds,
the price suggestions with their price response (one approved with a click), and a live compare-at price flagged
by the Omnibus check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlmodel import select

from app.db import session_scope
from app.models.commerce import Product, ProductVariant
from app.models.pricing import CompetitorFeed, CompetitorPrice, PriceChange, PriceHistory, VariantCost
from tests.browser_support import admin_page, chromium, needs_chromium
from tests.conftest import TEST_API_KEY


def _seed(db_url: str, shop_id: int) -> None:
    with session_scope(db_url) as s:
        for pid, title, price, stock in ((42, "Arc floor lamp", "100.00", 3), (43, "Ceramic mug", "10.00", 400),
                                         (44, "Walnut board", "40.00", 20)):  # fmt: skip
            s.add(Product(shop_id=shop_id, shopify_id=pid, title=title, handle=f"p{pid}", status="active"))
            s.add(ProductVariant(shop_id=shop_id, shopify_id=pid * 100 + 1, product_shopify_id=pid, title="Default Title",
                                 price=Decimal(price), inventory_quantity=stock))  # fmt: skip
        s.add(
            VariantCost(shop_id=shop_id, variant_id=4201, unit_cost=Decimal("40.00"), barcode="0012345678905")
        )
        # the lamp was 90 until ten days ago, is 100 since, and shows "was 120" (set in Shopify): flagged
        now = datetime.now(UTC)
        for price, days in (("90.00", 40), ("100.00", 10)):
            s.add(PriceHistory(shop_id=shop_id, variant_id=4201, price=Decimal(price),
                               observed_at=now - timedelta(days=days)))  # fmt: skip
        lamp = s.exec(
            select(ProductVariant).where(ProductVariant.shop_id == shop_id, ProductVariant.shopify_id == 4201)
        ).one()
        lamp.compare_at_price = Decimal("120.00")
        s.add(lamp)
        s.add(CompetitorFeed(shop_id=shop_id, competitor="Rival", alert_pct=5.0, last_status="partial",
                             last_fetched_at=datetime.now(UTC),
                             last_report={"stored": 3, "matched": 2, "rejected": [{"line": 4, "reason": "price 'cheap' is not an amount like 19.99 USD"}]}))  # fmt: skip
        s.add(CompetitorPrice(shop_id=shop_id, competitor="Rival", item_id="R1", price=Decimal("95.00"), variant_id=4201,
                              matched_by="gtin", title="Arc lamp"))  # fmt: skip
        s.add(CompetitorPrice(shop_id=shop_id, competitor="Rival", item_id="R2", price=Decimal("12.00"), variant_id=4301,
                              matched_by="sku", title="Mug"))  # fmt: skip
        s.add(CompetitorPrice(shop_id=shop_id, competitor="Rival", item_id="R4", price=Decimal("30.00"), variant_id=4401,
                              matched_by="title", match_status="suggested", match_score=0.91, title="Walnut serving board"))  # fmt: skip


@pytest.mark.browser
@needs_chromium
def test_the_market_card_shows_above_and_below_and_confirms_a_match(live_app, installed_shop):
    _seed(live_app.settings.database_url, installed_shop.id)
    landing = live_app.fake.origin_template.format(shop=installed_shop.domain) + f"/admin/apps/{TEST_API_KEY}"
    with chromium() as browser:
        page = admin_page(browser)
        page.goto(landing)
        card = page.locator("#market")
        card.locator("tr[data-variant='4201']").wait_for(timeout=15_000)
        lamp = card.locator("tr[data-variant='4201']").inner_text()
        mug = card.locator("tr[data-variant='4301']").inner_text()
        assert card.locator("tr[data-variant='4201']").get_attribute("data-position") == "above"
        assert "95.00" in lamp and "+5.3 % above" in lamp
        assert card.locator("tr[data-variant='4301']").get_attribute("data-position") == "below"
        assert "−16.7 % below" in mug
        assert card.locator("tr[data-variant='4401']").count() == 0  # a suggested match is not compared yet
        assert "line 4: price 'cheap'" in card.locator("li[data-feed='Rival']").inner_text()
        assert "elasticity" in card.locator("tr[data-suggestion='4301']").inner_text()  # the overstocked mug
        was = card.locator("li[data-compare-at='4201']").inner_text()
        assert (
            "100.00 was 120.00" in was and "not the lowest price of the 30 days" in was and "(90.00)" in was
        )
        card.locator("tr[data-match] button", has_text="Confirm").click()
        card.locator("tr[data-variant='4401']").wait_for(timeout=15_000)
        board = card.locator("tr[data-variant='4401']").inner_text()
        assert "+33.3 % above" in board
        # the merchant approves the mug's markdown with a click: checked, logged and queued for Shopify
        mug_row = card.locator("tr[data-suggestion='4301']")
        mug_row.locator("button", has_text="Approve").click()
        mug_row.locator(".badge", has_text="approved").wait_for(timeout=15_000)
    with session_scope(live_app.settings.database_url) as s:
        (change,) = s.exec(select(PriceChange).where(PriceChange.shop_id == installed_shop.id)).all()
    assert (change.variant_id, change.status, change.old_price) == (4301, "approved", Decimal("10.00"))
    assert Decimal("9.00") <= change.new_price < Decimal("10.00")
