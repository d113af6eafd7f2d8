"""The rescue embed sees cart changes made through Shopify's AJAX cart API whichever way the theme calls it: an
``XMLHttpRequest`` with a form-encoded body (jQuery-style themes) and ``fetch`` with ``URLSearchParams``, in
headless Chromium against the real app proxy. The add → remove → re-add becomes cart signals on
``/apps/attune/nudge`` (one add by each XHR, the removal by fetch); without consent, the same calls send
nothing."""

from __future__ import annotations

import json

from app.storefront.demo_data import VARIANT
from app.storefront.local import LocalStorefront
from tests import test_nudge_browser as nudge_browser
from tests.browser_support import BROWSER_MARKS
from tests.conftest import TEST_API_SECRET

pytestmark = BROWSER_MARKS
browser, page = nudge_browser.browser, nudge_browser.page  # fixtures

AJAX = f"""async () => {{
  const xhr = (url, body) => new Promise((done) => {{
    const r = new XMLHttpRequest();
    r.open('POST', url);
    r.setRequestHeader('Content-Type', 'application/x-www-form-urlencoded; charset=UTF-8');
    r.onloadend = done;
    r.send(body);
  }});
  await xhr('/cart/add.js', 'id={VARIANT[1002]}&quantity=1');
  await fetch('/cart/change.js', {{method: 'POST', body: new URLSearchParams({{id: '{VARIANT[1002]}', quantity: '0'}})}});
  await xhr('/cart/add.js', 'id={VARIANT[1002]}&quantity=1');
}}"""


def _watch(page, sf) -> list[dict]:
    bodies: list[dict] = []
    page.on(
        "request",
        lambda r: bodies.append(json.loads(r.post_data or "{}")) if "/apps/attune/nudge?" in r.url else None,
    )
    page.goto(sf.url + nudge_browser.SOCKS)  # not back from checkout: the cart calls are the only signals
    page.wait_for_function("() => window.__attuneLoad && document.querySelector('[data-attune-started]')")
    page.evaluate(AJAX)
    return bodies


def test_an_ajax_add_to_cart_by_xhr_or_fetch_is_seen(app, settings, session, page):
    nudge_browser.shop_with(session, holdout=0.0)  # the shop's global holdout pinned to 0 there too
    with LocalStorefront(app, nudge_browser.SHOP, settings.database_url, TEST_API_SECRET, rescue=True) as sf:
        bodies = _watch(page, sf)
        for _ in range(40):
            if sum(len(b.get("signals", [])) for b in bodies) >= 3:
                break
            page.wait_for_timeout(100)
    signals = [(s["kind"], s.get("variant")) for b in bodies for s in b.get("signals", [])]
    variant = VARIANT[1002]
    assert signals.count(("cart_add", variant)) == 2  # both XHR adds
    assert ("cart_remove", variant) in signals  # the fetch with URLSearchParams


def test_ajax_cart_calls_send_nothing_without_consent(app, settings, session, page):
    nudge_browser.shop_with(session, holdout=0.0)
    page.add_init_script("window.__attuneConsent = false")
    with LocalStorefront(app, nudge_browser.SHOP, settings.database_url, TEST_API_SECRET, rescue=True) as sf:
        bodies = _watch(page, sf)
        page.wait_for_timeout(1500)
    assert bodies == [] and page.locator(".attune-rescue-card").count() == 0
