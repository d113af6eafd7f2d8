"""``attune bench storefront``: what the widgets add to a storefront page load in headless Chromium.

The local storefront (the extension's real Liquid, scripts and the real app proxy) is loaded alternately
with and without the blocks and the app embed. Reported: load-event time and main-thread total blocking
time (sum of long-task time over 50 ms), medians over the runs; the target is < 50 ms added.
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


def _measure(page, url: str) -> tuple[float, float]:
    page.goto(url, wait_until="load")
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
        results: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM,
                args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            with (
                LocalStorefront(app, SHOP, url, SECRET, customer_id=DEMO_CUSTOMER, widgets=True) as on,
                LocalStorefront(app, SHOP, url, SECRET, customer_id=DEMO_CUSTOMER, widgets=False) as off,
            ):
                for i in range(runs + 2):
                    for widgets, sf in ((True, on), (False, off)):
                        context = browser.new_context(viewport={"width": 1280, "height": 900})
                        page = context.new_page()
                        page.add_init_script(OBSERVER)
                        sample = _measure(page, sf.url + "/products/compact-camping-stove")
                        context.close()
                        if i >= 2:  # the first two rounds warm caches on both sides
                            results[widgets].append(sample)
            browser.close()
    med = {
        w: (statistics.median(x[0] for x in r), statistics.median(x[1] for x in r))
        for w, r in results.items()
    }
    added_load = med[True][0] - med[False][0]
    added_tbt = med[True][1] - med[False][1]
    report = [
        "# Benchmark: storefront widgets in Chromium",
        "",
        f"Command: `attune bench storefront --runs {runs}`",
        "",
        "Product page of the local storefront (the extension's Liquid rendered with python-liquid, its deferred",
        "scripts, the real app proxy), loaded alternately with and without the three blocks and the assistant",
        f"embed, signed-in customer, headless Debian Chromium, {os.cpu_count()} CPUs; medians of {runs} loads each.",
        "",
        "| figure | with widgets | without | added |",
        "|---|---|---|---|",
        f"| load event (ms) | {med[True][0]:.1f} | {med[False][0]:.1f} | {added_load:+.1f} |",
        f"| total blocking time (ms) | {med[True][1]:.1f} | {med[False][1]:.1f} | {added_tbt:+.1f} |",
        "",
        f"Target < 50 ms added: load {'met' if added_load < 50 else 'NOT met'}, "
        f"blocking time {'met' if added_tbt < 50 else 'NOT met'}.",
        "",
    ]
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text("\n".join(report))
    click.echo("\n".join(report))
