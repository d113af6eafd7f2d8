"""The dashboard's checkout-rescue section in headless Chromium shows in-session rescue beside it: at-risk sessions
treated vs held out, the incremental conversion with its interval, per rung."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fixtures_shopify import InstalledShop, LiveApp

from tests.browser_support import BROWSER_MARKS
from tests.test_nudge_readout import seed_sessions
from tests.test_rescue_browser import ARTIFACTS, open_dashboard

pytestmark = [*BROWSER_MARKS, pytest.mark.slow]


def test_in_session_rescue_rows_beside_checkout_rescue(
    live_app: LiveApp, installed_shop: InstalledShop, session
):
    seed_sessions(session, installed_shop.id, datetime.now(UTC) - timedelta(days=10))
    session.commit()
    with open_dashboard(live_app, installed_shop) as (page, errors):
        rows = page.locator("#rescue-body [data-in-session=rows] tr[data-arm]")
        rows.first.wait_for(timeout=10_000)
        assert [rows.nth(i).get_attribute("data-arm") for i in range(rows.count())] == ["all", "help"]
        overall = rows.first.inner_text()
        assert "60 / 60" in overall and "50.0 %" in overall and "20.0 %" in overall and "+30.0 pts" in overall
        assert "success" in rows.first.locator(".badge").get_attribute("class")
        page.locator("#rescue").screenshot(path=str(ARTIFACTS / "admin-rescue-in-session.png"))
        assert not errors, errors
