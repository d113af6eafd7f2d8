"""Write-backs to Shopify and the shop's optional scopes.

- ``write_back_consent(shop_id, customer_id)``: an unsubscribe recorded by Attune goes to Shopify with
  ``customerEmailMarketingConsentUpdate``. Without ``write_customers`` it is skipped and recorded (never an
  error); throttling is retried by the client, then by RQ. Idempotent: it writes the mirror's current state.
- ``sweep_writebacks`` (cron, 60 s): queues write-backs left pending (an enqueue lost with Redis down).
- ``replay_skipped(shop_id)``: after the merchant granted the scope, redo what was skipped.
- ``refresh_scopes(shop_id)``: read the scopes the installation holds (after a grant in the admin) and store
  them; a newly granted ``write_customers`` replays the skipped write-backs.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlmodel import select

from app import tasks
from app.config import get_settings
from app.db import session_scope
from app.models.base import utcnow
from app.models.messaging import ContactConsent
from app.models.shop import Shop
from app.models.writeback import (
    CONSENT_EMAIL,
    METAFIELDS,
    WB_DONE,
    WB_FAILED,
    WB_PENDING,
    WB_SKIPPED,
    ShopifyWriteback,
)
from app.shopify.admin import AdminAPIError, AdminAuthError, AdminClient, AdminUserError
from app.shopify.scopes import WRITE_CUSTOMERS, has_scope
from app.shopify.tokens import ReauthorizationRequired
from app.shopify.writes import ScopeDenied, access_scopes, update_email_consent
from app.stores import writeback

log = logging.getLogger(__name__)

UNSUBSCRIBED = "UNSUBSCRIBED"
SWEEP_AFTER = timedelta(seconds=30)


def _record(shop_id: int, customer_id: int, kind: str, status: str, detail: str) -> str:
    with session_scope(get_settings().database_url) as session:
        writeback.record(session, shop_id, customer_id, kind, status, detail)
    log.info("shop %s customer %s %s write-back: %s (%s)", shop_id, customer_id, kind, status, detail)
    return status


def write_back_consent(shop_id: int, customer_id: int) -> str:
    """RQ job: push the customer's e-mail opt-out to Shopify; returns the recorded status."""
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        shop = session.get(Shop, shop_id)
        consent = session.exec(
            select(ContactConsent).where(
                ContactConsent.shop_id == shop_id,
                ContactConsent.customer_shopify_id == customer_id,
                ContactConsent.channel == "email",
            )
        ).first()
        state = consent.state if consent else None
        at = consent.consent_updated_at if consent else None
        installed, scoped = bool(shop and shop.is_installed), has_scope(shop, WRITE_CUSTOMERS)
    if not installed:
        return _record(shop_id, customer_id, CONSENT_EMAIL, WB_FAILED, "the shop is not installed")
    if state != UNSUBSCRIBED:
        return _record(
            shop_id,
            customer_id,
            CONSENT_EMAIL,
            WB_DONE,
            f"nothing to write: consent is now {state or 'unknown'}",
        )
    if not scoped:
        return _record(
            shop_id, customer_id, CONSENT_EMAIL, WB_SKIPPED, "the shop has not granted write_customers"
        )
    try:
        result = update_email_consent(AdminClient.for_shop(settings, shop_id), customer_id, UNSUBSCRIBED, at)
    except ScopeDenied:
        return _record(
            shop_id, customer_id, CONSENT_EMAIL, WB_SKIPPED, "Shopify denied write_customers (revoked?)"
        )
    except AdminUserError as exc:
        return _record(shop_id, customer_id, CONSENT_EMAIL, WB_FAILED, f"Shopify refused it: {exc}")
    except (AdminAuthError, ReauthorizationRequired) as exc:
        return _record(shop_id, customer_id, CONSENT_EMAIL, WB_FAILED, f"no usable token: {exc}")
    except AdminAPIError as exc:  # throttled or unreachable after the client's retries: RQ retries the job
        _record(shop_id, customer_id, CONSENT_EMAIL, WB_PENDING, f"will retry: {exc}")
        raise
    return _record(
        shop_id, customer_id, CONSENT_EMAIL, WB_DONE, f"Shopify now says {result.get('marketingState')}"
    )


def sweep_writebacks(now: datetime | None = None) -> int:
    """RQ cron job: queue the consent write-backs still pending after ``SWEEP_AFTER``; returns how many."""
    settings = get_settings()
    now = now or utcnow()
    with session_scope(settings.database_url) as session:
        rows = session.exec(
            select(ShopifyWriteback.shop_id, ShopifyWriteback.customer_shopify_id)
            .where(
                ShopifyWriteback.status == WB_PENDING,
                ShopifyWriteback.kind == CONSENT_EMAIL,
                ShopifyWriteback.updated_at < now - SWEEP_AFTER,
            )
            .limit(1000)
        ).all()
    return sum(bool(tasks.write_back_consent(settings.redis_url, s, c)) for s, c in rows)


def replay_skipped(shop_id: int) -> dict[str, int]:
    """RQ job: the shop granted the scope: queue every write-back that was skipped for want of it."""
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        shop = session.get(Shop, shop_id)
        if not has_scope(shop, WRITE_CUSTOMERS):
            return {"consent": 0, "metafields": 0}
        rows = writeback.skipped(session, shop_id)
    consent = [c for c, kind in rows if kind == CONSENT_EMAIL]
    metafields = [c for c, kind in rows if kind == METAFIELDS]
    for customer_id in consent:
        tasks.write_back_consent(settings.redis_url, shop_id, customer_id)
    tasks.sync_metafields(settings.redis_url, shop_id)  # every customer not yet written, skipped ones too
    return {"consent": len(consent), "metafields": len(metafields)}


def refresh_scopes(shop_id: int) -> list[str]:
    """RQ job: store the scopes Shopify says the installation holds; replay skipped write-backs when
    ``write_customers`` is newly granted."""
    settings = get_settings()
    scopes = access_scopes(AdminClient.for_shop(settings, shop_id))
    with session_scope(settings.database_url) as session:
        shop = session.get(Shop, shop_id)
        if shop is None:
            return scopes
        before = has_scope(shop, WRITE_CUSTOMERS)
        shop.scopes = ",".join(scopes)
        shop.touch()
        session.add(shop)
        if not before and has_scope(shop, WRITE_CUSTOMERS):
            tasks.replay_writebacks_after_commit(session, shop_id)
    return scopes
