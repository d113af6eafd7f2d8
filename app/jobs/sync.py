"""Backfill and reconciliation: the three bulk queries → JSONL → the same upserts as webhooks.

Each page of a bulk result (``PAGE`` records: a parent line and its children) is written in one transaction,
retried as a whole when a concurrent webhook inserted one of its rows first; a page of orders goes through
``upsert_orders`` (its stored rows read up front, its new lines inserted in one statement), so the cost of an
order does not grow with the shop.

``initial_sync`` runs after install, ``sync_shop`` on demand (``attune sync SHOP``), and
``reconcile_all_shops`` nightly enqueues an incremental sync (records updated since the last good run,
less a day) for every installed shop. Progress lives in ``SyncRun`` rows for the admin; a callback
lets the CLI draw a progress bar. Re-running is safe: every write is a version-guarded upsert.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, time, timedelta
from itertools import islice
from typing import Any

from sqlmodel import Session

from app import tasks
from app.commerce import bulk
from app.commerce.rows import Rows
from app.commerce.upserts import (
    update_purchasing_summary,
    upsert_customer,
    upsert_inventory_level,
    upsert_orders,
    upsert_product,
)
from app.commerce.values import shopify_id
from app.config import Settings, get_settings
from app.db import get_engine, retry_lost_race
from app.jobs.fan_out import for_each_installed_shop
from app.modelling.inventory import InventoryInputError
from app.models.base import utcnow
from app.models.commerce import Customer, SyncRun
from app.models.shop import Shop
from app.queue import enqueue
from app.shopify import bulk_queries
from app.shopify.admin import AdminClient
from app.stores.inventory import check_level, record_level_day
from app.stores.prices import product_synced
from app.stores.sync_runs import last_good_start

log = logging.getLogger(__name__)

RESOURCES = ("products", "customers", "orders")
PAGE = 200  # records (a parent and its children) per transaction
RECONCILE_OVERLAP = timedelta(days=1)
Progress = Callable[[str, int], None]


def _records(resource: str, lines: Iterable[dict[str, Any]]) -> Iterator[Any]:
    """The resource's records in the upserts' shape: a customer, a product with its children, an order."""
    if resource == "customers":
        yield from (node for node in lines if "__parentId" not in node)
        return
    convert = bulk.product if resource == "products" else bulk.order
    for parent, children in bulk.group_children(lines):
        yield convert(parent, children)


def write_page(session: Session, shop_id: int, resource: str, page: list[Any]) -> None:
    """One page of a resource's records, without committing."""
    if resource == "orders":
        upsert_orders(session, shop_id, page)
    elif resource == "customers":
        rows = Rows(session, shop_id)
        rows.preload(Customer, "shopify_id", (shopify_id(n.get("id")) for n in page))
        for node in page:
            upsert_customer(session, shop_id, bulk.customer(node), rows)
            update_purchasing_summary(session, shop_id, bulk.purchasing_summary(node), rows)
    else:
        for rest in page:
            _product(session, shop_id, rest)


def import_resource(
    engine: Any, shop_id: int, resource: str, lines: Iterable[dict[str, Any]], done: Progress
) -> int:
    """Write a bulk result page by page, one transaction each (retried whole on a lost insert race);
    ``done(resource, n)`` after each commit. Returns how many records it wrote."""
    records, total = _records(resource, lines), 0
    while page := list(islice(records, PAGE)):

        def work(page: list[Any] = page) -> None:
            with Session(engine) as session:
                write_page(session, shop_id, resource, page)
                session.commit()

        retry_lost_race(work)
        total += len(page)
        done(resource, len(page))
    return total


def _product(session: Session, shop_id: int, rest: dict[str, Any]) -> None:
    """The product, then what pricing keeps per variant (its price history, barcode and unit cost), then its
    items' stock per location."""
    upsert_product(session, shop_id, rest)
    session.flush()
    product_synced(session, shop_id, rest.get("variants") or [])
    _levels(session, shop_id, rest.get("inventory_levels") or [])


def _levels(session: Session, shop_id: int, levels: list[dict[str, Any]]) -> None:
    """Each level as ``inventory_levels/update`` applies it: the version-guarded ``inventory_level`` row, then
    its value as the item's stock at that location on the day of the winning version (``inventory_day``). The
    version is the level's ``updatedAt``; a level without one counts as of the start of today (UTC), so a
    re-sync the same day changes nothing and any webhook of the day wins. An ``available`` that is not a whole
    number or beyond ±10,000,000 is skipped with a logged reason, as the webhook refuses it."""
    today = datetime.combine(utcnow().date(), time(), tzinfo=UTC).isoformat()
    for data in levels:
        try:
            check_level(data.get("available"))
        except InventoryInputError as exc:
            log.warning("backfilled inventory level for shop %s skipped: %s", shop_id, exc)
            continue
        if data.get("available") is None:
            continue
        level = upsert_inventory_level(
            session, shop_id, {**data, "updated_at": data.get("updated_at") or today}
        )
        if level is not None:
            record_level_day(session, shop_id, level)


def _query(resource: str, since: datetime | None) -> str:
    return getattr(bulk_queries, f"{resource}_query")(since)


def sync_shop(
    shop_id: int,
    kind: str = "manual",
    updated_since: datetime | None = None,
    *,
    settings: Settings | None = None,
    client: Any = None,
    progress: Progress | None = None,
) -> int:
    """Run the three bulk queries for a shop and upsert everything. Returns the SyncRun id."""
    settings = settings or get_settings()
    engine = get_engine(settings.database_url)
    with Session(engine, expire_on_commit=False) as session:
        if session.get(Shop, shop_id) is None:
            raise ValueError(f"shop {shop_id} does not exist")
        run = SyncRun(shop_id=shop_id, kind=kind, counts={r: 0 for r in RESOURCES})
        session.add(run)
        session.commit()
    client = client or AdminClient.for_shop(settings, shop_id)
    counts = {r: 0 for r in RESOURCES}
    try:

        def done(resource: str, n: int) -> None:
            counts[resource] += n
            _set(engine, run.id, counts=dict(counts))
            if progress:
                progress(resource, n)

        for resource in RESOURCES:
            _set(engine, run.id, resource=resource)
            lines = client.run_bulk_query(_query(resource, updated_since))
            import_resource(engine, shop_id, resource, lines, done)
        _set(engine, run.id, status="done", resource=None, finished_at=utcnow())
        _after_sync(settings, shop_id)
    except Exception as exc:
        _set(
            engine,
            run.id,
            status="failed",
            error=f"{exc.__class__.__name__}: {exc}"[:4000],
            finished_at=utcnow(),
        )
        raise
    return run.id


def _after_sync(settings: Settings, shop_id: int) -> None:
    """The shop's data changed wholesale: refit its models (which rescores every profile), recompute its
    precomputed lists, retrain its next-basket ranker and embed its changed products. All are idempotent
    jobs, deduplicated per shop."""
    tasks.fit_shop_models(settings.redis_url, shop_id)
    tasks.refresh_shop_lists(settings.redis_url, shop_id)
    tasks.train_ranker(settings.redis_url, shop_id)  # it refreshes the lists again with the new ranker
    tasks.sync_knowledge(settings.redis_url, shop_id, full=True)  # the support agent's passages
    # Product vectors for search and cold start; it queues the lists again when any vector changed.
    tasks.embed_products(settings.redis_url, shop_id)


def _set(engine: Any, run_id: int, **fields: Any) -> None:
    with Session(engine) as session:
        run = session.get(SyncRun, run_id)
        if run is None:
            return
        for name, value in fields.items():
            if name == "counts":
                value = {**(run.counts or {}), **value}
            setattr(run, name, value)
        session.add(run)
        session.commit()


def initial_sync(shop_id: int) -> int:
    """After install: everything the shop has."""
    return sync_shop(shop_id, kind="initial")


def reconcile_shop(shop_id: int) -> int:
    """Catch what webhooks missed: records updated since the last good sync (less an overlap)."""
    settings = get_settings()
    with Session(get_engine(settings.database_url)) as session:
        since = last_good_start(session, shop_id)
    return sync_shop(shop_id, kind="reconcile", updated_since=since - RECONCILE_OVERLAP if since else None)


def reconcile_all_shops() -> int:
    """Nightly: enqueue one reconciliation per installed shop (low queue). Returns how many."""
    return for_each_installed_shop(
        lambda redis_url, shop_id: enqueue(
            redis_url, tasks.RECONCILE_SHOP, shop_id, queue="low", meta={"shop_id": shop_id}
        )
    )
