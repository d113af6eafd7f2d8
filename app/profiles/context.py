"""Contextual signals from one event: device, traffic source, UTM, collection filters, local time."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from urllib.parse import parse_qsl, unquote_plus, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

SEARCH_ENGINES = ("google.", "bing.", "duckduckgo.", "yahoo.", "ecosia.", "baidu.", "yandex.", "startpage.")
SOCIAL = (
    "facebook.",
    "instagram.",
    "tiktok.",
    "pinterest.",
    "t.co",
    "twitter.",
    "x.com",
    "reddit.",
    "youtube.",
    "linkedin.",
    "snapchat.",
    "lm.facebook.",
    "l.instagram.",
)
EMAIL = ("mail.", "outlook.", "gmail.", "yahoo.mail", "klaviyo", "mailchimp")
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
PAID_MEDIA = {"cpc", "ppc", "paid", "paidsearch", "paid_social", "paidsocial", "display", "cpm"}


def device_of(user_agent: str | None) -> dict[str, str]:
    """Device type, OS and browser family from a user agent (coarse on purpose)."""
    ua = user_agent or ""
    if "iPad" in ua or "Tablet" in ua or ("Android" in ua and "Mobile" not in ua):
        kind = "tablet"
    elif "Mobi" in ua or "iPhone" in ua or "Android" in ua:
        kind = "mobile"
    elif ua:
        kind = "desktop"
    else:
        kind = "unknown"
    if "iPhone" in ua or "iPad" in ua or "iOS" in ua:
        os_name = "iOS"
    elif "Android" in ua:
        os_name = "Android"
    elif "Windows" in ua:
        os_name = "Windows"
    elif "CrOS" in ua:
        os_name = "ChromeOS"
    elif "Mac OS X" in ua or "Macintosh" in ua:
        os_name = "macOS"
    elif "Linux" in ua:
        os_name = "Linux"
    else:
        os_name = "other"
    if "Edg/" in ua:
        browser = "Edge"
    elif "SamsungBrowser" in ua:
        browser = "Samsung Internet"
    elif "Firefox/" in ua or "FxiOS" in ua:
        browser = "Firefox"
    elif "Chrome/" in ua or "CriOS" in ua:
        browser = "Chrome"
    elif "Safari/" in ua:
        browser = "Safari"
    else:
        browser = "other"
    return {"type": kind, "os": os_name, "browser": browser}


def _host(url: str | None) -> str:
    if not url:
        return ""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def utm_of(url: str | None) -> dict[str, str]:
    if not url:
        return {}
    try:
        query = urlsplit(url).query
    except ValueError:
        return {}
    return {k: v[:200] for k, v in parse_qsl(query) if k in UTM_KEYS and v}


def traffic_source(url: str | None, referrer: str | None) -> dict[str, str | None]:
    """Classify where a visit came from: UTM tags first, then the referrer's host."""
    utm = utm_of(url)
    ref_host = _host(referrer)
    own_host = _host(url)
    if ref_host and own_host and (ref_host == own_host or ref_host.endswith(".myshopify.com")):
        ref_host = ""  # internal navigation is not a source
    if utm:
        medium = (utm.get("utm_medium") or "").lower()
        if medium in PAID_MEDIA:
            channel = "paid"
        elif medium == "email" or "mail" in medium:
            channel = "email"
        elif medium in {"social", "social-media", "social_media"}:
            channel = "social"
        else:
            channel = "campaign"
        source = utm.get("utm_source") or ref_host or "unknown"
    elif not ref_host:
        channel, source = "direct", "direct"
    elif any(s in ref_host for s in SEARCH_ENGINES):
        channel, source = "search", ref_host
    elif any(s in ref_host for s in SOCIAL):
        channel, source = "social", ref_host
    elif any(s in ref_host for s in EMAIL):
        channel, source = "email", ref_host
    else:
        channel, source = "referral", ref_host
    return {
        "channel": channel,
        "source": source[:200],
        "medium": utm.get("utm_medium"),
        "campaign": utm.get("utm_campaign"),
        "referrer": ref_host or None,
    }


def collection_view(url: str | None) -> tuple[str, str, str | None] | None:
    """``(handle, filter combination, sort)`` from a collection URL, or None when it is not one.

    Handles storefront filters (``?filter.v.option.color=Blue&filter.v.price.gte=10``) and the older
    tag paths (``/collections/shoes/blue+size-42``). The combination is sorted, so the same filters in
    any order count as one.
    """
    if not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    segments = [s for s in parts.path.split("/") if s]
    if "collections" not in segments:
        return None
    i = segments.index("collections")
    if i + 1 >= len(segments):
        return None
    handle = unquote_plus(segments[i + 1])[:120]
    filters: list[str] = []
    sort: str | None = None
    for key, value in parse_qsl(parts.query):
        if key.startswith("filter.") and value:
            filters.append(f"{key[len('filter.') :]}={value}"[:120])
        elif key == "sort_by" and value:
            sort = value[:60]
    if i + 2 < len(segments) and segments[i + 2] != "products":
        filters.extend(f"tag={unquote_plus(t)}"[:120] for t in segments[i + 2].split("+") if t)
    return handle, "&".join(sorted(set(filters))), sort


def url_path(url: str | None) -> str:
    if not url:
        return ""
    try:
        return urlsplit(url).path[:200] or "/"
    except ValueError:
        return ""


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def local_time(ts: datetime, time_zone: str | None) -> tuple[int, int]:
    """(hour 0-23, weekday 0=Monday) of ``ts`` in the shopper's zone (UTC when unknown)."""
    zone = _zone(time_zone) if time_zone and len(time_zone) <= 64 else None
    local = ts.astimezone(zone or UTC)
    return local.hour, local.weekday()
