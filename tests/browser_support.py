"""The browser tests' Chromium: Debian's, headless, started the one way the project uses (with the bench)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from app.bench.storefront import CHROMIUM, launch_chromium

# Every browser test: marked `browser` (PostgreSQL runs skip them) and skipped where Chromium is missing.
needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists() or shutil.which("chromium") is None, reason="needs chromium"
)
BROWSER_MARKS = [pytest.mark.browser, needs_chromium]


@contextmanager
def chromium() -> Iterator[Any]:
    """A running headless Chromium, closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            yield browser
        finally:
            browser.close()


def admin_page(browser: Any) -> Any:
    """A page sized and localised as the embedded admin tests expect."""
    return browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US").new_page()


def open_admin(browser: Any, landing: str) -> tuple[Any, list[str]]:
    """The embedded admin opened at ``landing`` in an ``admin_page``, with the page's script errors collected."""
    page = admin_page(browser)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(landing)
    return page, errors
