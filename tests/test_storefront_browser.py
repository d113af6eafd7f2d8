"""The real blocks in headless Chromium against the real proxy: recommendations, cart, keyboard, failures."""

from __future__ import annotations

import pytest

from app.jobs.recommendations import refresh_for_shop
from app.models.serving import HoldoutPolicy, Nudge
from app.storefront.demo_data import DEMO_CUSTOMER, VARIANT, seed_demo_shop
from app.storefront.local import LocalStorefront
from tests.browser_support import BROWSER_MARKS, chromium
from tests.conftest import ROOT, TEST_API_SECRET

ARTIFACTS = ROOT / "test-artifacts"
SHOP = "attune-demo.myshopify.com"
STOVE = "/products/compact-camping-stove"

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


@pytest.fixture
def demo(session, settings):
    shop = seed_demo_shop(session, SHOP)
    session.add(HoldoutPolicy(shop_id=shop.shop_id, agent="recommendations", share=0.0))
    session.add(
        Nudge(
            shop_id=shop.shop_id,
            customer_id=DEMO_CUSTOMER,
            agent="journey",
            kind="shipping",
            text="You're $12 away from free shipping",
            url="/cart",
            priority=5,
        )
    )
    session.commit()
    refresh_for_shop(shop.shop_id, settings)
    return shop


def storefront(app, settings, **kw) -> LocalStorefront:
    return LocalStorefront(app, SHOP, settings.database_url, TEST_API_SECRET, **kw)


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    p = context.new_page()
    yield p
    context.close()


def test_widgets_show_real_recommendations_and_add_all_to_cart(app, settings, demo, page):
    ARTIFACTS.mkdir(exist_ok=True)
    with storefront(app, settings, customer_id=DEMO_CUSTOMER) as sf:
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(sf.url + STOVE)
        fbt = page.locator("[data-attune-fbt][data-state=ready]")
        fbt.wait_for(timeout=5000)
        titles = fbt.locator(".attune-card .attune-title").all_inner_texts()
        assert titles[0] == "Compact Camping Stove" and titles[1] == "Stove Fuel Canister"
        assert "Often bought with Compact Camping Stove" in fbt.inner_text()
        recs = page.locator("[data-attune-recs][data-state=ready]")
        recs.wait_for(timeout=5000)
        rec_titles = recs.locator(".attune-title").all_inner_texts()
        assert len(rec_titles) == 4 and "Compact Camping Stove" not in rec_titles
        again = page.locator("[data-attune-again][data-state=ready]")
        again.wait_for(timeout=5000)
        assert "Merino Wool Hiking Socks" in again.inner_text()
        fbt.screenshot(path=str(ARTIFACTS / "fbt.png"))
        recs.screenshot(path=str(ARTIFACTS / "recommended.png"))
        again.screenshot(path=str(ARTIFACTS / "buy-again.png"))

        fbt.locator(".attune-card input").nth(2).uncheck()
        fbt.locator(".attune-add-all").click()
        page.locator(".attune-fbt .attune-status", has_text="Added").wait_for(timeout=5000)
        ids = [i["id"] for i in sf.cart_posts[-1]]
        assert ids[:2] == [VARIANT[1010], VARIANT[1011]] and len(ids) == len(titles) - 1
        assert all(i["quantity"] == 1 for i in sf.cart_posts[-1])

        with page.expect_navigation():
            recs.locator(".attune-title").first.click()
        assert all(u.startswith(sf.url) for u in requests), "only same-origin requests"
        assert any(p.startswith("/apps/attune/recommendations") for p in sf.proxied)


def test_recommendation_click_is_published(app, settings, demo, page):
    with storefront(app, settings) as sf:
        page.goto(sf.url + STOVE)
        page.locator("[data-attune-recs][data-state=ready]").wait_for(timeout=5000)
        page.evaluate(
            "document.querySelectorAll('.attune-recs a.attune-title').forEach(a => a.addEventListener('click', e => e.preventDefault()))"
        )
        page.locator(".attune-recs a.attune-title").first.click()
        events = page.evaluate("window.__attuneEvents")
        clicked = [e for e in events if e["name"] == "attune:recommendation_clicked"]
        assert (
            clicked and clicked[0]["data"]["placement"] == "product" and clicked[0]["data"]["position"] == 1
        )


def test_assistant_opens_and_closes_by_keyboard_with_focus_trap(app, settings, demo, page):
    ARTIFACTS.mkdir(exist_ok=True)
    with storefront(app, settings, customer_id=DEMO_CUSTOMER) as sf:
        page.goto(sf.url + STOVE)
        launcher = page.locator(".attune-launcher")
        nudge = page.locator(".attune-nudge")
        nudge.wait_for(timeout=5000)
        assert "free shipping" in nudge.inner_text()
        launcher.focus()
        page.keyboard.press("Enter")
        panel = page.locator("#attune-panel")
        panel.wait_for(state="visible")
        assert launcher.get_attribute("aria-expanded") == "true"
        assert page.evaluate("document.activeElement.id") == "attune-q"
        page.locator(".attune-foryou li").first.wait_for(timeout=5000)
        page.locator(".attune-reorder a.attune-row-btn").first.wait_for(timeout=5000)
        href = page.locator(".attune-reorder a.attune-row-btn").first.get_attribute("href")
        assert href == f"/cart/{VARIANT[1009]}:2,{VARIANT[1002]}:1"
        for _ in range(25):  # focus never leaves the open dialog
            page.keyboard.press("Tab")
            assert page.evaluate("!!document.activeElement.closest('#attune-panel')")
        page.keyboard.press("Shift+Tab")
        assert page.evaluate("!!document.activeElement.closest('#attune-panel')")
        panel.screenshot(path=str(ARTIFACTS / "assistant.png"))
        page.keyboard.press("Escape")
        panel.wait_for(state="hidden")
        assert launcher.get_attribute("aria-expanded") == "false"
        assert page.evaluate("document.activeElement.classList.contains('attune-launcher')")
        names = [e["name"] for e in page.evaluate("window.__attuneEvents")]
        assert "attune:assistant_opened" in names
        page.locator(".attune-reorder a.attune-row-btn").first.evaluate("a => a.click()")
        page.wait_for_url("**/cart")
        assert sf.cart_posts[-1] == [
            {"id": VARIANT[1009], "quantity": 2},
            {"id": VARIANT[1002], "quantity": 1},
        ]


def test_shipping_notice_lingering_is_published(app, settings, demo, page):
    with storefront(app, settings) as sf:
        page.clock.install()
        page.goto(sf.url + STOVE)
        page.locator(".attune-launcher").click()
        page.locator("#attune-panel [data-attune-shipping]").wait_for()
        page.clock.run_for(3500)
        names = [e["name"] for e in page.evaluate("window.__attuneEvents")]
        assert "attune:shipping_notice_lingered" in names


@pytest.mark.parametrize("mode", ["fail", "slow"])
def test_nothing_renders_when_the_proxy_fails_or_is_slow(app, settings, demo, page, mode):
    with storefront(app, settings, customer_id=DEMO_CUSTOMER, proxy_mode=mode, slow_seconds=2.5) as sf:
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(sf.url + STOVE)
        for sel in ("[data-attune-fbt]", "[data-attune-recs]", "[data-attune-again]"):
            page.locator(f"{sel}[data-state=empty]").wait_for(state="attached", timeout=4000)
            assert page.locator(sel).is_hidden()
        assert page.locator(".attune-nudge").is_hidden()
        assert page.locator(".attune-launcher").is_visible()  # the launcher itself never depends on the app
        assert not errors


def test_widgets_do_not_shift_the_layout(app, settings, demo, page):
    with storefront(app, settings, customer_id=DEMO_CUSTOMER) as sf:
        page.add_init_script(
            "window.__cls = 0; new PerformanceObserver(l => l.getEntries().forEach(e => {"
            " if (!e.hadRecentInput) window.__cls += e.value; })).observe({type: 'layout-shift', buffered: true});"
        )
        page.goto(sf.url + STOVE)
        page.locator("[data-attune-fbt][data-state=ready]").wait_for(timeout=5000)
        page.locator("[data-attune-recs][data-state=ready]").wait_for(timeout=5000)
        page.locator("[data-attune-again][data-state=ready]").wait_for(timeout=5000)
        page.wait_for_timeout(100)
        assert page.evaluate("window.__cls") < 0.01


def test_widgets_start_only_after_the_load_event(app, settings, demo, page):
    """Scripts, proxy calls and images of the widgets never delay the page's load event: before it the blocks
    show their reserved skeleton and nothing of Attune is requested; after it they fill from the proxy."""
    with storefront(app, settings, customer_id=DEMO_CUSTOMER) as sf:
        page.add_init_script(
            "window.addEventListener('load', () => { window.__atLoad = {"
            " requests: performance.getEntriesByType('resource').map(r => r.name).filter(n => n.includes('attune')),"
            " skeletons: document.querySelectorAll('.attune-skeleton').length,"
            " ready: document.querySelectorAll('[data-state]').length }; }, {once: true});"
        )
        page.goto(sf.url + STOVE, wait_until="load")
        for sel in ("[data-attune-fbt]", "[data-attune-recs]", "[data-attune-again]"):
            page.locator(f"{sel}[data-state=ready]").wait_for(timeout=5000)
        page.locator(".attune-launcher").wait_for(timeout=5000)
        page.locator(".attune-nudge").wait_for(timeout=5000)
        at_load = page.evaluate("window.__atLoad")
        assert at_load == {"requests": [], "skeletons": 3 + 4 + 4, "ready": 0}
        timing = page.evaluate(
            "(() => { const n = performance.getEntriesByType('navigation')[0];"
            " return { loadEnd: n.loadEventEnd, resources: performance.getEntriesByType('resource')"
            " .filter(r => r.name.includes('/apps/attune/') || r.name.includes('/assets/attune/'))"
            " .map(r => [r.name, r.startTime]) }; })()"
        )
        started = {name.split("?")[0].rsplit("/", 1)[1] for name, _ in timing["resources"]}
        assert {
            "attune-recommended.js",
            "attune-fbt.js",
            "attune-buy-again.js",
            "attune-assistant.js",
        } <= started
        assert {"recommendations", "nudges"} <= started
        assert all(start >= timing["loadEnd"] for _, start in timing["resources"]), timing
