"""The action layer's admin pages in headless Chromium, opened through the fake Shopify's admin frame: the Channels
page saves e-mail settings (the SMTP URL shown masked), sends a test e-mail that a job delivers to the loopback
SMTP server and shows it sent with the provider's id; the Activity page draws decisions per day with a table
beside and filters the feed. Screenshots go to test-artifacts/."""

from __future__ import annotations

import time

import pytest
from conftest import ROOT, TEST_API_KEY
from fixtures_shopify import InstalledShop, LiveApp
from redis import Redis
from rq import Queue

from app import tasks
from app.channels.email_loopback import LoopbackSmtp
from app.jobs.channel_test import send_test_message
from app.models.profiles import CustomerProfile
from tests.browser_support import BROWSER_MARKS, admin_page, chromium
from tests.test_admin_activity import seed
from tests.writeback_support import point_jobs_at

pytestmark = [*BROWSER_MARKS, pytest.mark.slow]
ARTIFACTS = ROOT / "test-artifacts"


def _wait_for_test_job(live: LiveApp, timeout_s: float = 10.0, seen: int = 0):
    """The test message job the page queued after the ``seen`` earlier ones."""
    queue = Queue("default", connection=Redis.from_url(live.settings.redis_url or ""))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        jobs = [j for j in queue.jobs if j.func_name == tasks.SEND_TEST_MESSAGE]
        if len(jobs) > seen:
            return jobs[seen]
        time.sleep(0.1)
    raise AssertionError("the page queued no test message")


def test_channels_and_activity_pages(
    live_app: LiveApp, installed_shop: InstalledShop, jobs_env, session, monkeypatch
):
    point_jobs_at(live_app, monkeypatch)
    seed(session, installed_shop.id)
    session.add(CustomerProfile(shop_id=installed_shop.id, customer_key="customer:7", customer_shopify_id=7))
    session.commit()
    landing = live_app.fake.origin_template.format(shop=installed_shop.domain) + f"/admin/apps/{TEST_API_KEY}"
    ARTIFACTS.mkdir(exist_ok=True)
    with LoopbackSmtp() as sink, chromium() as browser:
        page = admin_page(browser)
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(landing)
        assert page.url.startswith(f"{live_app.url}/app?")

        # Channels: save the sender, postal address and SMTP URL
        page.click("a[data-view-link=channels]")
        form = page.locator("#email-form")
        form.wait_for(timeout=10_000)
        assert page.locator("#lift").is_hidden()  # one page at a time
        assert page.locator("[data-channel=push]").inner_text().count("Not set up") >= 1
        form.locator("[name=from_name]").fill("Mugs & Co")
        form.locator("[name=from_address]").fill("not an address")
        form.locator("[name=postal_address]").fill("1 Harbour Street, Portsmouth PO1 2AB, UK")
        form.locator("[name=smtp_url]").fill(sink.url)
        form.locator("button[type=submit]").click()
        form.locator(".error", has_text="not an e-mail address").wait_for(timeout=5000)
        assert form.locator("[name=from_address]").get_attribute("aria-invalid") == "true"
        form.locator("[name=from_address]").fill("hello@mugs.test")
        form.locator("button[type=submit]").click()
        card = page.locator("[data-channel=email]")
        card.locator(".badge", has_text="Ready").wait_for(timeout=5000)
        stored = card.inner_text()
        assert f"stored: smtp+plain://127.0.0.1:{sink.controller.port}" in stored
        assert form.locator("[name=smtp_url]").input_value() == ""  # never put back into the page

        # send a test e-mail: queued, sent by the job, shown sent with the provider's id
        tester = page.locator("form[data-test=email]")
        tester.locator("input[name=to]").fill("owner@mugs.test")
        tester.locator("button[type=submit]").click()
        job = _wait_for_test_job(live_app)
        assert send_test_message(*job.args) == "sent"
        page.locator("[data-test-result=email]", has_text="provider id LOOP1").wait_for(timeout=10_000)
        assert len(sink.messages) == 1 and sink.messages[0].rcpt_tos == ["owner@mugs.test"]

        # fire a test Flow trigger: the chosen trigger reaches Shopify with its sample payload
        flow = page.locator("form[data-test=flow]")
        flow.locator("select[name=trigger]").select_option("attune-cart-at-risk")
        flow.locator("button[type=submit]").click()
        job = _wait_for_test_job(live_app, seen=1)
        assert send_test_message(*job.args) == "sent"
        page.locator("[data-test-result=flow]", has_text="provider id flow:attune-cart-at-risk").wait_for(
            timeout=10_000
        )
        (fired,) = live_app.fake.store(installed_shop.domain).flow_triggers
        assert fired["handle"] == "attune-cart-at-risk" and fired["payload"]["customer_id"] == 7
        page.screenshot(path=str(ARTIFACTS / "admin-channels.png"), full_page=True)

        # Activity: the chart with its table, then the feed filtered to held-out decisions
        page.click("a[data-view-link=activity]")
        rows = page.locator("#activity-rows tr[data-decision]")
        rows.first.wait_for(timeout=10_000)
        assert rows.count() == 25 and "Page 1 of 2" in page.locator(".pager").inner_text()
        page.select_option("#activity-filters select[name=action]", "hold_out")
        page.fill("#activity-filters input[name=from]", "2026-03-01")
        page.fill("#activity-filters input[name=to]", "2026-03-03")
        page.locator("#activity-filters button[type=submit]").click()
        page.wait_for_function(
            "() => { const r = document.querySelectorAll('#activity-rows tr[data-decision]');"
            " return r.length === 6 && [...r].every(t => t.dataset.action === 'hold_out'); }",
            timeout=5000,
        )
        assert page.locator("#daily-table tbody tr[data-date]").count() == 3
        assert page.locator("svg.daily-chart rect[data-action=hold_out]").count() == 3
        assert page.locator("svg.daily-chart rect[data-action=send]").count() == 0
        page.screenshot(path=str(ARTIFACTS / "admin-activity.png"), full_page=True)

        # back to the dashboard: the customer's detail shows the whole thread
        page.click("a[data-view-link=dashboard]")
        page.locator("#lift").wait_for(state="visible", timeout=5000)
        assert page.locator("#activity").is_hidden()
        page.locator("#customer-rows tr[data-key='customer:7']").click()
        thread = page.locator("#customer-detail ol.thread li")
        thread.first.wait_for(timeout=5000)
        assert thread.count() == 18  # every message sent or deferred to Ann, e-mail and SMS
        first = thread.first.inner_text()
        assert "SMS" in first and "Still thinking? 0" in first and "Why: viewed the Blue mug twice" in first
        assert page.locator("#customer-detail ol.thread li", has_text="E-mail").count() == 12
        assert page.locator("#customer-detail ol.thread li", has_text="no e-mail address").count() == 1
        refused = [e for e in errors if "status of 400" in e]
        assert len(refused) == 1 and [e for e in errors if e not in refused] == []  # the one bad address
