"""The README's screenshots, taken from the running demo (``attune demo --screenshots docs``) in headless Chromium.

Each shot waits until its part of the page has drawn its data. The admin is opened as a merchant opens it,
through the fake Shopify's admin URL; Shopify's CDN is not reachable from the sandbox, so it is blocked and the
control room is drawn with its fallback CSS (as the browser tests check it). A storefront block that has nothing
to show for the signed-in shopper is left out (and so is its file), never drawn empty.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from app.bench.storefront import launch_chromium

CDN = "https://cdn.shopify.com/**"
WAIT_MS = 60_000  # a loaded 2-core box draws the demo admin in seconds; a missing section fails after this
# admin sections: file name → (selector, what must be drawn inside it first)
ADMIN_SHOTS = {
    "control-room.png": ("#control-room", "#success-table tbody tr"),
    "journey.png": ("#journey", "#journey-body tr[data-stage]"),
}
RECS = "[data-attune-recs][data-state=ready]"  # "Recommended for you" on the home page, signed in
FBT = "[data-attune-fbt][data-state=ready]"  # "Frequently bought together" on the first recommended product
PANEL = "#attune-panel"  # the assistant, opened from its launcher on that product page


def take(out: Path, admin_url: str | None = None, storefront_url: str | None = None) -> list[Path]:
    """Screenshots of the demo's admin and storefront (each when given) into ``out``; the files written."""
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            if admin_url is not None:
                page = _page(browser)
                page.goto(admin_url)
                for name, (section, drawn) in ADMIN_SHOTS.items():
                    page.locator(drawn).first.wait_for(timeout=WAIT_MS)
                    written.append(_shot(page.locator(section), out / name))
            if storefront_url is not None:
                written += _storefront(_page(browser), storefront_url, out)
        finally:
            browser.close()
    return written


def _storefront(page: Any, url: str, out: Path) -> list[Path]:
    """The signed-in shopper's recommendations, then the first one's product page: its bought-together block
    and the assistant's panel."""
    page.goto(url)
    if not _drawn(page, RECS):
        return []
    written = [_shot(page.locator(RECS), out / "recommended.png")]
    href = page.locator(f"{RECS} a.attune-title").first.get_attribute("href") or ""
    page.goto(urljoin(url, urlsplit(href).path))  # the local storefront serves the shop's product paths
    if _drawn(page, FBT):
        written.append(_shot(page.locator(FBT), out / "fbt.png"))
    page.locator(".attune-launcher").click()
    if _drawn(page, f"{PANEL} .attune-foryou li"):
        written.append(_shot(page.locator(PANEL), out / "assistant.png"))
    return written


def _page(browser: Any) -> Any:
    page = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US").new_page()
    page.route(CDN, lambda route: route.abort())
    return page


def _drawn(page: Any, selector: str) -> bool:
    try:
        page.locator(selector).first.wait_for(timeout=WAIT_MS // 6)
    except Exception:  # noqa: BLE001 - Playwright's TimeoutError: the block had nothing to show
        return False
    return True


def _shot(locator: Any, path: Path) -> Path:
    locator.first.scroll_into_view_if_needed()
    locator.first.screenshot(path=str(path), timeout=WAIT_MS)
    return path
