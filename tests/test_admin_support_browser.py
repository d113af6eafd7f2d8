"""The embedded admin's support section in headless Chromium: the open escalations of this shop only, resolving
one with a reply note by keyboard, and the list emptying."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from conftest import TEST_API_KEY
from fixtures_shopify import InstalledShop, LiveApp
from sqlmodel import select

from app.bench.storefront import launch_chromium
from app.models.feedback import SupportMessage
from tests.browser_support import BROWSER_MARKS, admin_page

pytestmark = BROWSER_MARKS


def _turns(shop_id: int, conversation: str, question: str, at: datetime, **who) -> list[SupportMessage]:
    common = {"shop_id": shop_id, "conversation": conversation, "topic": "returns", **who}
    return [
        SupportMessage(**common, role="shopper", text=question, created_at=at),
        SupportMessage(
            **common,
            role="assistant",
            text="I've passed your question to the shop: a person from the shop will reply.",
            escalated=True,
            created_at=at + timedelta(microseconds=1),
        ),
    ]


def test_escalations_are_resolved_from_the_admin(live_app: LiveApp, installed_shop: InstalledShop, session):
    from playwright.sync_api import sync_playwright

    assert live_app.install("other-support.myshopify.com").status_code == 200
    other = live_app.shop_row("other-support.myshopify.com")
    now = datetime.now(UTC) - timedelta(hours=3)
    session.add_all(
        _turns(installed_shop.id, "c1", "Can I return the boots?", now, customer_shopify_id=501)
        + _turns(
            installed_shop.id,
            "c2",
            "I need a refund for my order",
            now + timedelta(hours=1),
            client_id="cl-7",
        )
        + _turns(other.id, "c3", "Another shop's question", now, customer_shopify_id=501)
    )
    session.commit()
    landing = live_app.fake.origin_template.format(shop=installed_shop.domain) + f"/admin/apps/{TEST_API_KEY}"
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        page = admin_page(browser)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(landing)
        items = page.locator("#support-body li[data-escalation]")
        items.first.wait_for(timeout=10_000)
        assert items.count() == 2
        text = page.locator("#support-body").inner_text()
        assert "Can I return the boots?" in text and "Customer 501" in text and "Visitor cl-7" in text
        assert "Another shop's question" not in text
        assert page.locator("#support").get_attribute("aria-busy") is None

        first = items.first
        first.get_by_label("Reply note").focus()  # keyboard only: type the note, tab to the button, Enter
        page.keyboard.type("Return label sent by email")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "Mark resolved"
        with page.expect_response(lambda r: "/resolve" in r.url and r.status == 200):
            page.keyboard.press("Enter")
        page.wait_for_function(
            "() => document.querySelectorAll('#support-body li[data-escalation]').length === 1"
        )
        items.last.locator("button", has_text="Mark resolved").click()
        page.locator("#support-body .badge", has_text="All answered").wait_for(timeout=5000)
        browser.close()
    assert not errors
    session.expire_all()
    resolved = session.exec(
        select(SupportMessage).where(
            SupportMessage.shop_id == installed_shop.id,
            SupportMessage.escalated == True,  # noqa: E712
        )
    ).all()
    assert sorted((m.conversation, m.resolution_note) for m in resolved) == [
        ("c1", "Return label sent by email"),
        ("c2", None),
    ]
    assert all(m.resolved_at for m in resolved)
    theirs = session.exec(select(SupportMessage).where(SupportMessage.shop_id == other.id)).all()
    assert all(m.resolved_at is None for m in theirs)
