"""The embedded admin's proof of the support agent in headless Chromium (issue 18 §7): the AI resolution rate, the
hand-off rate, the shoppers' 👍/👎 and the questions it could not answer, beside the labelled reference figures;
and a question carrying HTML and script shown as text there and in the waiting list, never run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from conftest import TEST_API_KEY
from fixtures_shopify import InstalledShop, LiveApp

from app.bench.storefront import launch_chromium
from app.models.feedback import SupportMessage
from tests.browser_support import BROWSER_MARKS, open_admin

pytestmark = BROWSER_MARKS
PLANTED = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>Can I pay with a cow?'


def _conversation(shop_id: int, name: str, question: str, at: datetime, **reply) -> list[SupportMessage]:
    who = {"shop_id": shop_id, "conversation": name, "topic": "shop_info", "client_id": f"cl-{name}"}
    return [
        SupportMessage(**who, role="shopper", text=question, created_at=at),
        SupportMessage(**who, role="assistant", text="…", created_at=at + timedelta(microseconds=1), **reply),
    ]


def test_the_resolution_readout_and_html_in_questions_shown_as_text(
    live_app: LiveApp, installed_shop: InstalledShop, session
):
    from playwright.sync_api import sync_playwright

    days_ago = datetime.now(UTC) - timedelta(days=4)  # past the 72 hours: each conversation is judged
    session.add_all(
        _conversation(installed_shop.id, "a", "Do you ship to Canada?", days_ago, helpful=True)
        + _conversation(installed_shop.id, "b", "How long do returns take?", days_ago, helpful=False)
        + _conversation(installed_shop.id, "c", PLANTED, days_ago, abstained=True, escalated=True)
    )
    session.commit()
    landing = live_app.fake.origin_template.format(shop=installed_shop.domain) + f"/admin/apps/{TEST_API_KEY}"
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        page, errors = open_admin(browser, landing)
        readout = page.locator("#resolution-body")
        readout.locator("ul.unanswered li").first.wait_for(timeout=10_000)
        text = readout.inner_text()
        assert "AI resolution rate 67 %" in text and "2 of 3 conversations" in text
        assert "Handed to a person: 33 % of 3 conversations." in text
        assert "1 👍, 1 👎 (50 % helpful)" in text
        assert "For reference: 20–30 %" in text and "50–60 % (AI support agents)" in text
        assert (
            readout.locator("ul.unanswered li span").first.inner_text() == PLANTED
        )  # as text, word for word

        waiting = page.locator("#support-body li[data-escalation]")
        waiting.first.wait_for(timeout=10_000)
        assert PLANTED in waiting.first.inner_text()
        assert page.locator("#resolution-body img, #support-body img, #support-body script").count() == 0
        assert page.evaluate("window.__pwned") is None
        browser.close()
    assert not errors
