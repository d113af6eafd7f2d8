"""In-session rescue in headless Chromium against the real app proxy: a shopper who re-adds an item after coming
back from checkout sees the help rung (shipping cost, delivery time, the gap to free shipping); a held-out one
sees nothing though their decision is recorded; without consent nothing is sent at all; a customer the pricing
agent approves sees the incentive card once the delivery job has made the code."""

from __future__ import annotations

from sqlmodel import select

from app.models.messaging import MessageDecision
from app.models.serving import HoldoutPolicy
from app.storefront.demo_data import VARIANT, seed_demo_shop
from app.storefront.local import LocalStorefront
from app.stores import nudge as nudge_store
from tests import test_storefront_support_browser as support_browser
from tests.browser_support import BROWSER_MARKS
from tests.conftest import ROOT, TEST_API_SECRET
from tests.test_nudge_proxy import SHIPPING

ARTIFACTS = ROOT / "test-artifacts"
SHOP = support_browser.SHOP
SOCKS = "/products/merino-wool-hiking-socks"
VARIANT_SOCKS = VARIANT[1002]
pytestmark = BROWSER_MARKS


browser, page = support_browser.browser, support_browser.page  # fixtures


def shop_with(session, holdout: float):
    nudge_store.clear_caches()
    shop = seed_demo_shop(session, SHOP)
    nudge_store.save_settings(session, shop.shop_id, SHIPPING)
    session.add(HoldoutPolicy(shop_id=shop.shop_id, agent="nudge", share=holdout))
    # the browser's client id is random, so the shop's global holdout would hold out one run in twenty
    session.add(HoldoutPolicy(shop_id=shop.shop_id, agent="global", share=0.0))
    session.commit()
    return shop


HESITATE = f"""async () => {{
  const post = (url, body) => fetch(url, {{method: 'POST', headers: {{'Content-Type': 'application/json'}},
    body: JSON.stringify(body)}});
  await post('/cart/add.js', {{id: {VARIANT[1002]}, quantity: 1}});
  await post('/cart/change.js', {{id: {VARIANT[1002]}, quantity: 0}});
  await post('/cart/add.js', {{id: {VARIANT[1002]}, quantity: 1}});
}}"""


def hesitate(page, sf):
    nudges: list[str] = []
    page.on("request", lambda r: nudges.append(r.url) if "/apps/attune/nudge?" in r.url else None)
    page.goto(sf.url + SOCKS, referer=sf.url + "/checkouts/cn/abc123")  # back from checkout
    page.wait_for_function("() => window.__attuneLoad && document.querySelector('[data-attune-started]')")
    page.evaluate(HESITATE)
    return nudges


def test_a_hesitating_shopper_sees_the_help_rung(app, settings, session, page):
    shop_with(session, holdout=0.0)
    ARTIFACTS.mkdir(exist_ok=True)
    with LocalStorefront(app, SHOP, settings.database_url, TEST_API_SECRET, rescue=True) as sf:
        hesitate(page, sf)
        card = page.locator(".attune-rescue-card")
        card.wait_for(timeout=8000)
        assert card.get_attribute("data-rung") == "help"
        text = card.inner_text()
        assert (
            "Shipping to you" in text and "Shipping costs $4.50." in text and "Delivery in 3–5 days." in text
        )
        assert (
            "Add $31.00 more for free shipping." in text
        )  # one pair of socks ($19) in the cart, free from $50
        card.screenshot(path=str(ARTIFACTS / "rescue-help.png"))
        card.locator(".attune-rescue-close").click()
        assert page.locator(".attune-rescue-card").count() == 0
    row = session.exec(select(MessageDecision).where(MessageDecision.agent == "nudge")).one()
    assert (row.action, row.template) == ("send", "nudge_help")


def test_a_held_out_shopper_sees_nothing(app, settings, session, page):
    shop_with(session, holdout=1.0)
    with LocalStorefront(app, SHOP, settings.database_url, TEST_API_SECRET, rescue=True) as sf:
        nudges = hesitate(page, sf)
        page.wait_for_timeout(2500)  # the signals are sent and decided
        assert nudges
        assert page.locator(".attune-rescue-card").count() == 0
    session.expire_all()
    row = session.exec(select(MessageDecision).where(MessageDecision.agent == "nudge")).one()
    assert (row.action, row.arm, row.template) == ("hold_out", "holdout", "nudge_help")


def test_nothing_is_sent_without_consent(app, settings, session, page):
    shop_with(session, holdout=0.0)
    page.add_init_script("window.__attuneConsent = false")
    with LocalStorefront(app, SHOP, settings.database_url, TEST_API_SECRET, rescue=True) as sf:
        nudges = hesitate(page, sf)
        page.wait_for_timeout(1500)
        assert nudges == [] and page.locator(".attune-rescue-card").count() == 0


def test_a_hesitating_customer_sees_the_incentive_once_its_code_exists(live_app, jobs_env, monkeypatch, page):
    """The incentive rung in Chromium: the proxy answers with the card's frame only, the delivery job makes the
    code in the fake Shopify and writes the on-site message, and the embed shows the card with the code."""
    from datetime import UTC, datetime, timedelta

    from tests.test_pricing_asking_agents import WITH_CODES, _setup, _treated
    from tests.test_pricing_offers import DOMAIN, VARIANT, _hesitate, _install, run_jobs

    nudge_store.clear_caches()
    shop = _install(live_app, monkeypatch, DOMAIN, WITH_CODES)
    now = datetime.now(UTC)
    cid = _treated(shop)[0]
    _setup(live_app, shop, [cid], {"nudge": 0.0}, now)
    _hesitate(live_app, cid, now - timedelta(hours=1), times=1)  # a checkout abandoned before this session
    run_jobs(jobs_env.redis_url, ("webhooks",))
    hesitate_js = HESITATE.replace(str(VARIANT_SOCKS), str(VARIANT))
    with LocalStorefront(live_app.flask_app, DOMAIN, live_app.settings.database_url, TEST_API_SECRET,
                         rescue=True, customer_id=cid) as sf:  # fmt: skip
        page.goto(sf.url + "/cart", referer=sf.url + "/checkouts/cn/abc123")
        page.wait_for_function("() => window.__attuneLoad && document.querySelector('[data-attune-started]')")
        with page.expect_response(lambda r: "/apps/attune/nudge?" in r.url, timeout=10000) as answer:
            page.evaluate(hesitate_js)
        assert answer.value.json()["pending"]["rung"] == "incentive" and answer.value.json()["nudge"] is None
        card = page.locator(".attune-rescue-card")
        assert card.count() == 0  # nothing shown before the code exists
        for _ in range(40):  # the worker's part: the delivery job and the on-site relay
            run_jobs(jobs_env.redis_url, ("default",))
            if card.count():
                break
            page.wait_for_timeout(250)
        card.wait_for(timeout=10000)
        code = next(iter(live_app.fake.store(DOMAIN).discounts))
        assert card.get_attribute("data-rung") == "incentive" and code in card.inner_text()
        ARTIFACTS.mkdir(exist_ok=True)
        card.screenshot(path=str(ARTIFACTS / "rescue-incentive.png"))
    nudge_store.clear_caches()
