"""The dashboard's replenishment section in headless Chromium, opened through the fake Shopify's admin frame:
repeat purchase and replenishment rates, treated vs holdout, with the API's figures and the seed's references
labelled as such; the delivery-time setting saved from the form. A screenshot goes to test-artifacts/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from conftest import ROOT, TEST_API_KEY
from fixtures_shopify import InstalledShop, LiveApp

from app.models.commerce import Order, OrderLine
from app.models.messaging import MessageDecision
from app.stores.replenishment_supplies import delivery_time
from tests.browser_support import BROWSER_MARKS, admin_page, chromium

pytestmark = [*BROWSER_MARKS, pytest.mark.slow]
ARTIFACTS = ROOT / "test-artifacts"


def seed(session, shop_id: int) -> None:
    """40 reminded shoppers and 40 held out, 20 days ago; 30 and 10 of them bought the product again."""
    now = datetime.now(UTC)
    due = (now - timedelta(days=17)).date()
    for cid in range(1, 81):
        held = cid > 40
        session.add(MessageDecision(shop_id=shop_id, agent="replenishment", shopper_key=f"customer:{cid}",
                                    customer_shopify_id=cid, purpose="marketing", action="send",
                                    arm="holdout" if held else "treatment", channel="email", reason="r",
                                    proposal_reason="r", template="message", dedupe_key=f"replenish:11:{due}",
                                    decided_at=now - timedelta(days=20)))  # fmt: skip
        if (not held and cid <= 30) or (held and cid <= 50):
            session.add(Order(shop_id=shop_id, shopify_id=9000 + cid, customer_shopify_id=cid,
                              processed_at=now - timedelta(days=12)))  # fmt: skip
            session.add(OrderLine(shop_id=shop_id, shopify_id=19000 + cid, order_shopify_id=9000 + cid,
                                  product_shopify_id=11, quantity=1))  # fmt: skip


def test_replenishment_section_shows_the_rates_and_saves_the_delivery_time(
    live_app: LiveApp, installed_shop: InstalledShop, session
):
    seed(session, installed_shop.id)
    session.commit()
    landing = live_app.fake.origin_template.format(shop=installed_shop.domain) + f"/admin/apps/{TEST_API_KEY}"
    ARTIFACTS.mkdir(exist_ok=True)
    with chromium() as browser:
        page = admin_page(browser)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(landing)
        rows = page.locator("#replenishment-body tbody tr")
        rows.first.wait_for(timeout=10_000)
        assert rows.count() == 4
        first = rows.first.inner_text()
        assert "40 / 40" in first and "75.0 %" in first and "25.0 %" in first and "+50.0 pts" in first
        assert "success" in rows.first.locator(".badge").get_attribute("class")  # interval above zero
        text = page.locator("#replenishment-body").inner_text()
        assert "not measured in your shop" in text and "a reference, not a measurement" in text
        days = page.locator("#delivery-days")
        assert days.input_value() == "3"
        days.fill("7")
        days.press("Enter")
        page.locator("#replenishment-settings [role=status]").filter(has_text="Saved").wait_for(
            timeout=10_000
        )
        page.locator("#replenishment").screenshot(path=str(ARTIFACTS / "admin-replenishment.png"))
        assert not errors, errors
    session.expire_all()
    assert delivery_time(session, installed_shop.id) == timedelta(days=7)
