"""Attune's scores on Shopify customer metafields (``metafieldsSet``, namespace ``$app:attune``: intent,
churn_risk, predicted_next_order, segment), from each customer's profile (``app.profiles.metafields``), and
next_replenishment_due (``date``) from the replenishment forecasts (``app.stores.replenishment``), with their
metafield definitions made once per shop first (``ensure_definitions``), so merchants find them named and
described on the customer page and can filter segments on them.

``sync_metafields(shop_id, customer_ids=None)`` writes the given customers, or every customer whose profile
changed since its last write; ``sync_all_metafields`` (cron, hourly) runs it for every installed shop that
granted ``write_customers``. Without the scope nothing is written: named customers are recorded as skipped
(and replayed once the scope is granted). Idempotent: it writes the profile's current values.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlmodel import select

from app import tasks
from app.config import Settings, get_settings
from app.db import session_scope
from app.models.base import utcnow
from app.models.profiles import CustomerProfile
from app.models.shop import Shop
from app.models.writeback import METAFIELDS, WB_DONE, WB_FAILED, WB_SKIPPED, ShopifyWriteback
from app.profiles.metafields import DEFINITIONS, score_fields
from app.shopify.admin import AdminClient, AdminUserError
from app.shopify.scopes import WRITE_CUSTOMERS, has_scope
from app.shopify.writes import (
    MetafieldDefinition,
    MetafieldValue,
    ScopeDenied,
    create_metafield_definition,
    set_customer_metafields,
)
from app.stores import writeback
from app.stores.replenishment import next_due_dates

log = logging.getLogger(__name__)

DEFINITIONS_KIND = "definitions"  # one shopify_writeback row per shop (customer 0): the definitions made
NO_CUSTOMER = 0
BATCH = 5  # customers per metafieldsSet call (5 fields each, at most 25 per call)
MAX_PER_RUN = 5000


def _changed(session, shop_id: int, customer_ids: list[int] | None) -> list[CustomerProfile]:
    query = select(CustomerProfile).where(
        CustomerProfile.shop_id == shop_id,
        CustomerProfile.customer_shopify_id.is_not(None),  # type: ignore[union-attr]
    )
    if customer_ids is not None:
        query = query.where(CustomerProfile.customer_shopify_id.in_(customer_ids))  # type: ignore[union-attr]
    profiles = session.exec(query.order_by(CustomerProfile.id)).all()
    if customer_ids is not None:
        return list(profiles)
    written = dict(
        session.exec(
            select(ShopifyWriteback.customer_shopify_id, ShopifyWriteback.done_at).where(
                ShopifyWriteback.shop_id == shop_id,
                ShopifyWriteback.kind == METAFIELDS,
                ShopifyWriteback.status == WB_DONE,
            )
        ).all()
    )
    return [
        p
        for p in profiles
        if written.get(p.customer_shopify_id) is None or written[p.customer_shopify_id] < p.updated_at
    ][:MAX_PER_RUN]


def ensure_definitions(settings: Settings, client: AdminClient, shop_id: int) -> list[str]:
    """Create the shop's customer metafield definitions for Attune's scores (``metafieldDefinitionCreate``,
    pinned, merchant read-only) once: the keys already made are kept on the shop's ``definitions`` write-back
    row, and one the shop already has (``TAKEN``) counts as made. Returns the keys made by this call; a refusal
    is recorded as failed (tried again next run) and never stops the values from being written."""
    with session_scope(settings.database_url) as session:
        row = writeback.get(session, shop_id, NO_CUSTOMER, DEFINITIONS_KIND)
        done = set(row.detail.split(",")) if row is not None and row.status == WB_DONE else set()
    wanted = [d for d in DEFINITIONS if d.key not in done]
    if not wanted:
        return []
    made, error = [], ""
    for d in wanted:
        try:
            create_metafield_definition(
                client, MetafieldDefinition("CUSTOMER", d.key, d.type, d.name, d.description)
            )
            made.append(d.key)
        except (AdminUserError, ScopeDenied) as exc:
            error = f"{d.key}: Shopify refused the definition: {exc}"
            break
    with session_scope(settings.database_url) as session:
        keys = ",".join(sorted(done | set(made)))
        if error:
            writeback.record(session, shop_id, NO_CUSTOMER, DEFINITIONS_KIND, WB_FAILED, error)
            log.warning("shop %s: metafield definitions: %s", shop_id, error)
        else:
            writeback.record(session, shop_id, NO_CUSTOMER, DEFINITIONS_KIND, WB_DONE, keys)
    return made


def sync_metafields(shop_id: int, customer_ids: list[int] | None = None) -> dict[str, Any]:
    """RQ job: write Attune's scores onto customers' metafields; returns counts (or why nothing was written)."""
    settings = get_settings()
    now = utcnow()
    with session_scope(settings.database_url) as session:
        shop = session.get(Shop, shop_id)
        if shop is None or not shop.is_installed:
            return {"written": 0, "skipped": "the shop is not installed"}
        if not has_scope(shop, WRITE_CUSTOMERS):
            for cid in customer_ids or []:
                writeback.record(session, shop_id, cid, METAFIELDS, WB_SKIPPED, "write_customers not granted")
            return {"written": 0, "skipped": "the shop has not granted write_customers"}
        profiles = _changed(session, shop_id, customer_ids)
        due = next_due_dates(session, shop_id, [int(p.customer_shopify_id) for p in profiles])
        values = {
            int(p.customer_shopify_id): [
                MetafieldValue(f.key, f.type, f.value)
                for f in score_fields(p.intent, p.churn_risk, p.rfm_segment, p.derived, now)
            ]
            + (
                [MetafieldValue("next_replenishment_due", "date", due[int(p.customer_shopify_id)])]
                if int(p.customer_shopify_id) in due
                else []
            )
            for p in profiles
        }
    values = {cid: v for cid, v in values.items() if v}
    client = AdminClient.for_shop(settings, shop_id)
    ensure_definitions(settings, client, shop_id)
    ids = list(values)
    counts = {"written": 0, "failed": 0}
    for i in range(0, len(ids), BATCH):
        chunk = ids[i : i + BATCH]
        try:
            set_customer_metafields(client, {cid: values[cid] for cid in chunk})
            status, detail = WB_DONE, ""
        except ScopeDenied:
            status, detail = WB_SKIPPED, "Shopify denied write_customers (revoked?)"
        except AdminUserError as exc:
            status, detail = WB_FAILED, f"Shopify refused it: {exc}"
        with session_scope(settings.database_url) as session:
            for cid in chunk:
                note = detail or "wrote " + ", ".join(f.key for f in values[cid])
                writeback.record(session, shop_id, cid, METAFIELDS, status, note, now)
        counts["written" if status == WB_DONE else "failed"] += len(chunk)
        if status == WB_SKIPPED:
            return {**counts, "skipped": detail}
    log.info("shop %s: metafields %s", shop_id, counts)
    return counts


def sync_all_metafields() -> int:
    """RQ cron job: queue a metafield sync for every installed shop that granted ``write_customers``."""
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        shops = session.exec(select(Shop).where(Shop.uninstalled_at.is_(None))).all()  # type: ignore[union-attr]
        ids = [s.id for s in shops if s.is_installed and has_scope(s, WRITE_CUSTOMERS)]
    return sum(bool(tasks.sync_metafields(settings.redis_url, shop_id)) for shop_id in ids)
