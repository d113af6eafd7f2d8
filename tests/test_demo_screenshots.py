"""The README's screenshots as ``attune demo --screenshots`` takes them, in headless Chromium against seeded
databases standing in for the demo: each admin section is shot once it has drawn its figures, and the demo's
"simulated" banner labels the agents' cards, not the success table above them (which is the shop's own); the
storefront's blocks are shot as a signed-in shopper sees them."""

from __future__ import annotations

import pytest
from conftest import TEST_API_KEY, TEST_API_SECRET
from control_room_support import seed_shop
from fixtures_shopify import InstalledShop, LiveApp

from app.demo.control_room_seed import seed_control_room, truths
from app.demo.screenshots import ADMIN_SHOTS, take
from app.jobs.recommendations import refresh_for_shop
from app.models.base import utcnow
from app.models.serving import HoldoutPolicy
from app.storefront.demo_data import DEMO_CUSTOMER, seed_demo_shop
from app.storefront.local import LocalStorefront
from tests.browser_support import BROWSER_MARKS, admin_page, chromium

pytestmark = [*BROWSER_MARKS, pytest.mark.slow]
PNG = b"\x89PNG\r\n\x1a\n"
SHOP = "attune-demo.myshopify.com"


def test_the_demos_screenshots_and_its_simulated_label(
    live_app: LiveApp, installed_shop: InstalledShop, session, tmp_path
):
    seed_shop(session, installed_shop.id, utcnow())
    seed_control_room(session, installed_shop.id)
    session.commit()
    admin = live_app.fake.origin_template.format(shop=installed_shop.domain) + f"/admin/apps/{TEST_API_KEY}"

    written = take(tmp_path / "docs", admin)
    assert [p.name for p in written] == list(ADMIN_SHOTS)  # no storefront given: the admin's shots only
    for path in written:
        assert path.read_bytes().startswith(PNG) and path.stat().st_size > 10_000  # drawn, not a blank box

    with chromium() as browser:
        page = admin_page(browser)
        page.route("https://cdn.shopify.com/**", lambda route: route.abort())
        page.goto(admin)
        banner = page.locator("#cr-simulated")
        banner.wait_for(timeout=15_000)
        assert "each agent's lift" in banner.inner_text()
        order = page.evaluate(
            """() => { const b = document.getElementById('cr-simulated');
                 const after = (x, y) => !!(x.compareDocumentPosition(y) & Node.DOCUMENT_POSITION_FOLLOWING);
                 return [after(document.getElementById('success-table'), b),
                         after(b, document.querySelector('.cr-cards'))]; }"""
        )
        assert order == [True, True]  # below the measured table, right above the simulated cards
        lifts = page.locator(".cr-cards [data-fact=lift]")
        assert lifts.count() == len(truths()) == lifts.filter(has_text="(simulated)").count()


def test_the_storefronts_screenshots_as_a_signed_in_shopper(app, settings, session, tmp_path):
    """The demo storefront's shots: the shopper's recommendations on the home page, then the first one's product
    page with its bought-together block and the assistant's panel open."""
    shop = seed_demo_shop(session, SHOP)
    session.add(HoldoutPolicy(shop_id=shop.shop_id, agent="recommendations", share=0.0))
    session.commit()
    refresh_for_shop(shop.shop_id, settings)
    with LocalStorefront(app, SHOP, settings.database_url, TEST_API_SECRET) as sf:
        written = take(tmp_path, storefront_url=f"{sf.url}/?as={DEMO_CUSTOMER}")
    assert [p.name for p in written] == ["recommended.png", "fbt.png", "assistant.png"]
    assert all(p.read_bytes().startswith(PNG) for p in written)
