"""The assistant's "Running low?" in headless Chromium, against the real proxy and the local storefront: a
signed-in shopper whose supply runs out sees the item with the reason, and its reorder button fills the cart
with their usual variant and quantity; a shopper in the agent's holdout sees no such section."""

from __future__ import annotations

import pytest

from app.jobs.replenishment import forecast_shop
from app.models.serving import HoldoutPolicy
from app.storefront.local import LocalStorefront
from tests.browser_support import BROWSER_MARKS, chromium
from tests.conftest import TEST_API_SECRET
from tests.test_replenishment_job import BIG_PACK, NOW, seed

pytestmark = BROWSER_MARKS
SHOP = "attune-demo.myshopify.com"


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()


@pytest.mark.parametrize("holdout", [0.0, 1.0])
def test_running_low_in_the_assistant(app, session, settings, page, monkeypatch, holdout):
    monkeypatch.setattr("app.web.proxy.utcnow", lambda: NOW)
    sid = seed(session)
    session.add(HoldoutPolicy(shop_id=sid, agent="replenishment", share=holdout))
    session.add(HoldoutPolicy(shop_id=sid, agent="global", share=0.0))  # nor the global one
    session.commit()
    forecast_shop(sid, settings, now=NOW)
    with LocalStorefront(app, SHOP, settings.database_url, TEST_API_SECRET, customer_id=1) as sf:
        page.goto(sf.url + "/products/trail-energy-bars-12-pack")
        with page.expect_response(lambda r: "/running-low" in r.url) as answer:
            page.locator(".attune-launcher").click()
        assert answer.value.ok
        answer.value.finished()
        page.evaluate("() => new Promise(r => setTimeout(r, 50))")  # the answer's handler has run
        low = page.locator(".attune-low")
        if holdout:
            assert low.is_hidden() and answer.value.json()["items"] == []
            return
        low.wait_for(state="visible", timeout=5000)
        assert low.locator("h3").inner_text() == "Running low?"
        assert "you usually reorder every 2 weeks; last order 15 days ago" in low.inner_text()
        button = low.locator("a.attune-row-btn")
        assert button.get_attribute("href") == f"/cart/{BIG_PACK}:1"
        button.evaluate("a => a.click()")
        page.wait_for_url("**/cart")
        assert sf.cart_posts[-1] == [{"id": BIG_PACK, "quantity": 1}]
