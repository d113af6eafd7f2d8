"""The README's screenshots, taken from the running demo (``attune demo --screenshots docs``) in headless Chromium.

Each shot waits until its part of the page has drawn its data. The admin is opened as a merchant opens it,
through the fake Shopify's admin URL; Shopify's CDN is not reachable from the sandbox, so it is blocked and the
control room is drawn with its fallback CSS (as the browser tests check it). A storefront block that has nothing
to show for the signed-in shopper is left out (and so is its file), never drawn empty.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.bench.storefront import launch_chromium

CDN = "https://cdn.shopify.com/**"
WAIT_MS = 60_000  # a loaded 2-core box draws the demo admin in seconds; a missing section fails after this
# admin sections: file name → (selector, what must be drawn inside it first)
ADMIN_SHOTS = {
    "control-room.png": ("#control-room", "#success-table tbody tr"),
    "journey.png": ("#journey", "#journey-body tr[data-stage]"),
}
# storefront blocks as a signed-in shopper sees them on the home page
STOREFRONT_SHOTS = {"recommended.png": "[data-attune-recs][data-state=ready]"}


def take(admin_url: str, out: Path, storefront_url: str | None = None) -> list[Path]:
    """Screenshots of the demo's admin (and storefront, when given) into ``out``; returns the files written."""
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = _page(browser)
            page.goto(admin_url)
            for name, (section, drawn) in ADMIN_SHOTS.items():
                page.locator(drawn).first.wait_for(timeout=WAIT_MS)
                written.append(_shot(page.locator(section), out / name))
            if storefront_url is not None:
                page = _page(browser)
                page.goto(storefront_url)
                for name, block in STOREFRONT_SHOTS.items():
                    if _drawn(page, block):
                        written.append(_shot(page.locator(block), out / name))
        finally:
            browser.close()
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
