"""``attune bench storefront``: what the widgets add to a storefront page load in headless Chromium.

The local storefront (the extension's real Liquid, scripts and the real app proxy) is loaded alternately
with and without the blocks and the app embed, each load in two ways: a first view (a fresh browser
context: empty HTTP cache and storage) and a repeat view (a new tab in a context kept per variant, so the
extension's assets come from the HTTP cache as the CDN's caching headers allow, like a shopper's second
page). Both variants are served by the same local storefront server under the same conditions, and in
both views every timed load with widgets waits until the blocks are filled with real recommendations
fetched from the app proxy (the run fails otherwise). Reported: load-event end and main-thread total
blocking time (sum of long-task time over 50 ms), medians over the runs, the target being < 50 ms added;
and, as a separate figure, when the widgets were filled (the blocks load their scripts after the load
event), from navigation start and after the load event.
"""

from __future__ import annotations

import gzip
import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

import click

from app.bench.report import write_report

CHROMIUM = "/usr/bin/chromium"
# Debian's chromium, headless, with nothing of its own on the network (the flags the project settled on)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SHOP = "attune-bench.myshopify.com"
SECRET = "bench-secret-0123456789abcdef0123"


def launch_chromium(pw: Any) -> Any:
    """Debian's Chromium through Playwright (``pw``: a ``sync_playwright()`` handle)."""
    return pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


BLOCKS = ("[data-attune-recs]", "[data-attune-fbt]", "[data-attune-again]")
# Added to every page of both variants: total blocking time, and the moment all three blocks are filled
# (window.__filled, ms since navigation start, from a MutationObserver on the blocks' data-state).
OBSERVER = (
    "window.__tbt = 0; try { new PerformanceObserver(l => l.getEntries().forEach(e => {"
    " window.__tbt += Math.max(0, e.duration - 50); })).observe({type: 'longtask', buffered: true}); } catch (e) {}"
    " window.__filled = null; new MutationObserver((m, o) => {"
    f" if ({list(BLOCKS)!r}.every(s => document.querySelector(s + '[data-state=ready]')))"
    " { window.__filled = performance.now(); o.disconnect(); }"
    " }).observe(document, {subtree: true, attributes: true, attributeFilter: ['data-state']});"
)
# The blocks really filled with recommendations from the proxy: every block ready, with real cards (titles
# that link to products) and no skeleton card left; else the run fails.
WIDGETS_FILLED = (
    "() => window.__filled !== null && !document.querySelector('.attune-skeleton') && "
    f"{list(BLOCKS)!r}.every(s => document.querySelectorAll(s + ' .attune-card a.attune-title[href]').length > 0)"
)


def _measure(page, url: str, widgets: bool) -> tuple[float, float, float | None]:
    """(load event end, total blocking time, widgets filled): ms since navigation start."""
    page.goto(url, wait_until="load")
    if widgets:
        page.wait_for_function(WIDGETS_FILLED, timeout=5000)
    page.wait_for_timeout(300)  # let deferred scripts and their proxy calls finish
    load = page.evaluate(
        "(() => { const n = performance.getEntriesByType('navigation')[0]; return n.loadEventEnd - n.startTime; })()"
    )
    filled = page.evaluate("window.__filled") if widgets else None
    return float(load), float(page.evaluate("window.__tbt")), filled


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
        results: dict[tuple[str, bool], list[tuple[float, float, float | None]]] = {
            (v, w): [] for v in views for w in (True, False)
        }
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            kept = {w: browser.new_context(viewport={"width": 1280, "height": 900}) for w in (True, False)}
            for context in kept.values():
                context.add_init_script(OBSERVER)
            with (
                LocalStorefront(
                    app, SHOP, url, SECRET, customer_id=DEMO_CUSTOMER, widgets=True, rescue=True
                ) as on,
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
    # Widgets filled (from navigation start), and how long after the load event, per load with widgets.
    filled = {v: statistics.median(x[2] for x in results[(v, True)]) for v in views}
    after = {v: statistics.median(x[2] - x[0] for x in results[(v, True)]) for v in views}
    rows = []
    for v, label in (("first", "first view"), ("repeat", "repeat view")):
        for i, figure in ((0, "load event (ms)"), (1, "total blocking time (ms)")):
            rows.append(
                f"| {label}: {figure} | {med[(v, True)][i]:.1f} | {med[(v, False)][i]:.1f} | {added[v][i]:+.1f} |"
            )
    filled_rows = [
        f"| {label} | {filled[v]:.1f} | {after[v]:+.1f} |"
        for v, label in (("first", "first view"), ("repeat", "repeat view"))
    ]

    def verdict(v: str) -> str:
        load, tbt = added[v]
        return f"load {'met' if load < 50 else 'NOT met'}, blocking time {'met' if tbt < 50 else 'NOT met'}"

    def loads(v: str, w: bool) -> str:
        return ", ".join(f"{x[0]:.0f}" for x in results[(v, w)])

    report = [
        "# Benchmark: storefront widgets in Chromium",
        "",
        f"Command: `attune bench storefront --runs {runs}`",
        "",
        "Product page of the local storefront (the extension's Liquid rendered with python-liquid, its scripts,",
        "the real app proxy), loaded alternately with and without the three blocks and the assistant and rescue",
        "embeds (the rescue embed with consent given: it reads the cart and watches for hesitation),",
        f"signed-in customer, headless Debian Chromium, {os.cpu_count()} CPUs; medians of {runs} loads each.",
        "First view: a fresh browser context (empty HTTP cache). Repeat view: a new tab in a context kept per",
        "variant, so the extension's assets come from the HTTP cache (the local server sends CDN-like caching",
        "headers). Every timed load with widgets also waits until all three blocks are filled with real",
        "recommendations from the proxy (no skeleton card left), else the run fails.",
        "",
        "| figure | with widgets | without | added |",
        "|---|---|---|---|",
        *rows,
        "",
        f"Target < 50 ms added: first view {verdict('first')}; repeat view {verdict('repeat')}.",
        "",
        "Widgets filled (all three blocks showing recommendations; the scripts start after the load event):",
        "",
        "| view | filled, ms from navigation start | after the load event (ms) |",
        "|---|---|---|",
        *filled_rows,
        "",
        "Scripts (each loaded after the load event; budget 10 KB gzipped each):",
        "",
        *_script_sizes(),
        "",
        "Load event (ms), every timed load:",
        "",
        *(
            f"- {label}, {'with' if w else 'without'} widgets: {loads(v, w)}"
            for v, label in (("first", "first view"), ("repeat", "repeat view"))
            for w in (True, False)
        ),
        "",
    ]
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    write_report(out, "\n".join(report))
    click.echo("\n".join(report))


def _script_sizes() -> list[str]:
    from app.storefront.render import EXTENSION_DIR

    return [
        f"- `{p.name}`: {len(gzip.compress(p.read_bytes(), 9)) / 1024:.1f} KB gzipped ({p.stat().st_size / 1024:.1f} KB)"
        for p in sorted((EXTENSION_DIR / "assets").glob("*.js"))
    ]
