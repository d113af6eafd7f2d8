"""The dashboard's checkout-rescue section in headless Chromium, opened through the fake Shopify's admin frame:
the overall and per-timing-arm rows with the API's figures, the market's figures labelled as such, and the
guardrail. A screenshot goes to test-artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import ROOT, TEST_API_KEY
from fixtures_shopify import InstalledShop, LiveApp

from tests.browser_support import BROWSER_MARKS, admin_page, chromium
from tests.test_rescue_admin import seed_rescue

pytestmark = [*BROWSER_MARKS, pytest.mark.slow]
ARTIFACTS = ROOT / "test-artifacts"


@contextmanager
def open_dashboard(live_app: LiveApp, shop: InstalledShop) -> Iterator[tuple[Any, list[str]]]:
    """The embedded admin's dashboard in Chromium, with the page's script errors collected."""
    landing = live_app.fake.origin_template.format(shop=shop.domain) + f"/admin/apps/{TEST_API_KEY}"
    ARTIFACTS.mkdir(exist_ok=True)
    with chromium() as browser:
        page = admin_page(browser)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(landing)
        yield page, errors


def test_rescue_section_shows_incremental_recovery_per_timing_arm(
    live_app: LiveApp, installed_shop: InstalledShop, session
):
    seed_rescue(session, installed_shop.id, datetime.now(UTC) - timedelta(days=10))
    session.commit()
    with open_dashboard(live_app, installed_shop) as (page, errors):
        rows = page.locator("#rescue-body tr[data-arm]")
        rows.first.wait_for(timeout=10_000)
        assert [rows.nth(i).get_attribute("data-arm") for i in range(rows.count())] == [
            "all",
            "1 h",
            "24 h",
            "72 h",
        ]
        overall = rows.first.inner_text()
        assert (
            "120 / 120" in overall and "50.0 %" in overall and "20.0 %" in overall and "+30.0 pts" in overall
        )
        assert "success" in rows.first.locator(".badge").get_attribute("class")  # interval above zero
        text = page.locator("#rescue-body").inner_text()
        assert "not measured in your shop" in text and "3 %–5 %" in text and "15 %–20 %" in text
        assert "attributed (not incremental)" in text
        assert page.locator("#rescue-body [data-guardrail=ok]").count() == 1
        page.locator("#rescue").screenshot(path=str(ARTIFACTS / "admin-rescue.png"))
        assert not errors, errors
