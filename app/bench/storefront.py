"""``attune bench storefront``: what the widgets add to a storefront page load in headless Chromium.

The local storefront (the extension's real Liquid, scripts and the real app proxy) is loaded alternately
with and without the blocks and the app embed, each load in two ways: a first view (a fresh browser
context: empty HTTP cache and storage) and a repeat view (a new tab in a context kept per variant, so the
extension's assets come from the HTTP cache as the CDN's caching headers allow, like a shopper's second
page). Both variants are served by the same local storefront server under the same conditions, and in
both views the widgets render real recommendations fetched from the app proxy. Reported: load-event time
and main-thread total blocking time (sum of long-task time over 50 ms), medians over the runs; the
target is < 50 ms added.
"""

from __future__ import annotations

import os
import statistics
import tempfile
from pathlib import Path

import click

CHROMIUM = "/usr/bin/chromium"
SHOP = "attune-bench.myshopify.com"
SECRET = "bench-secret-0123456789abcdef0123"
OBSERVER = (
    "window.__tbt = 0; try { new PerformanceObserver(l => l.getEntries().forEach(e => {"
    " window.__tbt += Math.max(0, e.duration - 50); })).observe({type: 'longtask', buffered: true}); } catch (e) {}"
)


WIDGETS_READY = (
    "() => ['[data-attune-recs]', '[data-attune-fbt]', '[data-attune-again]'].every("
    "s => document.querySelector(s + '[data-state=ready]'))"
)


def _measure(page, url: str, widgets: bool) -> tuple[float, float]:
    page.goto(url, wait_until="load")
    if widgets:  # the blocks really filled with recommendations from the proxy (else the run fails)
        page.wait_for_function(WIDGETS_READY, timeout=5000)
    page.wait_for_timeout(300)  # let deferred scripts and their proxy calls finish
    load = page.evaluate(
        "(() => { const n = performance.getEntriesByType('navigation')[0]; return n.loadEventEnd - n.startTime; })()"
    )
    return float(load), float(page.evaluate("window.__tbt"))


@click.command("storefront")
@click.option("--runs", default=15, show_default=True, help="Page loads per variant.")
@click.option("--out", default="benchmarks/storefront.md", show_default=True, type=click.Path(dir_okay=False))
def storefront(runs: int, out: str) -> None:
    """Load time and blocking time added by the Attune widgets to a product page."""
    from playwright.sync_api import sync_playwright
    from sqlmodel import Session

    from app import create_app
    from app.config import load_settings
    from app.db import get_engine
    from app.jobs.recommendations import refresh_for_shop
    from app.migrate import upgrade
    from app.storefront.demo_data import DEMO_CUSTOMER, seed_demo_shop
    from app.storefront.local import LocalStorefront

    if not Path(CHROMIUM).exists():
        raise click.ClickException("needs Debian's chromium (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        upgrade(url)
        with Session(get_engine(url)) as s:
            shop = seed_demo_shop(s, SHOP)
        settings = load_settings(
            database_url=url,
            shopify_api_secret=SECRET,
            attune_env="development",
            redis_url=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14"),
        )
        refresh_for_shop(shop.shop_id, settings)
        app = create_app(settings)
        views = ("first", "repeat")
        results: dict[tuple[str, bool], list[tuple[float, float]]] = {
            (v, w): [] for v in views for w in (True, False)
        }
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM,
                args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            kept = {w: browser.new_context(viewport={"width": 1280, "height": 900}) for w in (True, False)}
            for context in kept.values():
                context.add_init_script(OBSERVER)
            with (
                LocalStorefront(app, SHOP, url, SECRET, customer_id=DEMO_CUSTOMER, widgets=True) as on,
                LocalStorefront(app, SHOP, url, SECRET, customer_id=DEMO_CUSTOMER, widgets=False) as off,
            ):
                for i in range(runs + 2):
                    for widgets, sf in ((True, on), (False, off)):
                        page_url = sf.url + "/products/compact-camping-stove"
                        context = browser.new_context(viewport={"width": 1280, "height": 900})
                        context.add_init_script(OBSERVER)
                        first = _measure(context.new_page(), page_url, widgets)
                        context.close()
                        page = kept[widgets].new_page()
                        repeat = _measure(page, page_url, widgets)
                        page.close()
                        if i >= 2:  # the first two rounds warm caches on both sides
                            results[("first", widgets)].append(first)
                            results[("repeat", widgets)].append(repeat)
            browser.close()
    med = {
        k: (statistics.median(x[0] for x in r), statistics.median(x[1] for x in r))
        for k, r in results.items()
    }
    added = {
        v: (med[(v, True)][0] - med[(v, False)][0], med[(v, True)][1] - med[(v, False)][1]) for v in views
    }
    rows = []
    for v, label in (("first", "first view"), ("repeat", "repeat view")):
        for i, figure in ((0, "load event (ms)"), (1, "total blocking time (ms)")):
            rows.append(
                f"| {label}: {figure} | {med[(v, True)][i]:.1f} | {med[(v, False)][i]:.1f} | {added[v][i]:+.1f} |"
            )

    def verdict(v: str) -> str:
        load, tbt = added[v]
        return f"load {'met' if load < 50 else 'NOT met'}, blocking time {'met' if tbt < 50 else 'NOT met'}"

    report = [
        "# Benchmark: storefront widgets in Chromium",
        "",
        f"Command: `attune bench storefront --runs {runs}`",
        "",
        "Product page of the local storefront (the extension's Liquid rendered with python-liquid, its deferred",
        "scripts, the real app proxy), loaded alternately with and without the three blocks and the assistant",
        f"embed, signed-in customer, headless Debian Chromium, {os.cpu_count()} CPUs; medians of {runs} loads each.",
        "First view: a fresh browser context (empty HTTP cache). Repeat view: a new tab in a context kept per",
        "variant, so the extension's assets come from the HTTP cache (the local server sends CDN-like caching",
        "headers). Every timed load with widgets waits until all three blocks are filled from the proxy.",
        "",
        "| figure | with widgets | without | added |",
        "|---|---|---|---|",
        *rows,
        "",
        f"Target < 50 ms added: first view {verdict('first')}; repeat view {verdict('repeat')}.",
        "",
    ]
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text("\n".join(report))
    click.echo("\n".join(report))
