"""The assistant's support question box in headless Chromium against the real app proxy: an order-status answer
and product links for a signed-in customer, an escalation acknowledged (in French), a failing endpoint answered
with a polite error, the whole exchange by keyboard, and nothing sent before the shopper asks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from app.catalog import search as catalog_search
from app.config import get_settings
from app.db import session_scope
from app.jobs.catalog import embed_shop_products
from app.models.feedback import SupportMessage
from app.models.serving import HoldoutPolicy
from app.storefront.demo_data import DEMO_CUSTOMER, seed_demo_shop
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
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    p = context.new_page()
    yield p
    context.close()


@pytest.fixture
def demo(session, settings, monkeypatch) -> Iterator[object]:
    monkeypatch.setenv("ATTUNE_EMBEDDER", "hashing")  # the search behind product answers, without the model
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REDIS_URL", settings.redis_url or "")
    get_settings.cache_clear()
    catalog_search.clear_cache()
    shop = seed_demo_shop(session, SHOP)
    session.add(HoldoutPolicy(shop_id=shop.shop_id, agent="recommendations", share=0.0))
    session.commit()
    embed_shop_products(shop.shop_id, get_settings())
    yield shop
    get_settings.cache_clear()
    catalog_search.clear_cache()


def storefront(app, settings, **kw) -> LocalStorefront:
    return LocalStorefront(app, SHOP, settings.database_url, TEST_API_SECRET, **kw)


def open_assistant(page):
    page.locator(".attune-launcher").click()
    page.locator("#attune-panel").wait_for(state="visible")


def ask(page, question: str):
    page.locator("#attune-ask-q").fill(question)
    page.locator("#attune-ask-q").press("Enter")


def test_order_status_and_product_answers(app, settings, demo, page):
    ARTIFACTS.mkdir(exist_ok=True)
    with storefront(app, settings, customer_id=DEMO_CUSTOMER) as sf:
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(sf.url + STOVE)
        open_assistant(page)
        page.wait_for_timeout(300)
        assert not [u for u in requests if "/apps/attune/support" in u]  # nothing until the shopper asks
        label = page.locator("label[for=attune-ask-q]")
        assert label.inner_text() == "Your question about an order, a return or a product"

        ask(page, "Where is my order?")
        answer = page.locator(".attune-chat .attune-answer").first
        answer.wait_for(timeout=8000)
        assert "Your latest order #7003 (3 items)" in answer.inner_text()
        assert answer.locator(".attune-order").inner_text() == "Order #7003"
        assert page.locator(".attune-chat .attune-you").first.inner_text() == "You: Where is my order?"
        assert answer.locator(".attune-escalated").count() == 0
        assert page.locator("#attune-ask-q").input_value() == ""

        ask(page, "merino wool hiking socks")
        products = page.locator(".attune-chat .attune-answer").nth(1)
        products.wait_for(timeout=8000)
        link = products.locator("a", has_text="Merino Wool Hiking Socks")
        assert link.get_attribute("href") == "/products/merino-wool-hiking-socks"
        assert "$19.00" in products.inner_text()
        up = products.locator(".attune-rate-btn").first  # the shopper rates the answer
        assert up.get_attribute("aria-label") == "This answer helped"
        with page.expect_response(lambda r: "/apps/attune/support/feedback" in r.url) as rated:
            up.click()
        assert rated.value.ok
        expect(up).to_have_attribute("aria-pressed", "true")
        page.locator("#attune-panel").screenshot(path=str(ARTIFACTS / "assistant-support.png"))
        posted = [u for u in requests if "/apps/attune/support" in u and "feedback" not in u]
        assert len(posted) == 2 and all(u.startswith(sf.url) for u in requests)
    with session_scope(settings.database_url) as s:
        rated_rows = s.exec(select(SupportMessage).where(SupportMessage.helpful.is_not(None))).all()
        assert [(r.role, r.helpful) for r in rated_rows] == [("assistant", True)]


def test_escalation_is_acknowledged_in_the_shoppers_language(app, settings, demo, session, page):
    with storefront(app, settings, locale="fr") as sf:
        page.goto(sf.url + STOVE)
        open_assistant(page)
        assert page.locator("#attune-ask-h").inner_text() == "Posez votre question"
        ask(page, "Do you have a discount code?")
        ack = page.locator(".attune-chat .attune-escalated")
        ack.wait_for(timeout=8000)
        assert ack.inner_text() == "Transmis à l'équipe de la boutique : une personne vous répondra."
        assert "a person from the shop will reply" in page.locator(".attune-answer").inner_text()
    session.expire_all()
    turns = session.exec(select(SupportMessage).where(SupportMessage.shop_id == demo.shop_id)).all()
    assert [(m.role, m.escalated) for m in sorted(turns, key=lambda m: m.id)] == [
        ("shopper", False),
        ("assistant", True),
    ]
    assert turns[0].client_id  # the anonymous visitor is known by their client id


@pytest.mark.parametrize("status", [500, 429])
def test_a_failing_endpoint_gets_a_polite_error(app, settings, demo, page, status):
    with storefront(app, settings) as sf:
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.route(
            "**/apps/attune/support**", lambda route: route.fulfill(status=status, body="upstream error")
        )
        page.goto(sf.url + STOVE)
        open_assistant(page)
        ask(page, "Where is my order?")
        error = page.locator(".attune-chat .attune-error")
        error.wait_for(timeout=5000)
        assert error.get_attribute("role") == "alert"
        assert error.inner_text() == "Sorry, I couldn't answer just now. Please try again in a moment."
        assert page.locator("#attune-ask-q").input_value() == "Where is my order?"  # kept to try again
        assert page.locator(".attune-ask-form button").is_enabled()
        assert page.evaluate("document.activeElement.id") == "attune-ask-q"
        assert not errors


def test_asking_works_by_keyboard_alone(app, settings, demo, page):
    with storefront(app, settings, customer_id=DEMO_CUSTOMER) as sf:
        page.goto(sf.url + STOVE)
        launcher = page.locator(".attune-launcher")
        launcher.wait_for(timeout=5000)
        launcher.focus()
        page.keyboard.press("Enter")
        page.locator("#attune-panel").wait_for(state="visible")
        for _ in range(40):  # tab through the dialog to the question box
            if page.evaluate("document.activeElement.id") == "attune-ask-q":
                break
            page.keyboard.press("Tab")
            assert page.evaluate("!!document.activeElement.closest('#attune-panel')")
        assert page.evaluate("document.activeElement.id") == "attune-ask-q"
        page.keyboard.type("where is my parcel")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "Ask"
        page.keyboard.press("Enter")
        page.locator(".attune-chat .attune-answer").wait_for(timeout=8000)
        assert "#7003" in page.locator(".attune-chat").inner_text()
        assert page.evaluate("document.activeElement.id") == "attune-ask-q"  # ready for the next question
        assert page.locator(".attune-chat").get_attribute("role") == "log"
        page.keyboard.press("Escape")
        page.locator("#attune-panel").wait_for(state="hidden")
        assert page.evaluate("document.activeElement.classList.contains('attune-launcher')")
