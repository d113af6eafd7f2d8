"""The local storefront's home page, walked in headless Chromium as a newcomer walks the demo: products with
links, the cart, the switch between an anonymous visitor and a known shopper, and the personal blocks that follow
the switch. Plus the switch's bad input over plain HTTP."""

from __future__ import annotations

import pytest
import requests

from app.jobs.recommendations import refresh_for_shop
from app.models.base import utcnow
from app.models.commerce import Order
from app.models.serving import HoldoutPolicy
from app.storefront.demo_data import DEMO_CUSTOMER, seed_demo_shop
from app.storefront.local import LocalStorefront
from app.storefront.local_home import SHOPPER_COOKIE
from app.stores.identity import resolve
from tests.browser_support import BROWSER_MARKS, chromium
from tests.conftest import TEST_API_SECRET

SHOP = "attune-demo.myshopify.com"
OTHER = "other-demo.myshopify.com"


@pytest.fixture
def demo(session, settings):
    shop = seed_demo_shop(session, SHOP)
    session.add(HoldoutPolicy(shop_id=shop.shop_id, agent="recommendations", share=0.0))
    session.commit()
    refresh_for_shop(shop.shop_id, settings)
    return shop


def storefront(app, settings, **kw) -> LocalStorefront:
    return LocalStorefront(app, SHOP, settings.database_url, TEST_API_SECRET, **kw)


def browser_test(test):
    for mark in BROWSER_MARKS:
        test = mark(test)
    return test


@pytest.fixture
def page():
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        yield context.new_page()
        context.close()


@browser_test
def test_a_newcomer_walks_the_home_page_as_anonymous_and_as_a_known_shopper(
    app, settings, demo, page, session
):
    with storefront(app, settings) as sf:
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        assert page.goto(sf.url + "/").status == 200
        home = page.locator(".theme-home")
        assert "an anonymous visitor" in home.locator("[data-browsing-as]").inner_text()
        products = home.locator(".theme-products a")
        assert products.count() == 16  # every live product of the demo shop, each a link
        page.locator("[data-attune-recs][data-state=ready]").wait_for(timeout=10_000)
        assert page.locator("[data-attune-again][data-state=ready]").count() == 0  # nothing to buy again

        page.locator(f'[data-shopper="{DEMO_CUSTOMER}"]').click()
        page.wait_for_url(sf.url + "/")
        assert f"#{DEMO_CUSTOMER}" in home.locator("[data-browsing-as]").inner_text()
        again = page.locator("[data-attune-again][data-state=ready]")
        again.wait_for(timeout=10_000)  # the proxy now signs the shopper in, as Shopify would
        assert "Merino Wool Hiking Socks" in again.inner_text()
        # the assistant embed on a signed-in page links this browser to the customer (the proxy signs who)
        page.wait_for_function("() => sessionStorage.getItem('attune_identified')", timeout=10_000)
        client_id = page.evaluate("window.__attune.cid")
        assert any(p.startswith("/apps/attune/identify?") for p in sf.proxied)
        assert resolve(session, demo.shop_id, f"client:{client_id}") == f"customer:{DEMO_CUSTOMER}"

        page.locator('.theme-products a:has-text("Compact Camping Stove")').click()
        page.wait_for_url(sf.url + "/products/compact-camping-stove")
        page.locator("[data-attune-again][data-state=ready]").wait_for(timeout=10_000)  # still signed in
        page.locator("header a", has_text="Cart").click()
        page.wait_for_url(sf.url + "/cart")

        page.goto(sf.url + "/")
        page.locator('[data-shopper="anonymous"]').click()
        page.wait_for_url(sf.url + "/")
        assert "an anonymous visitor" in page.locator("[data-browsing-as]").inner_text()
        page.locator("[data-attune-recs][data-state=ready]").wait_for(timeout=10_000)
        assert page.locator("[data-attune-again][data-state=ready]").count() == 0
        assert errors == []


def test_the_shopper_switch_refuses_what_it_does_not_know(app, settings, demo, session):
    """The cookie is the browser's claim: a customer of another shop, an unknown id or junk browse anonymously;
    the proxy is then signed with no customer. Product pages belong to the storefront's own shop."""
    other = seed_demo_shop(session, OTHER)
    session.commit()
    with storefront(app, settings) as sf, requests.Session() as browser:
        r = browser.get(sf.url + f"/?as={DEMO_CUSTOMER}", allow_redirects=False)
        assert r.status_code == 302 and r.headers["Location"] == "/"
        assert browser.cookies[SHOPPER_COOKIE] == str(DEMO_CUSTOMER)
        assert f"#{DEMO_CUSTOMER}" in browser.get(sf.url + "/").text
        mine = browser.get(sf.url + "/apps/attune/recommendations?placement=buy_again").json()
        assert mine["items"]  # signed in as the demo customer: their buy-again list

        for claim in ("424242", "<b>bold</b>", "-1"):
            r = requests.get(sf.url + "/", cookies={SHOPPER_COOKIE: claim})
            assert r.status_code == 200 and "an anonymous visitor" in r.text and "<b>bold" not in r.text
        r = requests.get(sf.url + "/?as=<b>x</b>", allow_redirects=False)
        assert r.status_code == 302 and r.cookies[SHOPPER_COOKIE] == "anonymous"
        anon = requests.get(
            sf.url + "/apps/attune/recommendations?placement=buy_again",
            cookies={SHOPPER_COOKIE: "424242"},
        ).json()
        assert not anon.get("items")
    # another shop's storefront lists that shop's products only and knows only its own shoppers
    with LocalStorefront(app, OTHER, settings.database_url, TEST_API_SECRET) as sf_other:
        assert other.shop_id != demo.shop_id
        r = requests.get(sf_other.url + "/", cookies={SHOPPER_COOKIE: str(DEMO_CUSTOMER)})
        assert r.status_code == 200 and r.text.count('href="/products/') == 16


def test_the_shipping_notice_is_in_the_shops_currency(app, settings, demo, session):
    """The sandbox merchant's shipping notice speaks the shop's currency (the demo's UK shop said "$50")."""
    with storefront(app, settings) as sf:
        assert (
            "Free shipping on orders over $50" in requests.get(sf.url + "/").text
        )  # the seeded shop sells in USD
    session.add(Order(shop_id=demo.shop_id, shopify_id=990001, currency="GBP", processed_at=utcnow()))
    session.commit()
    with storefront(app, settings) as sf:
        text = requests.get(sf.url + "/").text
    assert "Free shipping on orders over £50" in text and "$50" not in text
