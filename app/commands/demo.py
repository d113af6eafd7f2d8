"""``attune demo``: a sandbox store, built from real data, replayed through the real app."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import click
from tqdm import tqdm

DEMO_SHOP = "attune-demo.myshopify.com"
RESCUE_SESSIONS = 200  # the demo's short closed loop of checkout rescue (about 15 s)


@click.command()
@click.option(
    "--sample",
    type=click.Choice(["small", "standard"]),
    default="standard",
    show_default=True,
    help="small: 60 customers (under two minutes); standard: the whole shipped sample (250).",
)
@click.option(
    "--data",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Another transactions CSV (see app/backtest/datasets.py) instead of the shipped sample.",
)
@click.option(
    "--serve/--no-serve",
    default=True,
    show_default=True,
    help="Keep the admin and the demo storefront running after the summary.",
)
@click.option("--port", default=8000, show_default=True, help="Port of the app (0: any free port).")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("var/demo"),
    show_default=True,
    help="Where the demo's SQLite file lives (when DATABASE_URL is unset).",
)
@click.option(
    "--screenshots",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Also save the README's screenshots of the running demo here (headless Chromium), e.g. docs.",
)
@click.option(
    "--json-out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the summary as JSON.",
)
def demo(
    sample: str,
    data: Path | None,
    serve: bool,
    port: int,
    workdir: Path,
    screenshots: Path | None,
    json_out: Path | None,
) -> None:
    """Install Attune on a sandbox shop (fake Shopify, real app), backfill, replay webhooks and storefront
    sessions, print what Attune learned, then leave the admin and a demo storefront running."""
    from app.demo.actions import (
        Sinks,
        action_summary,
        anonymous_push_visits,
        browse_visits,
        configure_channels,
        fast_forward,
        render_actions,
        run_agents,
    )
    from app.demo.replay import Meter, install, replay_live, seed_store, wait_backfill
    from app.demo.rescue_sim import Truth, simulate_in
    from app.demo.rescue_sim import render as render_simulation
    from app.demo.runtime import DemoRuntime
    from app.demo.sample import SAMPLE_SIZES, SHIPPED_SAMPLE, build_plan, load_transactions
    from app.demo.summary import gather, render

    t0 = time.perf_counter()
    click.echo("Building the sandbox shop from " + str(data or SHIPPED_SAMPLE))
    plan = build_plan(load_transactions(data or SHIPPED_SAMPLE), customers=SAMPLE_SIZES[sample])
    click.echo(
        f"  {len(plan.products)} products, {len(plan.customers)} customers, {len(plan.history_orders)} past orders "
        f"(backfill), {len(plan.live_orders)} live orders + {len(plan.live_refunds)} returns (replayed)"
    )
    sinks = Sinks().start()  # before the runtime reads its settings (the SMS sink's URL)
    rt = DemoRuntime(workdir=workdir, port=port).start()
    try:
        click.echo(
            f"App {rt.app_url} · fake Shopify {rt.fake.base_url} · database {rt.settings.database_url} · "
            f"Redis {rt.redis_url or 'in-process (fakeredis)'}"
        )
        seed_store(rt, DEMO_SHOP, plan)
        timings: dict[str, float] = {}
        click.echo("Installing through OAuth (authorization-code grant)…")
        shop_id = install(rt, DEMO_SHOP)
        configure_channels(rt, shop_id, sinks)
        t = time.perf_counter()
        total = len(plan.products) + len(plan.customers) + len(plan.history_orders)
        with tqdm(total=total, desc="Backfill (bulk operations)", unit="obj") as bar:
            counts = wait_backfill(rt, shop_id, total, bar.update)
        timings["backfill_s"] = time.perf_counter() - t
        click.echo(f"  backfilled {counts}")
        rt.wait_idle()
        meter = Meter()
        with tqdm(
            total=len(plan.live_orders) + len(plan.live_refunds),
            desc="Replay (webhooks + pixel)",
            unit="order",
        ) as bar:
            timings["replay_s"] = replay_live(rt, DEMO_SHOP, plan, meter, bar.update)
        browsers = browse_visits(rt, DEMO_SHOP, plan, meter, datetime.now(UTC))
        browsers += anonymous_push_visits(rt, DEMO_SHOP, plan, meter, sinks, datetime.now(UTC))
        t = time.perf_counter()
        rt.wait_idle()
        timings["drain_s"] = time.perf_counter() - t
        _finish_models(rt, shop_id)
        click.echo(
            f"Agents acting: {browsers} shoppers left a product they looked at twice; running the agents…"
        )
        run_agents(rt, shop_id)
        relayed = fast_forward(rt, shop_id, datetime.now(UTC))
        _seed_control_room(rt, shop_id)
        summary = gather(rt, DEMO_SHOP, meter, timings)
        summary["actions"] = {**action_summary(rt, shop_id, sinks), "fast_forward": relayed}
        summary["failed_jobs"] = rt.failed()
        urls: dict[str, str] = {}
        storefront = _storefront(rt, DEMO_SHOP, shop_id) if serve else None
        if storefront is not None:  # what a newcomer should open first, in this order
            urls["Open first: the demo storefront (products, cart, the assistant)"] = storefront.url + "/"
            for who in _shoppers(rt, shop_id)[:1]:
                urls[f"Then: the storefront as {who.name}, signed in"] = (
                    f"{storefront.url}/?as={who.customer_id}"
                )
        urls["Embedded admin (what the merchant sees)"] = (
            f"{rt.fake.origin(DEMO_SHOP)}/admin/apps/{rt.settings.shopify_api_key}"
        )
        urls.update(sinks.urls())
        click.echo("\n".join(render_actions(summary["actions"])))
        click.echo(render(summary, {"source": plan.source, **plan.meta}, urls))
        click.echo(
            "Checkout rescue, closed loop (synthetic shoppers with a known effect, a shop of their own):"
        )
        summary["rescue_simulation"] = simulate_in(rt, sinks.smtp, RESCUE_SESSIONS, 1, Truth())
        click.echo("\n".join("  " + line for line in render_simulation(summary["rescue_simulation"])))
        if screenshots is not None:
            signed_in = next((u for k, u in urls.items() if k.startswith("Then: the storefront as")), None)
            _screenshots(urls["Embedded admin (what the merchant sees)"], screenshots, signed_in)
        click.echo(f"Total {time.perf_counter() - t0:.1f} s")
        if json_out:
            json_out.write_text(json.dumps(summary, indent=2, default=str))
        if serve:
            click.echo("Serving; press Ctrl-C to stop.")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    finally:
        rt.stop()
        sinks.stop()


def _seed_control_room(rt, shop_id: int) -> None:  # noqa: ANN001
    """Every agent's lift in the control room, from its simulator (a demo shop is too small and too young to
    show any); the control room labels them simulated."""
    from sqlmodel import Session

    from app.db import get_engine
    from app.demo.control_room_seed import seed_control_room

    with Session(get_engine(rt.settings.database_url)) as session:
        measured = seed_control_room(session, shop_id)
        session.commit()
    for m in measured:
        found = m["found"]
        if found is not None:
            i = found.interval
            click.echo(
                f"  {m['agent']}: simulated lift {i.estimate:+.3f} [{i.low:+.3f}, {i.high:+.3f}] "
                f"(true {m['true_uplift']:+.3f})"
            )


def _screenshots(admin_url: str, out: Path, storefront_url: str | None) -> None:
    """The README's screenshots from this very demo: the admin's control room and journey, and (with the
    storefront served) a signed-in shopper's recommendations."""
    from app.demo.screenshots import take

    for path in take(out, admin_url, storefront_url):
        click.echo(f"  screenshot {path}")


def _finish_models(rt, shop_id: int) -> None:  # noqa: ANN001
    """Precompute what the storefront serves (Gorse style: train → precompute → serve from cache)."""
    from app import tasks
    from app.queue import enqueue

    enqueue(rt.redis_url, tasks.REFRESH_SHOP_LISTS, shop_id, queue="low")
    rt.wait_idle()


def _shoppers(rt, shop_id: int) -> list:  # noqa: ANN001
    from sqlmodel import Session

    from app.db import get_engine
    from app.storefront.local_home import known_shoppers

    with Session(get_engine(rt.settings.database_url)) as session:
        return known_shoppers(session, shop_id)


def _storefront(rt, shop: str, shop_id: int):  # noqa: ANN001
    from app.storefront.local import LocalStorefront

    sf = LocalStorefront(rt.flask_app, shop, rt.settings.database_url, rt.settings.shopify_api_secret)
    return sf.__enter__()
