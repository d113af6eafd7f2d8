"""Competitor feeds by URL, title matching and undercut alerts (issue 20).

- ``refresh_competitor_feed``: fetch the competitor's Merchant Center feed (CSV, TSV, or XML: RSS 2.0 or Atom
  with the ``g:`` namespace) from its URL (``app.jobs.feed_fetch``: timeouts, a size cap, the content type,
  redirects re-checked, and in production never an address inside the network, the connection pinned to the
  address checked). Bad lines or items are reported one by one in the feed's report and the valid ones kept,
  as an upload's are. Nightly for every feed (``refresh_all_competitor_feeds``).
- ``match_competitors``: items no GTIN or SKU matched get the closest variant by title embedding (the
  catalogue embedder, ``app.embedding.get_embedder``: all-MiniLM-L6-v2 from the bundled package in
  production, never the hub), as a *suggestion* the merchant confirms or rejects in the admin.
- then undercut alerts: a matched competitor more than its threshold below the shop's price is recorded once
  (same item, variant and prices) and e-mailed to the merchant (``send_to_merchant``) where e-mail is set up,
  at most once however often the job is retried (``send_alerts``); either way the admin lists it.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from app import tasks
from app.agents.competitors import FeedError, parse_feed, title_matches, undercuts
from app.channels.base import SendError
from app.config import get_settings
from app.crypto import TokenCipher
from app.db import session_scope
from app.embedding import get_embedder
from app.jobs.fan_out import for_each_installed_shop
from app.jobs.feed_fetch import FetchError, fetch_feed
from app.jobs.merchant_mail import send_to_merchant
from app.models.base import utcnow
from app.stores.channels import ChannelNotReady, email_setup
from app.stores.competitor_feeds import (
    claim_unmailed,
    feed,
    record_alerts,
    record_refresh,
    thresholds,
    unclaim,
    unmailed,
    url_feeds,
)
from app.stores.competitors import offers, our_variants, store_feed, suggest_title_match, unmatched_titles

log = logging.getLogger(__name__)

MAX_TITLES = 20_000


def refresh_competitor_feed(shop_id: int, competitor: str) -> dict[str, Any]:
    """RQ job: fetch, store, match and alert; the outcome is kept in the feed's report."""
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        row = feed(session, shop_id, competitor)
        url = row.url if row is not None else None
    if not url:
        return {"status": "skipped", "reason": "no feed URL"}
    now = utcnow()
    try:
        rows, rejected = parse_feed(fetch_feed(url, allow_private=settings.attune_env != "production"))
        if not rows:
            raise FeedError("no line could be stored")
    except (FetchError, FeedError) as exc:
        with session_scope(settings.database_url) as session:
            record_refresh(session, shop_id, competitor, now, "failed", {}, str(exc))
        log.info("competitor feed %s of shop %s: %s", competitor, shop_id, exc)
        return {"status": "failed", "error": str(exc)}
    with session_scope(settings.database_url) as session:
        counts = store_feed(session, shop_id, competitor, rows)
        status = "partial" if rejected else "ok"
        record_refresh(session, shop_id, competitor, now, status, {**counts, "rejected": rejected[:500],
                                                                   "rejected_count": len(rejected)})  # fmt: skip
    return {"status": status, **counts, "rejected": len(rejected), **match_competitors(shop_id)}


def refresh_all_competitor_feeds() -> int:
    """Nightly: every installed shop's feed URLs."""

    def queue_shop(redis_url: str | None, shop_id: int) -> int:
        with session_scope(get_settings().database_url) as session:
            names = url_feeds(session, shop_id)
        return sum(1 for name in names if tasks.refresh_competitor_feed(redis_url, shop_id, name))

    return for_each_installed_shop(queue_shop)


def match_competitors(shop_id: int) -> dict[str, int]:
    """RQ job: suggest title matches for the unmatched items, then record and send undercut alerts."""
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        rows = unmatched_titles(session, shop_id)[:MAX_TITLES]
        ours = [v for v in our_variants(session, shop_id) if v.title]
        suggested = 0
        if rows and ours:
            embedder = get_embedder()
            theirs_vecs = embedder.embed([r.title or "" for r in rows])
            ours_vecs = embedder.embed([v.title for v in ours])
            for i, j, score in title_matches(np.asarray(theirs_vecs), np.asarray(ours_vecs)):
                suggest_title_match(rows[i], ours[j].variant_id, round(score, 4))
                session.add(rows[i])
                suggested += 1
        found = undercuts(
            our_variants(session, shop_id), offers(session, shop_id), thresholds(session, shop_id)
        )
        new = record_alerts(session, shop_id, found, utcnow())
    return {"suggested": suggested, "alerts": len(new), "mailed": send_alerts(shop_id)}


def send_alerts(shop_id: int) -> int:
    """E-mail the undercuts not yet mailed, in one message; 0 where e-mail is not set up (the admin shows them).

    At most once, even when the job is retried: the alerts are claimed (marked mailed) and the claim committed
    *before* the message goes out, with a Message-ID fixed by the first alert. A crash after the send finds
    nothing to mail on the retry; a ``SendError`` (it did not go out) gives the claim back for the next run. A
    crash between the claim's commit and the send loses that e-mail, never doubles it: the admin lists the
    alerts either way."""
    settings = get_settings()
    now = utcnow()
    with session_scope(settings.database_url) as session:
        if not unmailed(session, shop_id):
            return 0
        try:
            sender, smtp_url = email_setup(
                session, TokenCipher(settings.encryption_keys), shop_id, settings.attune_smtp_url
            )
        except ChannelNotReady as exc:
            log.info("undercut alerts of shop %s not e-mailed: %s", shop_id, exc)
            return 0
        pending = claim_unmailed(session, shop_id, now)  # committed when this block ends
        if not pending:
            return 0  # (another run claimed them)
        ids = [a.id for a in pending if a.id is not None]
        titles = {v.variant_id: v.title for v in our_variants(session, shop_id)}
        lines = [
            f"{titles.get(a.variant_id, a.variant_id)}: {a.competitor} sells at {a.their_price}, "
            f"{a.gap:.0%} below your {a.our_price}."
            for a in pending
        ]
    data = {
        "subject": f"{len(lines)} competitor price(s) undercut yours",
        "heading": "Competitors undercut your prices",
        "paragraphs": lines[:50]
        + ([f"… and {len(lines) - 50} more in the admin."] if len(lines) > 50 else []),
        "cta_url": f"{settings.app_url}/app#market",
        "cta_label": "Compare with the market",
    }
    try:
        send_to_merchant(sender, smtp_url, shop_id, "message", data, f"undercut-{min(ids)}")
    except SendError as exc:
        log.warning("undercut alerts of shop %s not e-mailed: %s", shop_id, exc)
        with session_scope(settings.database_url) as session:
            unclaim(session, shop_id, ids)
        return 0
    return len(ids)
