"""Competitor feeds by URL, title matching and undercut alerts (issue 20).

- ``refresh_competitor_feed``: fetch the competitor's Merchant Center feed (CSV or TSV) from its URL, with
  ``requests``: connect and read timeouts, at most ``MAX_FEED`` bytes (a larger one is refused, not cut), only a
  text content type (an HTML page or an XML feed is refused with the reason), at most ``MAX_REDIRECTS``
  redirects, each target checked like the first: in production, never an address inside the network
  (loopback, private, link-local). Bad lines are reported line by line in the feed's report and the valid ones
  kept, as an upload's are. Nightly for every feed (``refresh_all_competitor_feeds``).
- ``match_competitors``: items no GTIN or SKU matched get the closest variant by title embedding (the
  catalogue embedder, ``app.embedding.get_embedder``: all-MiniLM-L6-v2 from the bundled package in
  production, never the hub), as a *suggestion* the merchant confirms or rejects in the admin.
- then undercut alerts: a matched competitor more than its threshold below the shop's price is recorded once
  (same item, variant and prices) and e-mailed to the merchant (``send_to_merchant``) where e-mail is set up,
  at most once however often the job is retried (``send_alerts``); either way the admin lists it.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from typing import Any
from urllib.parse import urljoin, urlsplit

import numpy as np
import requests

from app import tasks
from app.agents.competitors import FeedError, parse_feed, title_matches, undercuts
from app.channels.base import SendError
from app.config import get_settings
from app.crypto import TokenCipher
from app.db import session_scope
from app.embedding import get_embedder
from app.jobs.fan_out import for_each_installed_shop
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

MAX_FEED = 5 * 1024 * 1024
MAX_REDIRECTS = 3
TIMEOUT = (5, 30)  # connect, read (between bytes)
TEXT_TYPES = (
    "text/csv",
    "text/tab-separated-values",
    "text/plain",
    "application/csv",
    "application/octet-stream",
)
MAX_TITLES = 20_000


class FetchError(ValueError):
    """A feed that could not be fetched, with the reason the merchant sees."""


def _check_target(url: str, allow_private: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError("the feed URL must be an http(s) address")
    if parts.username or parts.password:
        raise FetchError("the feed URL must not carry a user name or password")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except OSError as exc:
        raise FetchError(f"the host {parts.hostname} cannot be resolved") from exc
    for info in infos:
        ip = ipaddress.ip_address(info[4][0])
        if ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast:
            raise FetchError(f"the host {parts.hostname} is not a public address")


def fetch_feed(url: str, *, allow_private: bool = False, max_bytes: int = MAX_FEED) -> str:
    """The feed's text, or ``FetchError`` with why not."""
    for _ in range(MAX_REDIRECTS + 1):
        _check_target(url, allow_private)
        try:
            response = requests.get(url, timeout=TIMEOUT, stream=True, allow_redirects=False,
                                    headers={"User-Agent": "Attune competitor feed", "Accept": "text/csv, text/tab-separated-values, text/plain"})  # fmt: skip
        except requests.RequestException as exc:
            raise FetchError(f"the feed could not be fetched: {exc.__class__.__name__}") from exc
        with response:
            if response.is_redirect and response.headers.get("Location"):
                url = urljoin(url, response.headers["Location"])
                continue
            if response.status_code != 200:
                raise FetchError(f"the feed URL answered HTTP {response.status_code}")
            kind = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if kind and kind not in TEXT_TYPES:
                raise FetchError(
                    f"the feed is {kind}, not a CSV or tab-separated file (XML feeds are not read)"
                )
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise FetchError(f"the feed is larger than {max_bytes} bytes")
            body = bytearray()
            try:
                for chunk in response.iter_content(64 * 1024):
                    body += chunk
                    if len(body) > max_bytes:
                        raise FetchError(f"the feed is larger than {max_bytes} bytes")
            except requests.RequestException as exc:
                raise FetchError(f"the feed could not be read: {exc.__class__.__name__}") from exc
            try:
                return bytes(body).decode(response.encoding or "utf-8-sig")
            except (UnicodeDecodeError, LookupError) as exc:
                raise FetchError("the feed is not UTF-8 text") from exc
    raise FetchError(f"more than {MAX_REDIRECTS} redirects")


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
        "paragraphs": lines[:50] + ([f"… and {len(lines) - 50} more in the admin."] if len(lines) > 50 else []),
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
