"""The assistant panel's semantic search in headless Chromium, over real stored MiniLM vectors."""

from __future__ import annotations

import pytest

from app.bench.storefront import launch_chromium
from app.catalog import search as catalog_search
from app.jobs.catalog import embed_shop_products
from app.jobs.recommendations import refresh_for_shop
from app.models.serving import HoldoutPolicy
from app.storefront.demo_data import seed_demo_shop
from app.storefront.local import LocalStorefront
from tests.browser_support import BROWSER_MARKS
from tests.conftest import ROOT, TEST_API_SECRET
from tests.embedding_support import minilm  # noqa: F401  (fixture)

ARTIFACTS = ROOT / "test-artifacts"
SHOP = "attune-demo.myshopify.com"

pytestmark = BROWSER_MARKS


@pytest.fixture
def browser_page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = launch_chromium(pw)
        context = b.new_context(viewport={"width": 1280, "height": 900})
        yield context.new_page()
        context.close()
        b.close()


@pytest.fixture
def demo(session, settings, minilm, monkeypatch):  # noqa: F811
    from app.config import get_settings

    monkeypatch.setenv("ATTUNE_EMBEDDER", "minilm")
    get_settings.cache_clear()
    catalog_search.clear_cache()
    shop = seed_demo_shop(session, SHOP)
    session.add(HoldoutPolicy(shop_id=shop.shop_id, agent="recommendations", share=0.0))
    session.commit()
    assert embed_shop_products(shop.shop_id, settings)["embedded"] > 0
    refresh_for_shop(shop.shop_id, settings)
    yield shop
    get_settings.cache_clear()
    catalog_search.clear_cache()


def test_assistant_search_returns_real_products(app, settings, demo, browser_page):
    page = browser_page
    ARTIFACTS.mkdir(exist_ok=True)
    with LocalStorefront(app, SHOP, settings.database_url, TEST_API_SECRET) as sf:
        page.goto(sf.url + "/products/compact-camping-stove")
        page.locator(".attune-launcher").click()
        panel = page.locator("#attune-panel")
        panel.wait_for(state="visible")
        page.locator("#attune-q").fill("something warm for hiking")
        page.keyboard.press("Enter")
        rows = page.locator(".attune-results li.attune-row a")
        rows.first.wait_for(timeout=10000)
        titles = rows.all_inner_texts()
        assert any("Fleece" in t or "Wool" in t for t in titles[:3]), titles
        assert "Ultralight Two-Person Tent" not in titles  # out of stock
        assert all(
            "Matches “something warm for hiking”" in t
            for t in page.locator(".attune-results small").all_inner_texts()
        )
        hrefs = rows.evaluate_all("els => els.map(a => a.getAttribute('href'))")
        assert all(h.startswith("/products/") for h in hrefs)
        assert any(p.startswith("/apps/attune/search") for p in sf.proxied)
        panel.screenshot(path=str(ARTIFACTS / "assistant-search.png"))
