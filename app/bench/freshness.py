"""``attune bench freshness``: how soon an order shows in its customer's profile and served personal list.

The production layout (``app.bench.stack``: gunicorn with ``app.gunicorn_conf``, the Procfile's one RQ
worker unless ``--rq-workers`` says otherwise, cron, Redis, SQLite) serves a shop built from the shipped
Online Retail II sample and installed through OAuth and the bulk backfill, as ``attune demo`` does. Then, for
each rate step, a steady open-loop mix of ``orders/create``, ``carts/update`` and pixel batches
(``app.bench.freshness_load``) runs for ``--duration`` seconds, and every acknowledged order is followed until
its customer's profile and served ``home`` list reflect it. Reports p50/p95/p99 of that delay per step, the
rate achieved, what was lost, the queue backlog and CPU per process (what bounds it), and the highest rate
that holds the target. Writes ``benchmarks/freshness.md``.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import click
from sqlalchemy import func
from sqlmodel import Session, select
from tqdm import tqdm

from app.bench.freshness_load import Order, Shopper, Tracker, build_schedule, send_all
from app.bench.freshness_report import TARGET_P95_S, Step, render
from app.bench.report import write_report
from app.bench.stack import ProcessStack
from app.db import get_engine
from app.demo.replay import install, seed_store, wait_backfill
from app.demo.sample import SHIPPED_SAMPLE, build_plan, load_transactions
from app.models.events import PixelEvent
from app.models.inbox import DONE, WebhookInbox
from app.models.serving import RecommendationList
from app.models.shop import Shop
from app.queue import QUEUES, get_queue
from app.storefront.cache import ServingStore
from app.storefront.holdout import AGENT, GLOBAL, in_global_holdout, in_holdout

SHOP = "attune-freshness.myshopify.com"


class Backlog:
    """The largest number of jobs waiting per queue, sampled every second on a thread."""

    def __init__(self, redis_url: str) -> None:
        self.queues = [get_queue(redis_url, name) for name in QUEUES]
        self.peak = dict.fromkeys(QUEUES, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="backlog", daemon=True)

    def __enter__(self) -> Backlog:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            for q in self.queues:
                self.peak[q.name] = max(self.peak[q.name], q.count)


def _shoppers(rt: ProcessStack, shop_id: int, plan) -> list[Shopper]:  # noqa: ANN001 - a DemoPlan
    """Customers with a personal ``home`` list who are not in the holdout group (held-out shoppers are
    served the control list by design, so no personal list of theirs is served to reflect anything)."""
    store = ServingStore(rt.settings.database_url, None)
    share, salt = store.holdout_policy(shop_id, AGENT)
    everyone, everyone_salt = store.holdout_policy(shop_id, GLOBAL)
    with Session(get_engine(rt.settings.database_url)) as s:
        listed = set(
            s.exec(
                select(RecommendationList.subject).where(
                    RecommendationList.shop_id == shop_id,
                    RecommendationList.scope == "customer",
                    RecommendationList.placement == "home",
                )
            ).all()
        )
    variants: dict[int, list[int]] = {}
    for order in plan.history_orders:
        variants.setdefault(order["customer_id"], []).extend(ln["variant_id"] for ln in order["lines"])
    return [
        Shopper(cid, sorted(set(vs)))
        for cid, vs in sorted(variants.items())
        if str(cid) in listed
        and not in_holdout(shop_id, AGENT, "customer", str(cid), share, salt)
        and not in_global_holdout(
            shop_id, "customer", str(cid), everyone, everyone_salt
        )  # gets the control list
    ]


def _rows(rt: ProcessStack, shop_id: int, prefix: str) -> tuple[int, int]:
    """(inbox rows stored with event ids starting with ``prefix``, those not done)."""
    like = WebhookInbox.event_id.startswith(prefix + "-")  # type: ignore[attr-defined]
    with Session(get_engine(rt.settings.database_url)) as s:
        stored = s.exec(select(func.count()).select_from(WebhookInbox).where(like)).one()
        undone = s.exec(
            select(func.count()).select_from(WebhookInbox).where(like, WebhookInbox.status != DONE)
        ).one()
    return stored, undone


def _pixel_rows(rt: ProcessStack, shop_id: int) -> tuple[int, int]:
    """(the bench's pixel events stored, those not folded yet)."""
    mine = (PixelEvent.shop_id == shop_id, PixelEvent.client_id.startswith("fresh-"))  # type: ignore[attr-defined]
    with Session(get_engine(rt.settings.database_url)) as s:
        stored = s.exec(select(func.count()).select_from(PixelEvent).where(*mine)).one()
        left = s.exec(
            select(func.count()).select_from(PixelEvent).where(*mine, PixelEvent.processed_at.is_(None))  # type: ignore[union-attr]
        ).one()
    return stored, left


def run_step(
    rt: ProcessStack,
    shop_id: int,
    pixel_key: str,
    shoppers: list[Shopper],
    index: int,
    rate: float,
    *,
    duration: float,
    order_share: float,
    drain: float,
    poll: float,
    settle: float,
) -> Step:
    prefix = f"fresh{index}"
    items = build_schedule(
        rt,
        SHOP,
        pixel_key,
        shoppers,
        rate=rate,
        duration=duration,
        order_share=order_share,
        seed=index,
        prefix=prefix,
    )
    step = Step(rate)
    pixel_before, _ = _pixel_rows(rt, shop_id)
    tracker = Tracker(rt, SHOP, shop_id, poll_s=poll).start()
    cpu0, t0 = rt.cpu_seconds(), time.monotonic()
    with (
        Backlog(rt.redis_url) as backlog,
        tqdm(total=len(items), desc=f"{rate:g} webhooks/s", unit="req") as bar,
    ):
        outcome = send_all(rt, SHOP, items, tracker.add, tick=bar.update)
        tracker.drain(drain)
    step.wall = time.monotonic() - t0
    step.cpu = {k: v - cpu0.get(k, 0.0) for k, v in rt.cpu_seconds().items()}
    step.backlog = dict(backlog.peak)
    rt.wait_idle(timeout=settle)
    tracker.poll()  # orders reflected only after the drain window: late (their delay still counts)
    hooks = [s for kind, codes in outcome.statuses.items() if kind != "pixel" for s in codes]
    pixels = outcome.statuses.get("pixel", [])
    step.sent = len(hooks)
    step.achieved = sum(1 for s in hooks if s == 200) / max(outcome.last - outcome.first, 1e-9)
    step.non_2xx = sum(1 for s in hooks + pixels if not 200 <= s < 300)
    stored, step.rows_undone = _rows(rt, shop_id, prefix)
    step.rows_lost = sum(1 for s in hooks if s == 200) - stored
    pixel_after, pixel_left = _pixel_rows(rt, shop_id)
    step.pixel_lost = outcome.pixel_events - (pixel_after - pixel_before) + pixel_left
    _fill(step, tracker.orders, drain_end=t0 + step.wall)
    step.proxy_requests = tracker.proxy_requests
    return step


def _fill(step: Step, orders: list[Order], drain_end: float) -> None:
    step.orders = len(orders)
    for o in orders:
        if o.reflected_at is None:
            step.not_reflected += 1
            what = _missing(o)
            step.missing[what] = step.missing.get(what, 0) + 1
            click.echo(f"never reflected: order {o.order_id} of customer {o.customer_id}: {what}", err=True)
            continue
        step.late += o.reflected_at > drain_end
        step.latencies.append(o.reflected_at - o.acked)
        step.profile.append((o.profile_at or 0.0) - o.acked)
        step.served.append((o.list_at or 0.0) - o.acked)


def _missing(order: Order) -> str:
    """What an unreflected order still lacked: its webhook applied, the profile, the served list."""
    if order.processed_at is None:
        return "webhook not applied"
    parts = [
        name for name, at in (("profile", order.profile_at), ("served list", order.list_at)) if at is None
    ]
    return " and ".join(parts)


@click.command("freshness")
@click.option("--rates", default="5,10,25,50,100", show_default=True, help="Webhooks/s of each step.")
@click.option("--duration", default=120.0, show_default=True, help="Seconds of load per step.")
@click.option("--order-share", default=0.5, show_default=True, help="Share of the webhooks that are orders.")
@click.option(
    "--customers", default=250, show_default=True, help="Customers of the shipped sample in the shop."
)
@click.option(
    "--rq-workers",
    type=int,
    default=None,
    help="RQ worker processes on every queue (default: the Procfile's workers: a fast lane and a low lane).",
)
@click.option("--drain", default=60.0, show_default=True, help="Seconds a step waits for its last orders.")
@click.option("--settle", default=300.0, show_default=True,
              help="Seconds a step may then wait for idle queues; what is still unreflected counts as lost.")  # fmt: skip
@click.option("--all-rates", is_flag=True, help="Run every rate, not stopping after the first that breaks.")
@click.option("--poll", default=0.2, show_default=True, help="Seconds between looks at pending orders.")
@click.option("--target-p95", default=TARGET_P95_S, show_default=True, help="Seconds.")
@click.option("--workdir", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="Keep the database and the processes' logs here (default: a temporary folder).")  # fmt: skip
@click.option("--out", default="benchmarks/freshness.md", show_default=True, type=click.Path(dir_okay=False))
def freshness(
    rates: str,
    duration: float,
    order_share: float,
    customers: int,
    rq_workers: int | None,
    drain: float,
    settle: float,
    all_rates: bool,
    poll: float,
    target_p95: float,
    workdir: Path | None,
    out: str,
) -> None:
    """Order 200 -> profile and served personal list reflect it: p50/p95/p99 per rate, lost, limits."""
    steps_rates = [float(r) for r in rates.split(",") if r.strip()]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="attune-fresh-") as tmp:
        rt = ProcessStack(workdir=workdir or Path(tmp), rq_workers=rq_workers)
        try:
            rt.start()
            plan = build_plan(load_transactions(SHIPPED_SAMPLE), customers=customers)
            seed_store(rt, SHOP, plan)
            shop_id = install(rt, SHOP)
            total = len(plan.products) + len(plan.customers) + len(plan.history_orders)
            with tqdm(total=total, desc="Set-up: install backfill", unit="obj") as bar:
                wait_backfill(rt, shop_id, total, bar.update)
            rt.wait_idle(timeout=900)
            with Session(get_engine(rt.settings.database_url)) as s:
                pixel_key = s.exec(select(Shop.pixel_key).where(Shop.id == shop_id)).one()
            shoppers = _shoppers(rt, shop_id, plan)
            if not shoppers:
                raise click.ClickException("no customer has a personal list after the backfill")
            steps: list[Step] = []
            for i, rate in enumerate(steps_rates):
                step = run_step(
                    rt,
                    shop_id,
                    pixel_key,
                    shoppers,
                    i,
                    rate,
                    duration=duration,
                    order_share=order_share,
                    drain=drain,
                    poll=poll,
                    settle=settle,
                )
                steps.append(step)
                if not all_rates and not step.holds(target_p95):
                    break  # where it breaks is found: higher rates would only take longer to drain
            failed_jobs = rt.failed()
        finally:
            rt.stop()
    setup = {
        "customers": len(shoppers),
        "rq_workers": rq_workers,
        "duration": duration,
        "order_share": order_share,
        "poll": poll,
        "drain": drain,
        "failed_jobs": failed_jobs,
        "wall": time.monotonic() - started,
        "when": datetime.now(UTC),
        "load": os.getloadavg()[0],
    }
    report = render(steps, setup, target_p95, rates)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    write_report(out, report)
    click.echo(report)
    lost = sum(s.not_reflected + s.non_2xx + s.rows_lost + s.rows_undone + s.pixel_lost for s in steps)
    if lost or failed_jobs:
        raise click.ClickException(f"{lost} lost or never reflected, {failed_jobs} failed jobs")
