"""The embedded admin's scope prompt in Chromium: a shop without ``write_customers`` sees the features waiting
for it; "Grant" runs the grant (locally: the authorization-code grant at the fake Shopify) and the prompt goes
away once the scope is held."""

from __future__ import annotations

from conftest import TEST_API_KEY
from writeback_support import install

from app.bench.storefront import launch_chromium
from app.shopify.scopes import has_scope
from tests.browser_support import BROWSER_MARKS, admin_page

pytestmark = BROWSER_MARKS


def test_scope_prompt_and_grant_in_chromium(live_app, jobs_env, monkeypatch):
    from playwright.sync_api import sync_playwright

    shop = install(live_app, monkeypatch, write_customers=False)
    live_app.fake.granted_scopes = None  # the merchant accepts what is asked
    landing = live_app.fake.origin_template.format(shop=shop.domain) + f"/admin/apps/{TEST_API_KEY}"
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = admin_page(browser)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(landing)
            prompt = page.locator("#scopes-prompt")
            prompt.wait_for(state="visible", timeout=10_000)
            assert prompt.locator("li[data-feature]").count() == 7  # app.shopify.scopes.FEATURES
            assert "Unsubscribes written back to Shopify" in prompt.inner_text()
            page.locator("#grant-scopes").click()
            page.wait_for_url(f"{live_app.url}/app?*", timeout=15_000)
            page.locator("#shop-line").wait_for(timeout=10_000)
            page.wait_for_timeout(500)
            assert prompt.is_hidden()
            assert errors == []
        finally:
            browser.close()
    assert has_scope(shop.scopes(), "write_customers")
