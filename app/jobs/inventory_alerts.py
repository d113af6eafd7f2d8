"""Stock-out alerts to the merchant (issue 19), queued after each shop's nightly forecasts.

An alert is due when a variant's days of cover fall below its vendor's lead time plus review period (the
forecast row's ``alert``). ``app.stores.inventory_live.sync_alerts`` turns the nightly rows into episodes; each
episode is announced once:

- **E-mail**: one message per night listing every episode not e-mailed yet (never one per variant), through the
  shop's own e-mail channel to its own address (``app.jobs.merchant_mail.send_to_merchant``). Skipped, and kept
  for the next night, while e-mail is not set up.
- **Flow**: the trigger ``attune-stockout-predicted`` (``extensions/attune-flow-stockout-predicted``) for each
  episode not fired yet, at most ``FLOW_PER_RUN`` a night. Refused by Shopify: recorded and not retried;
  throttled or a 5xx: left for the next run; an answer lost on the way: recorded as fired (never twice).

Both are merchant switches (``inventory_preference``). Rerunning the job sends nothing twice: what went out is
recorded on the episode.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel import Session

from app.channels.base import AmbiguousError, PermanentError, SendError, TransientError
from app.channels.flow import build_payload
from app.config import Settings, get_settings
from app.crypto import TokenCipher
from app.db import session_scope
from app.jobs.flow_relay import firer
from app.jobs.merchant_mail import send_to_merchant
from app.models.base import utcnow
from app.models.inventory import DemandForecast, InventoryAlert
from app.models.shop import Shop
from app.stores.channels import ChannelNotReady, email_setup
from app.stores.inventory import forecasts
from app.stores.inventory_live import preference, sync_alerts

log = logging.getLogger(__name__)
HANDLE = "attune-stockout-predicted"
FLOW_PER_RUN = 50
MAIL_LINES = 50


def _line(f: DemandForecast | None, e: InventoryAlert) -> str:
    title = f.title if f else f"Variant {e.variant_shopify_id}"
    sku = f" ({f.sku})" if f and f.sku else ""
    when = f", out around {e.stockout_p50.isoformat()}" if e.stockout_p50 else ""
    return f"{title}{sku}: {e.days_of_cover} days of cover{when}; suggested order {e.suggested_order}."


def _mail(
    session: Session, settings: Settings, shop_id: int, pending: list[InventoryAlert], now: datetime
) -> str:
    try:
        sender, smtp_url = email_setup(
            session, TokenCipher(settings.encryption_keys), shop_id, settings.attune_smtp_url
        )
    except ChannelNotReady as exc:
        return f"e-mail skipped: {exc}"
    rows = {r.variant_shopify_id: r for r in forecasts(session, shop_id)}
    lines = [_line(rows.get(e.variant_shopify_id), e) for e in pending[:MAIL_LINES]]
    if len(pending) > MAIL_LINES:
        lines.append(f"… and {len(pending) - MAIL_LINES} more on the Reorder page.")
    shop = session.get(Shop, shop_id)
    n = len(pending)
    data = {
        "subject": f"Stock-out predicted: {n} variant{'s' if n != 1 else ''} will run out before a restock",
        "heading": "Stock-out predicted",
        "paragraphs": [
            "These variants' stock will not last your lead time plus the review period, by their demand forecast:",
            *lines,
        ],
        "cta_url": f"{settings.app_url}/app?shop={shop.domain}" if shop else f"{settings.app_url}/app",
        "cta_label": "Open the Reorder page",
    }
    ids = sorted(e.id or 0 for e in pending)
    try:
        send_to_merchant(sender, smtp_url, shop_id, "message", data, f"stockout-{ids[0]}-{ids[-1]}-{n}")
    except SendError as exc:
        log.warning("stock-out alerts of shop %s not e-mailed: %s", shop_id, exc)
        return f"e-mail failed: {exc}"
    for e in pending:
        e.emailed_at = now
        session.add(e)
    session.commit()
    return f"e-mailed {n}"


def _flow(
    session: Session, settings: Settings, shop_id: int, pending: list[InventoryAlert], now: datetime
) -> str:
    fire = firer(settings, shop_id)
    rows = {r.variant_shopify_id: r for r in forecasts(session, shop_id)}
    fired = 0
    for e in pending[:FLOW_PER_RUN]:
        f = rows.get(e.variant_shopify_id)
        data = {
            "product_id": e.product_shopify_id,
            "product_title": f.title if f else "",
            "sku": (f.sku if f else None) or "",
            "days_of_cover": e.days_of_cover,
            "stockout_date": e.stockout_p50,
            "suggested_order": e.suggested_order,
            "reason": f"{e.days_of_cover} days of cover, below the lead time plus the review period",
        }
        try:
            fire(HANDLE, build_payload(HANDLE, "", data))
            e.flow_at = now
            fired += 1
        except TransientError as exc:
            log.info("stock-out Flow trigger of shop %s deferred: %s", shop_id, exc)
            break
        except AmbiguousError as exc:
            e.flow_at, e.flow_error = now, f"may not have reached Shopify: {exc}"[:500]
        except PermanentError as exc:
            e.flow_error = str(exc)[:500]
        session.add(e)
        session.commit()
    return f"fired {fired}"


def send_alerts(shop_id: int, now: datetime | None = None) -> str:
    """RQ job: open/close the shop's alert episodes and announce the new ones; returns what it did."""
    settings = get_settings()
    now = now or utcnow()
    with session_scope(settings.database_url) as session:
        episodes = sync_alerts(session, shop_id, now.date())
        session.commit()
        pref = preference(session, shop_id)
        done = [f"{len(episodes)} open"]
        to_mail = sorted((e for e in episodes if e.emailed_at is None), key=lambda e: e.days_of_cover)
        if pref.alert_email and to_mail:
            done.append(_mail(session, settings, shop_id, to_mail, now))
        to_fire = sorted(
            (e for e in episodes if e.flow_at is None and e.flow_error is None), key=lambda e: e.days_of_cover
        )
        if pref.alert_flow and to_fire:
            done.append(_flow(session, settings, shop_id, to_fire, now))
    return "; ".join(done)
