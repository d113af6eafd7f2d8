"""The assistant's "notify me" in headless Chromium (issue 19), on the local storefront with the real signed app
proxy: on a product page with a sold-out variant the assistant offers it, shows the endpoint's own refusal of a
bad address, then confirms, and the request is stored with source "assistant"; a restock webhook then tells that
shopper through the same job as the theme block's requests. Asked for a sold-out product, the assistant says so
and offers the same action for the variant the shopper picks. A signed-in customer finds their e-mail filled in
and the page's selected variant chosen."""

from __future__ import annotations

import pytest
from sqlmodel import select

from app.channels.email_loopback import LoopbackSmtp
from app.models.back_in_stock import NOTIFIED, BackInStockRequest
from app.models.commerce import Customer
from app.models.messaging import ContactPolicyRow
from app.storefront.local import LocalStorefront
from tests.back_in_stock_support import DOMAIN, SOLD, seed
from tests.browser_support import BROWSER_MARKS, chromium
from tests.conftest import TEST_API_SECRET
from tests.test_back_in_stock_assistant import add_rain_gear
from tests.test_back_in_stock_e2e import _daytime_zone, _restock
from tests.webhook_support import run_jobs

pytestmark = BROWSER_MARKS
CUSTOMER = 5150


@pytest.fixture
def smtp():
    with LoopbackSmtp() as sink:
        yield sink


@pytest.fixture
def shop_id(jobs_env, session, smtp):
    shop_id = seed(session, jobs_env.encryption_keys, smtp.url)
    session.add(ContactPolicyRow(shop_id=shop_id, timezone=_daytime_zone()))
    session.commit()
    add_rain_gear(session, shop_id)
    return shop_id


def open_assistant(page):
    page.locator(".attune-launcher").click()
    page.locator("#attune-panel").wait_for(state="visible")


def test_notify_me_from_the_assistant_on_a_product_page_then_a_restock_tells_them(
    app, client, jobs_env, session, smtp, shop_id
):
    with chromium() as browser, LocalStorefront(app, DOMAIN, jobs_env.database_url, TEST_API_SECRET) as shop:
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(shop.url + "/products/wool-socks")
        assert not shop.proxied or not any("back-in-stock" in p for p in shop.proxied)
        open_assistant(page)
        section = page.locator(".attune-notify")
        section.wait_for(state="visible")
        assert section.locator("h3").inner_text() == "Sold out? Tell me when it's back"
        form = section.locator("form")
        assert form.locator("select option").all_inner_texts() == ["Large"]  # only the sold-out one
        assert form.locator(".attune-notify-variant").is_hidden()  # one variant: nothing to choose
        assert "one message when it is back" in form.locator(".attune-bis-consent").inner_text()
        assert not any("back-in-stock" in p for p in shop.proxied)  # nothing sent before the shopper asks
        form.locator("input[name=email]").fill("not an address")
        form.locator("button").click()
        status = form.locator(".attune-status")
        status.filter(has_text="enter a valid e-mail address").wait_for()  # the endpoint's message, as it is
        assert "attune-error" in (status.get_attribute("class") or "")
        form.locator("input[name=email]").fill("sam@example.com")
        form.locator("button").click()
        status.filter(has_text="we'll tell you once").wait_for()
        assert form.locator("button").is_hidden()
        assert not errors
    row = session.exec(select(BackInStockRequest)).one()
    assert (row.variant_shopify_id, row.address, row.source) == (SOLD, "sam@example.com", "assistant")

    _restock(client, 1, "2030-01-01T10:00:00Z")
    run_jobs(jobs_env.redis_url)  # the inbox job, the back-in-stock job, the relay
    assert [m.rcpt_tos[0] for m in smtp.messages] == ["sam@example.com"]
    session.expire_all()
    assert session.exec(select(BackInStockRequest)).one().status == NOTIFIED


def test_asked_for_a_sold_out_product_the_assistant_says_so_and_offers_notify_me(
    app, jobs_env, session, shop_id
):
    with chromium() as browser, LocalStorefront(app, DOMAIN, jobs_env.database_url, TEST_API_SECRET) as shop:
        page = browser.new_page()
        page.goto(shop.url + "/products/wool-socks")
        open_assistant(page)
        page.locator("#attune-ask-q").fill("waterproof rain jacket")
        page.locator("#attune-ask-q").press("Enter")
        answer = page.locator(".attune-chat .attune-answer").first
        answer.wait_for(timeout=8000)
        assert "Waterproof Rain Jacket is sold out right now" in answer.locator("p").first.inner_text()
        rows = answer.locator("li.attune-row")
        assert "Waterproof Rain Jacket" in rows.first.inner_text() and "Sold out" in rows.first.inner_text()
        assert "Waterproof Rain Hat" in answer.inner_text()  # the in-stock alternative, as before
        form = answer.locator("form.attune-notify-form")
        assert form.locator("select option").all_inner_texts() == ["Medium", "Large"]
        form.locator("select").select_option(label="Large")
        form.locator("input[name=email]").fill("kim@example.com")
        form.locator("button").click()
        form.locator(".attune-status").filter(has_text="we'll tell you once").wait_for()
    row = session.exec(select(BackInStockRequest)).one()
    assert (row.variant_shopify_id, row.address, row.source) == (802, "kim@example.com", "assistant")


def test_a_signed_in_customer_finds_their_email_and_the_selected_variant_ready(
    app, jobs_env, session, shop_id
):
    session.add(Customer(shop_id=shop_id, shopify_id=CUSTOMER, email="ana@example.com", first_name="Ana"))
    session.commit()
    store = LocalStorefront(app, DOMAIN, jobs_env.database_url, TEST_API_SECRET, customer_id=CUSTOMER)
    with chromium() as browser, store as shop:
        page = browser.new_page()
        page.goto(shop.url + "/products/rain-jacket?variant=802")
        open_assistant(page)
        form = page.locator(".attune-notify form")
        form.wait_for(state="visible")
        assert form.locator(
            ".attune-notify-variant"
        ).is_visible()  # two sold-out variants: the shopper chooses
        assert form.locator("select").input_value() == "802"  # the one the page has selected
        assert form.locator("input[name=email]").input_value() == "ana@example.com"  # from Liquid's customer
        form.locator("button").click()
        form.locator(".attune-status").filter(has_text="we'll tell you once").wait_for()
    row = session.exec(select(BackInStockRequest)).one()
    assert (row.variant_shopify_id, row.address, row.source) == (802, "ana@example.com", "assistant")
    assert (row.customer_shopify_id, row.shopper_key) == (CUSTOMER, f"customer:{CUSTOMER}")
