"""``attune bench backfill``: a big shop from install to every customer's personal lists served.

The full Online Retail II (both files from ``../shared/data/online_retail_ii``, deduplicated on their overlap,
known customers and product lines: ``app.backtest.datasets.convert_online_retail``) becomes a fake Shopify
store with ``app.demo.sample.build_plan``, as ``attune demo`` builds its sandbox. The production processes
(``app.bench.stack``) then run it through the real app, each phase with a progress bar:

1. install through OAuth (``app.demo.replay.install``), which queues the initial sync;
2. the bulk backfill: three GraphQL bulk operations → JSONL → upserts (``app.jobs.sync``), followed through
   its ``SyncRun`` (``app.demo.replay.wait_backfill``);
3. every model trained: the shop's profile models fitted, every product embedded, the next-basket ranker
   trained (all queued by the sync);
4. every customer's personal lists written by that ranker, until the queues are idle;
5. every customer's ``home`` list requested through the signed app proxy: the customer's own list must be
   served (a holdout shopper gets the control list by design, counted apart).

Reports each phase's time, the peak RSS (sum over the processes, and per process) and the wall time from
install to the last list served. ``--customers N`` runs on a stable sample of N customers, ``--sample`` on the
shipped sample (for tests). Writes ``benchmarks/backfill.md``.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import click
import pandas as pd
from sqlalchemy import func
from sqlmodel import Session, select
from tqdm import tqdm

from app.backtest.datasets import SHARED_DATA, convert_online_retail
from app.bench.report import write_report
from app.bench.stack import PeakRSS, ProcessStack
from app.db import get_engine
from app.demo.replay import install, seed_store, wait_backfill
from app.demo.sample import SHIPPED_SAMPLE, build_plan, load_transactions
from app.demo.summary import proxy_get
from app.models.catalog import ProductEmbedding
from app.models.serving import RecommendationList
from app.models.shop_models import RankerModel, ShopModelParams

SHOP = "attune-backfill.myshopify.com"
TARGET_S = 600.0


def _transactions(sample: bool) -> tuple[pd.DataFrame, str]:
    if sample:
        return load_transactions(SHIPPED_SAMPLE), "the shipped Online Retail II sample"
    df = convert_online_retail(SHARED_DATA / "online_retail_ii")
    df["ordered_at"] = pd.to_datetime(df["ordered_at"]).dt.tz_localize("UTC")
    return df, "Online Retail II, both files (../shared/data/online_retail_ii)"


def _count(rt: ProcessStack, query) -> int:  # noqa: ANN001 - a select of one count
    with Session(get_engine(rt.settings.database_url)) as s:
        return int(s.exec(query).one() or 0)


def _models(rt: ProcessStack, shop_id: int, products: int, since: datetime, bar: tqdm) -> RankerModel:
    """Until the profile models are fitted, every product embedded and the ranker trained after ``since``."""
    while True:
        fitted = _count(
            rt, select(func.count()).select_from(ShopModelParams).where(ShopModelParams.shop_id == shop_id)
        )
        embedded = _count(
            rt, select(func.count()).select_from(ProductEmbedding).where(ProductEmbedding.shop_id == shop_id)
        )
        with Session(get_engine(rt.settings.database_url)) as s:
            ranker = s.exec(select(RankerModel).where(RankerModel.shop_id == shop_id)).first()
        trained = ranker is not None and ranker.trained_at >= since and ranker.orders > 0
        done = min(fitted, 1) + min(embedded, products) + int(trained)
        bar.update(done - bar.n)
        if done >= products + 2:
            return ranker
        if rt.failed():
            raise click.ClickException(
                "a job failed while the models were being trained (see the worker log)"
            )
        time.sleep(0.5)


def _lists(rt: ProcessStack, shop_id: int, version: int, bar: tqdm) -> int:
    """Until the queues are idle, following the customers' home lists written by ranker ``version``."""
    query = (
        select(func.count())
        .select_from(RecommendationList)
        .where(
            RecommendationList.shop_id == shop_id,
            RecommendationList.scope == "customer",
            RecommendationList.placement == "home",
            RecommendationList.model_version >= version,
        )
    )
    quiet = 0
    while quiet < 3:
        n = _count(rt, query)
        bar.update(max(0, n - bar.n))
        quiet = quiet + 1 if rt.queued() == 0 else 0
        time.sleep(0.3)
    return _count(rt, query)


def _served(rt: ProcessStack, shop_id: int, customers: list[int], bar: tqdm) -> dict[str, int]:
    """Every customer's home list through the app proxy: own list, control list (holdout) or neither."""
    with Session(get_engine(rt.settings.database_url)) as s:
        own = dict(
            s.exec(
                select(RecommendationList.subject, RecommendationList.id).where(
                    RecommendationList.shop_id == shop_id,
                    RecommendationList.scope == "customer",
                    RecommendationList.placement == "home",
                )
            ).all()
        )

    def one(cid: int) -> str:
        answer = proxy_get(rt, SHOP, "recommendations", cid, placement="home")
        bar.update(1)
        mine = own.get(str(cid))
        if answer.get("holdout"):
            return "holdout (control list)"
        if mine is None:
            return "no personal list"
        return "own list" if answer.get("list_id") == mine else "not served"

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(one, customers))
    kinds = ("own list", "holdout (control list)", "no personal list", "not served")
    return {k: outcomes.count(k) for k in kinds}


@click.command("backfill")
@click.option("--sample", is_flag=True, help="The shipped sample instead of the full data set (tests).")
@click.option("--customers", type=int, default=None, help="Only a stable sample of N customers.")
@click.option(
    "--rq-workers",
    type=int,
    default=None,
    help="RQ worker processes on every queue (default: the Procfile's workers: a fast lane and a low lane).",
)
@click.option("--workdir", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="Keep the database and the processes' logs here (default: a temporary folder).")  # fmt: skip
@click.option("--out", default="benchmarks/backfill.md", show_default=True, type=click.Path(dir_okay=False))
def backfill(
    sample: bool, customers: int | None, rq_workers: int | None, workdir: Path | None, out: str
) -> None:
    """Install → bulk backfill → models trained → every customer's lists served: phase times, peak RSS."""
    from app.bench.backfill_report import render

    phases: dict[str, float] = {}
    t = time.perf_counter()
    df, source = _transactions(sample)
    plan = build_plan(df, customers=customers, live_share=1e-9, source=source)
    plan = dataclasses.replace(plan, history_orders=plan.history_orders + plan.live_orders, live_orders=[])
    lines = int(len(df))
    del df
    phases["prepare: read the data set and build the shop"] = time.perf_counter() - t
    with tempfile.TemporaryDirectory(prefix="attune-backfill-") as tmp:
        rt = ProcessStack(workdir=workdir or Path(tmp), rq_workers=rq_workers)
        try:
            rt.start()
            with PeakRSS(rt) as rss:
                t = time.perf_counter()
                seed_store(rt, SHOP, plan)
                phases["seed the fake Shopify"] = time.perf_counter() - t
                since, t0 = datetime.now(UTC), time.perf_counter()
                shop_id = install(rt, SHOP)
                phases["1. install (OAuth)"] = time.perf_counter() - t0
                total = len(plan.products) + len(plan.customers) + len(plan.history_orders)
                t = time.perf_counter()
                with tqdm(total=total, desc="2. bulk backfill", unit="obj") as bar:
                    counts = wait_backfill(rt, shop_id, total, bar.update, timeout=3600)
                phases["2. bulk backfill"] = time.perf_counter() - t
                t = time.perf_counter()
                with tqdm(total=len(plan.products) + 2, desc="3. models trained", unit="step") as bar:
                    ranker = _models(rt, shop_id, len(plan.products), since, bar)
                phases["3. models trained"] = time.perf_counter() - t
                t = time.perf_counter()
                with tqdm(total=len(plan.customers), desc="4. personal lists", unit="customer") as bar:
                    listed = _lists(rt, shop_id, ranker.version, bar)
                phases["4. personal lists written"] = time.perf_counter() - t
                t = time.perf_counter()
                ids = [c["id"] for c in plan.customers]
                with tqdm(total=len(ids), desc="5. lists served", unit="customer") as bar:
                    served = _served(rt, shop_id, ids, bar)
                phases["5. every customer's list served"] = time.perf_counter() - t
                total_s = time.perf_counter() - t0
            failed = rt.failed()
        finally:
            rt.stop()
    figures = {
        "source": source,
        "lines": lines,
        "counts": counts,
        "customers": len(plan.customers),
        "listed": listed,
        "served": served,
        "ranker": f"{ranker.kind} v{ranker.version}: {ranker.orders} orders, {ranker.customers} customers, "
        f"{ranker.items} items",
        "total_s": total_s,
        "peak": rss.peak,
        "parts": rss.parts,
        "failed": failed,
        "rq_workers": rq_workers,
        "command": "attune bench backfill"
        + (" --sample" if sample else "")
        + (f" --customers {customers}" if customers else "")
        + (f" --rq-workers {rq_workers}" if rq_workers else ""),
        "when": datetime.now(UTC),
        "load": os.getloadavg()[0],
    }
    report = render(phases, figures, TARGET_S)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    write_report(out, report)
    click.echo(report)
    if failed or served["not served"] or served["no personal list"]:
        raise click.ClickException(f"not served: {served}; {failed} failed jobs")
