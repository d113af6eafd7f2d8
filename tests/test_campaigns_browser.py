"""The dashboard's newsletters in headless Chromium: the merchant writes a newsletter with a second subject to
test, previews it for a customer (their name in the subject, their own products), and sends it; the campaign
shows its state and decisions in words. A screenshot goes to test-artifacts/."""

from __future__ import annotations

import pytest
from campaign_support import CAMPERS, name_of, seed
from conftest import ROOT, TEST_API_KEY
from fixtures_shopify import InstalledShop, LiveApp
from sqlmodel import select

from app.db import session_scope
from app.models.base import utcnow
from app.models.campaigns import Campaign, MessageVariant
from tests.browser_support import BROWSER_MARKS, admin_page, chromium

pytestmark = [*BROWSER_MARKS, pytest.mark.slow]
ARTIFACTS = ROOT / "test-artifacts"


def test_write_preview_and_send_a_newsletter(jobs_env, live_app: LiveApp, installed_shop: InstalledShop):
    with session_scope(jobs_env.database_url) as s:
        seed(s, installed_shop.id, utcnow(), "smtp://127.0.0.1:9", jobs_env.encryption_keys)
    landing = live_app.fake.origin_template.format(shop=installed_shop.domain) + f"/admin/apps/{TEST_API_KEY}"
    ARTIFACTS.mkdir(exist_ok=True)
    with chromium() as browser:
        page = admin_page(browser)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(landing)
        page.locator("#campaigns-body p.muted", has_text="No newsletter yet").wait_for(timeout=10_000)
        page.fill("#campaign-name", "Spring edit")
        page.fill("#campaign-subject", "Spring is here, {first_name}")
        page.fill("#campaign-variant", "New at {shop} this spring")
        page.fill("#campaign-text", "Our spring edit is in, {first_name}.")
        page.fill("#campaign-holdout", "20")
        page.locator("#campaign-holdout").press("Enter")  # submitted by keyboard
        article = page.locator("article[data-campaign]")
        article.wait_for(timeout=10_000)
        assert "Spring edit — draft" in article.locator("h3").inner_text()
        camper = CAMPERS[0]
        article.locator("input[id^=preview-customer]").fill(str(camper))
        article.locator("form[data-preview] button").click()
        subject = article.locator("[data-preview-subject]")
        subject.wait_for(timeout=10_000)
        assert subject.inner_text() in (
            f"Spring is here, {name_of(camper)}",
            "New at Installed Shop this spring",
        )
        products = article.locator("[data-preview-product]")
        assert [products.nth(i).inner_text().split(" · ")[0] for i in range(products.count())] == [
            "Stove",
            "Sleeping bag",
        ]
        page.locator("#campaigns").screenshot(path=str(ARTIFACTS / "admin-campaigns.png"))
        article.locator("button[data-send]").click()
        page.locator("article[data-campaign] h3", has_text="sending").wait_for(timeout=10_000)
        assert not errors, errors
    with session_scope(jobs_env.database_url) as s:
        (row,) = s.exec(select(Campaign).where(Campaign.shop_id == installed_shop.id)).all()
        assert row.status == "sending" and row.holdout_share == pytest.approx(0.2)
        keys = [
            v.subject
            for v in s.exec(select(MessageVariant).where(MessageVariant.agent == f"newsletter-{row.id}"))
        ]
        assert sorted(keys) == ["New at {shop} this spring", "Spring is here, {first_name}"]
