"""Back in stock end to end (issue 19): a sold-out variant, a "notify me" request made in headless Chromium on
the local storefront (the theme block, the signed app proxy), three more requests after it, a signed
``inventory_levels/update`` webhook restocking two units through the webhook ingress and a real RQ worker, and
exactly two e-mails on the loopback SMTP server: to the first two in line. A second restock webhook with the
same two units tells nobody more (both still hold their unit)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import select

from app.channels.email_loopback import LoopbackSmtp
from app.models.back_in_stock import NOTIFIED, WAITING, BackInStockRequest
from app.models.messaging import ContactPolicyRow
from app.storefront.local import LocalStorefront
from tests.back_in_stock_support import DOMAIN, ITEM, SOLD, seed
from tests.browser_support import BROWSER_MARKS, chromium
from tests.conftest import TEST_API_SECRET
from tests.test_back_in_stock import signed
from tests.webhook_support import deliver, run_jobs

pytestmark = BROWSER_MARKS


@pytest.fixture
def smtp():
    with LoopbackSmtp() as sink:
        yield sink


def _daytime_zone() -> str:
    """A fixed-offset zone where it is early afternoon now: the messages are inside the allowed hours."""
    hours = (13 - datetime.now(UTC).hour + 12) % 24 - 12  # UTC+hours is 13:00 local, within -12..+11
    return "UTC" if hours == 0 else f"Etc/GMT{'-' if hours > 0 else '+'}{abs(hours)}"


def _restock(client, available: int, at: str) -> None:
    payload = {"inventory_item_id": ITEM[SOLD], "location_id": 1, "available": available, "updated_at": at}
    assert deliver(client, "inventory_levels/update", payload, shop=DOMAIN).status_code == 200


def test_notify_me_in_chromium_then_a_restock_webhook_tells_exactly_the_units_available(
    app, client, jobs_env, session, smtp
):
    shop_id = seed(session, jobs_env.encryption_keys, smtp.url)
    session.add(ContactPolicyRow(shop_id=shop_id, timezone=_daytime_zone()))
    session.commit()
    with (
        chromium() as browser,
        LocalStorefront(
            app, DOMAIN, jobs_env.database_url, TEST_API_SECRET, extra_blocks=[("back-in-stock", {})]
        ) as shop,
    ):
        page = browser.new_page()
        page.goto(shop.url + "/products/wool-socks")
        form = page.locator("[data-attune-bis] form")
        form.wait_for(state="visible")
        assert page.locator("[data-attune-bis] select option").all_inner_texts() == [
            "Large"
        ]  # the sold-out one
        page.locator("[data-attune-bis] input[name=email]").fill("not an address")
        page.locator("[data-attune-bis] button").click()
        status = page.locator("[data-attune-bis] .attune-status")
        status.filter(has_text="valid e-mail").wait_for()  # the server's message, shown as it is
        page.locator("[data-attune-bis] input[name=email]").fill("first@example.com")
        page.locator("[data-attune-bis] button").click()
        status.filter(has_text="we'll tell you once").wait_for()
        assert any("/apps/attune/back-in-stock" in p for p in shop.proxied)
    for who in ("second", "third", "fourth"):
        answer = client.post(
            signed({"client_id": who}), json={"variant_id": SOLD, "email": f"{who}@example.com"}
        )
        assert answer.status_code == 201
    rows = session.exec(select(BackInStockRequest).order_by(BackInStockRequest.requested_at)).all()
    assert [r.address for r in rows] == [f"{w}@example.com" for w in ("first", "second", "third", "fourth")]

    _restock(client, 2, "2030-01-01T10:00:00Z")  # later than anything stored: applied
    run_jobs(jobs_env.redis_url)  # the inbox job, the back-in-stock job it queues, the relay it queues
    assert sorted(m.rcpt_tos[0] for m in smtp.messages) == ["first@example.com", "second@example.com"]
    assert all(m.message["Subject"] == "Wool Socks – Large is back in stock" for m in smtp.messages)
    assert all(m.message["List-Unsubscribe"] for m in smtp.messages)

    _restock(client, 2, "2030-01-01T10:05:00Z")  # the same two units: both still held by the two told
    run_jobs(jobs_env.redis_url)
    assert len(smtp.messages) == 2
    session.expire_all()
    statuses = [
        r.status for r in session.exec(select(BackInStockRequest).order_by(BackInStockRequest.requested_at))
    ]
    assert statuses == [NOTIFIED, NOTIFIED, WAITING, WAITING]
