"""The embedded admin's customer detail in headless Chromium shows the shopper's explicit feedback from the
profile (wishlist, reviews with the disliked products, support questions and escalations), built by the real
profile refresh job; a customer with none of it shows no such section."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from conftest import TEST_API_KEY
from fixtures_shopify import InstalledShop, LiveApp

from app.bench.storefront import launch_chromium
from app.models.commerce import Customer, Product
from app.models.feedback import ProductReview, SupportMessage
from app.models.serving import WishlistItem
from tests.browser_support import BROWSER_MARKS, admin_page

FAN, QUIET = 701, 702  # the customer with feedback, and one without

pytestmark = BROWSER_MARKS


def _seed(session, shop_id: int) -> None:
    t0 = datetime.now(UTC) - timedelta(days=3)
    titles = {11: "Trail Boots", 12: "Wool Socks", 13: "Rain Shell", 14: "Camp Mug", 15: "Scratchy Scarf"}
    session.add_all(Product(shop_id=shop_id, shopify_id=pid, title=t) for pid, t in titles.items())
    session.add_all(
        Customer(shop_id=shop_id, shopify_id=cid, email=f"c{cid}@example.com", first_name=name)
        for cid, name in ((FAN, "Fran"), (QUIET, "Quinn"))
    )
    # four saves, newest first: Camp Mug, Rain Shell, Wool Socks (shown), Trail Boots (counted only)
    session.add_all(
        WishlistItem(
            shop_id=shop_id, owner=f"customer:{FAN}", product_id=pid, created_at=t0 + timedelta(hours=n)
        )
        for n, pid in enumerate((11, 12, 13, 14))
    )
    session.add_all(
        ProductReview(
            shop_id=shop_id,
            review_key=f"r{pid}",
            customer_shopify_id=FAN,
            product_shopify_id=pid,
            rating=rating,
            reviewed_at=t0 + timedelta(days=1),
        )
        for pid, rating in ((11, 5), (15, 1))
    )
    common = {"shop_id": shop_id, "customer_shopify_id": FAN}
    at = t0 + timedelta(days=2)
    session.add_all(
        [  # an older question, escalated and resolved; then one about returns, escalated and waiting
            SupportMessage(
                **common,
                conversation="s1",
                role="shopper",
                topic="shipping",
                text="Where is it?",
                created_at=at,
            ),
            SupportMessage(
                **common,
                conversation="s1",
                role="assistant",
                topic="shipping",
                text="Passed on.",
                escalated=True,
                resolved_at=at + timedelta(hours=1),
                resolution_note="Shipped today",
                created_at=at + timedelta(seconds=1),
            ),
            SupportMessage(
                **common,
                conversation="s2",
                role="shopper",
                topic="returns",
                text="Can I return it?",
                created_at=at + timedelta(hours=5),
            ),
            SupportMessage(
                **common,
                conversation="s2",
                role="assistant",
                topic="returns",
                text="Passed on.",
                escalated=True,
                created_at=at + timedelta(hours=5, seconds=1),
            ),
        ]
    )
    session.commit()


def test_customer_detail_shows_explicit_feedback(
    live_app: LiveApp, installed_shop: InstalledShop, session, jobs_env
):
    from playwright.sync_api import sync_playwright

    from app.jobs.profiles import refresh_profile

    _seed(session, installed_shop.id)
    for cid in (FAN, QUIET):
        refresh_profile(installed_shop.id, f"customer:{cid}")  # as the queued job does

    landing = live_app.fake.origin_template.format(shop=installed_shop.domain) + f"/admin/apps/{TEST_API_KEY}"
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        page = admin_page(browser)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(landing)
        detail = page.locator("#customer-detail")

        page.locator(f'#customer-rows tr[data-key="customer:{FAN}"]').click(timeout=10_000)
        section = detail.locator("section[data-explicit]")
        section.wait_for(timeout=5000)
        heading = section.get_by_role("heading", name="Feedback from the shopper")
        assert heading.is_visible()
        assert page.get_by_role("region", name="Feedback from the shopper").count() == 1
        wishlist = section.locator("dd[data-feedback=wishlist]").inner_text()
        assert wishlist.startswith("4 saved: Camp Mug, Rain Shell, Wool Socks and 1 more")
        assert "Trail Boots" not in wishlist
        assert (
            section.locator("dd[data-feedback=reviews]").inner_text() == "2 reviews · average 3.0 of 5 stars"
        )
        assert section.locator("dd[data-feedback=disliked]").inner_text() == "Scratchy Scarf (1 star)"
        assert section.locator("dd[data-feedback=support]").inner_text() == "2 questions · last about returns"
        escalations = section.locator("dd[data-feedback=escalations]")
        assert escalations.inner_text() == "1 waiting (Returns) · 1 resolved"
        assert escalations.locator(".badge.warning").inner_text() == "1 waiting"
        assert "c701@example.com" in detail.inner_text()  # the rest of the detail is still there

        page.locator(f'#customer-rows tr[data-key="customer:{QUIET}"]').click()
        detail.locator(".card-head h3", has_text="Quinn").wait_for(timeout=5000)
        assert detail.locator("[data-explicit]").count() == 0
        assert "Feedback from the shopper" not in detail.inner_text()
        browser.close()
    assert errors == []
