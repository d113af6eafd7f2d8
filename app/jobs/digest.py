"""The weekly digest: the control room's success table e-mailed to the merchant, in the shop's language.

``send_all_digests`` (cron, Mondays 07:00 UTC) queues ``send_weekly_digest(shop_id)`` for every installed shop.
The digest goes through the shop's own e-mail channel (the SMTP adapter, as the Channels page's test message
does) to the shop's own address (its reply-to address, else its sender address): a transactional message to the
merchant, no shopper's, so it has no outbox row and counts toward no budget. A shop without e-mail set up is
skipped and says why. Sent at most once per shop and ISO week (a Redis key), so a retried job sends nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlmodel import Session

from app import tasks
from app.channels.admin_words import UI, Words, negotiate
from app.channels.base import SendError
from app.config import get_settings
from app.crypto import TokenCipher
from app.db import session_scope
from app.jobs.fan_out import for_each_installed_shop
from app.jobs.merchant_mail import send_to_merchant
from app.measurement.control_room import success_table
from app.models.base import utcnow
from app.models.shop import Shop
from app.queue import get_redis
from app.stores import control_room as store
from app.stores.catalog import shop_currency
from app.stores.channels import ChannelNotReady, email_setup

log = logging.getLogger(__name__)

DAYS = 30  # the control room's default period
SENT_TTL_S = 8 * 24 * 3600


def digest_data(session: Session, shop_id: int, now: datetime) -> tuple[dict, str]:
    """The digest's words and table for one shop, and its locale."""
    shop = session.get(Shop, shop_id)
    w = Words(negotiate(shop.primary_locale if shop else None))
    share, salt = store.global_share(session, shop_id)
    facts = store.customer_facts(session, shop_id, now - timedelta(days=DAYS), now, share, salt)
    currency = shop_currency(session, shop_id)
    table = w.write_table(success_table(facts, 1 - share, now=now), currency)
    ui = w.ui()
    rows = [
        {
            **r["text"],
            "traditional": r["references"]["traditional"],
            "with_agents": r["references"]["with_agents"],
        }
        for r in table["rows"]
    ]
    rev = table["revenue"]["text"]
    # the table is the shop's own even in the demo (only the agents' lifts are simulated, and they are not here)
    notes = [ui["references_note"], *table["warnings"]]
    name = shop.domain if shop else ""
    data = {
        "subject": w(UI["digest_subject"]) % {"shop": name},
        "heading": ui["digest_heading"],
        "paragraphs": [w(UI["digest_intro"]) % {"days": w.number(DAYS)}],
        "caption": ui["title"],
        "columns": [ui["metric"], ui["treated"], ui["holdout"], ui["difference"], ui["references"]],
        "rows": rows,
        "revenue_label": ui["revenue"],
        "revenue": rev["total"] + (f" ({rev['interval']})" if rev["interval"] else ""),
        "notes": notes,
        "cta_label": ui["open"],
        "locale": w.lang,
    }
    return data, w.lang


def send_weekly_digest(shop_id: int, now: datetime | None = None) -> str:
    """RQ job: e-mail the shop's digest; ``sent``, ``already sent`` or ``skipped: <why>``."""
    settings = get_settings()
    now = now or utcnow()
    year, week, _ = now.isocalendar()
    key = f"attune:digest:{shop_id}:{year}-{week:02d}"
    redis = get_redis(settings.redis_url)
    if not redis.set(key, "1", nx=True, ex=SENT_TTL_S):
        return "already sent"
    with session_scope(settings.database_url) as session:
        try:
            sender, smtp_url = email_setup(
                session, TokenCipher(settings.encryption_keys), shop_id, settings.attune_smtp_url
            )
        except ChannelNotReady as exc:
            redis.delete(key)
            return f"skipped: {exc}"
        data, _lang = digest_data(session, shop_id, now)
        shop = session.get(Shop, shop_id)
        data["cta_url"] = f"{settings.app_url}/app?shop={shop.domain}" if shop else None
    try:
        send_to_merchant(sender, smtp_url, shop_id, "digest", data, f"digest-{year}-{week:02d}")
    except SendError as exc:
        redis.delete(key)  # not sent: next week's run, or a retry, tries again
        log.warning("weekly digest of shop %s not sent: %s", shop_id, exc)
        return f"skipped: {exc}"
    return "sent"


def send_all_digests() -> int:
    """Weekly: queue the digest of every installed shop. Returns how many were queued."""
    return for_each_installed_shop(tasks.send_weekly_digest)
