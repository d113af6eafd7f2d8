"""The dashboard's journey section in headless Chromium: the summary, the stage chart as an inline SVG with its
accessible title, the stage table with the seeded counts (figures also written, not told by colour) and the
moves table. A screenshot goes to test-artifacts/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from conftest import ROOT, TEST_API_KEY
from fixtures_shopify import InstalledShop, LiveApp

from app.models.journey import JourneyStage, JourneyTransition
from tests.browser_support import BROWSER_MARKS, admin_page, chromium

pytestmark = [*BROWSER_MARKS, pytest.mark.slow]
ARTIFACTS = ROOT / "test-artifacts"


def test_journey_section_shows_the_chart_and_its_tables(
    live_app: LiveApp, installed_shop: InstalledShop, session
):
    now = datetime.now(UTC)
    seeded = {"repeat_buyer": 3, "lapsing": 2, "browsing": 1}
    n = 0
    for stage, k in seeded.items():
        for _ in range(k):
            n += 1
            session.add(
                JourneyStage(
                    shop_id=installed_shop.id, shopper_key=f"customer:{n}", stage=stage, explanation="x"
                )
            )
            session.add(JourneyTransition(shop_id=installed_shop.id, shopper_key=f"customer:{n}", from_stage="first_time_buyer",
                                          to_stage=stage, at=now - timedelta(days=2)))  # fmt: skip
    session.commit()
    landing = live_app.fake.origin_template.format(shop=installed_shop.domain) + f"/admin/apps/{TEST_API_KEY}"
    ARTIFACTS.mkdir(exist_ok=True)
    with chromium() as browser:
        page = admin_page(browser)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(landing)
        rows = page.locator("#journey-body tr[data-stage]")
        rows.first.wait_for(timeout=10_000)
        shown = {
            rows.nth(i).get_attribute("data-stage"): rows.nth(i).inner_text() for i in range(rows.count())
        }
        assert (
            shown["repeat_buyer"].endswith("3")
            and shown["lapsing"].endswith("2")
            and shown["lost"].endswith("0")
        )
        assert "6 shoppers" in page.locator("#journey-body .verdict").inner_text()
        svg = page.locator("#journey-body svg")
        assert svg.get_attribute("role") == "img" and "Repeat buyer: 3" in svg.inner_html()
        assert "First-time buyer" in page.locator("#journey-body").inner_text()
        page.locator("#journey").screenshot(path=str(ARTIFACTS / "admin-journey.png"))
        assert not errors, errors
