"""The control room in headless Chromium, opened through the fake Shopify's admin frame, against a seeded
database: the success table shows, in every row and both arms, the figures counted from the seeded rows; with
Shopify's CDN blocked the fallback CSS keeps the Polaris elements readable, and with a stand-in for it they are
defined and the page is the same; a merchant can do everything by keyboard (open a card's settings, get the field
named on a bad value, save); the French page writes French words and numbers. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
from conftest import ROOT, TEST_API_KEY
from control_room_support import seed_shop
from fixtures_shopify import InstalledShop, LiveApp

from app.measurement.control_room import METRICS, RATE
from app.models.base import utcnow
from tests.browser_support import BROWSER_MARKS, admin_page, chromium

pytestmark = [*BROWSER_MARKS, pytest.mark.slow]
ARTIFACTS = ROOT / "test-artifacts"
CDN = "https://cdn.shopify.com/**"
# a stand-in for Polaris's script: defines the elements the page uses (the real one cannot be fetched offline)
POLARIS_STANDIN = """
for (const name of ["s-section", "s-badge", "s-banner"]) {
  customElements.define(name, class extends HTMLElement {
    connectedCallback() { this.dataset.upgraded = "1"; this.style.display = name === "s-badge" ? "inline-block" : "block"; }
  });
}
"""


@pytest.fixture
def settings(settings):
    """Polaris from the CDN outside Shopify's admin too, so each test decides what the CDN does."""
    return settings.model_copy(update={"attune_polaris_cdn": True})


def _open(live: LiveApp, shop: InstalledShop, browser, cdn: str, locale: str = "en"):
    page = admin_page(browser)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    if cdn == "blocked":
        page.route(CDN, lambda route: route.abort())
    else:
        page.route(
            CDN, lambda route: route.fulfill(status=200, content_type="text/javascript", body=POLARIS_STANDIN)
        )
    landing = live.fake.origin_template.format(shop=shop.domain) + f"/admin/apps/{TEST_API_KEY}"
    page.goto(landing)
    assert page.url.startswith(f"{live.url}/app?")
    if locale != "en":  # as Shopify's admin would pass the merchant's language
        url = urlsplit(page.url)
        query = dict(parse_qsl(url.query))
        page.goto(urlunsplit(url._replace(query=urlencode({**query, "locale": locale}))))
    page.locator("#success-table tbody tr").first.wait_for(timeout=15_000)
    return page, errors


def _api(live: LiveApp, shop: InstalledShop, locale: str = "en"):
    from fixtures_shopify import make_session_token

    token = make_session_token(shop.domain)
    return (
        live.client()
        .get(f"/api/admin/control-room?locale={locale}", headers={"Authorization": f"Bearer {token}"})
        .json
    )


def test_the_table_with_the_cdn_blocked_and_by_keyboard(
    live_app: LiveApp, installed_shop: InstalledShop, session
):
    seeded = seed_shop(session, installed_shop.id, utcnow())
    ARTIFACTS.mkdir(exist_ok=True)
    with chromium() as browser:
        page, errors = _open(live_app, installed_shop, browser, "blocked")
        # every row's figures against the seeded database, counted by hand (rates in %, 1 decimal; money, 2)
        assert page.locator("#success-table tbody tr").count() == len(METRICS)
        for metric in METRICS:
            row = page.locator(f"#success-table tr[data-metric={metric}]")
            for arm, group in (("treated", seeded.treated), ("holdout", seeded.held)):
                shown = float(re.sub(r"[^\d.\-]", "", row.locator(f"[data-value={arm}]").inner_text()))
                want = seeded.expected(metric, group)
                if RATE[metric]:
                    assert shown == pytest.approx(100 * want, abs=0.05), (metric, arm)
                else:
                    assert shown == pytest.approx(want, abs=0.005), (metric, arm)
        assert "Traditional" in page.locator("#success-table thead").inner_text()
        # the fallback: Polaris never loaded, its elements are undefined yet laid out as cards and badges
        assert page.evaluate("() => customElements.get('s-section') === undefined")
        assert page.locator("#control-room").evaluate("e => getComputedStyle(e).display") == "block"
        assert (
            page.locator(".cr-setup s-badge").first.evaluate("e => getComputedStyle(e).display")
            == "inline-block"
        )
        assert page.locator("svg.cr-chart title").text_content() and page.locator("#cr-summary").inner_text()
        assert (
            page.locator("svg.cr-chart rect[fill='url(#cr-hatch)']").count() >= 3
        )  # holdout hatched, not colour alone
        page.screenshot(path=str(ARTIFACTS / "control-room-no-cdn.png"), full_page=True)
        page.locator("#control-room").screenshot(path=str(ARTIFACTS / "control-room.png"))

        # keyboard only: focus the rescue card's settings, open them, enter a bad share, get the field named
        summary = page.locator("[data-agent=rescue] details summary")
        summary.focus()
        page.keyboard.press("Enter")
        share = page.locator("#cr-rescue-holdout_share")
        share.wait_for(state="visible")
        for _ in range(20):
            page.keyboard.press("Tab")
            if page.evaluate("() => document.activeElement.id") == "cr-rescue-holdout_share":
                break
        assert page.evaluate("() => document.activeElement.id") == "cr-rescue-holdout_share"
        page.keyboard.press("Control+A")
        page.keyboard.type("70")
        page.keyboard.press("Enter")
        error = page.locator("[data-agent=rescue] [data-error-for=holdout_share]")
        error.filter(has_text="holdout_share").wait_for(timeout=5000)
        assert share.get_attribute("aria-invalid") == "true"
        assert page.evaluate("() => document.activeElement.id") == "cr-rescue-holdout_share"
        page.keyboard.press("Control+A")
        page.keyboard.type("20")
        page.keyboard.press("Enter")
        page.locator("[data-agent=rescue] [data-saved]", has_text="Saved").wait_for(timeout=5000)
        cards = {c["agent"]: c for c in _api(live_app, installed_shop)["agents"]}
        assert cards["rescue"]["settings"]["holdout_share"] == 0.2
        # the feed filters by agent
        page.select_option("#cr-feed-agent", "rescue")
        page.locator("#cr-feed-agent").focus()
        page.keyboard.press("Enter")
        page.wait_for_function(
            "() => { const r = document.querySelectorAll('#cr-feed li'); return r.length > 0 && "
            "[...r].every(li => li.dataset.agent === 'rescue'); }",
            timeout=5000,
        )
        assert errors == []


def test_with_the_cdn_and_in_french(live_app: LiveApp, installed_shop: InstalledShop, session):
    seed_shop(session, installed_shop.id, utcnow())
    with chromium() as browser:
        page, errors = _open(live_app, installed_shop, browser, "standin", locale="fr")
        assert page.locator("#control-room").get_attribute("data-upgraded") == "1"
        assert page.locator("#control-room-title").inner_text() == "Salle de contrôle"
        assert page.locator("#control-room").get_attribute("lang") == "fr"
        api = _api(live_app, installed_shop, "fr")
        conv = next(r for r in api["table"]["rows"] if r["metric"] == "conversion_rate")["text"]
        row = page.locator("#success-table tr[data-metric=conversion_rate]")
        assert row.locator("th").inner_text() == "Taux de conversion"
        assert row.locator("[data-value=treated]").inner_text() == conv["treated"] and "," in conv["treated"]
        assert "clients" in row.inner_text()
        page.screenshot(path=str(ARTIFACTS / "control-room-fr.png"), full_page=True)
        assert errors == []
