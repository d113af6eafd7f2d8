"""The behavioural and contextual sections of a profile, updated incrementally per event batch.

A profile is plain JSON-ready data. ``apply_events`` folds a batch into it (in event-time order) and
``app.profiles.merge.merge_profiles`` joins two shoppers' profiles when identity stitching merges them.
Every field is either a sum, a bounded "most recent N" list, or a "latest wins" value stamped with
``(at, event id)``, so folding batches one by one, folding all events at once, and merging the profiles of
stitched identifiers all give the same profile (exactly, while the caps below are not exceeded).

Dwell per product is the time from a product view to the same client's next event (capped, and not
counted across a session break). Timestamps are stored as fixed-width UTC strings, so string order is
time order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from app.profiles.context import collection_view, device_of, local_time, traffic_source, url_path
from app.profiles.vocabulary import CHECKOUT_EVENTS, FUNNEL_RANK

PATH_LEN = 50
SEARCH_LEN = 20
PRODUCT_CAP = 300
TERM_CAP = 200
COLLECTION_CAP = 100
COMBO_CAP = 50
CLIENT_CAP = 20
SESSION_GAP_S = 30 * 60
MAX_DWELL_S = 600.0
_GID_RE = re.compile(r"^gid://shopify/[A-Za-z]+/")


@dataclass(frozen=True)
class ProfileEvent:
    """One pixel event as the profile sees it (built by the job from a stored row)."""

    event_id: str
    name: str
    ts: datetime
    client_id: str
    data: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def empty_profile() -> dict[str, Any]:
    return {
        "behavioural": {
            "events": 0,
            "by_name": {},
            "sessions": 0,
            "first_seen": None,
            "last_seen": None,
            "path": [],
            "products": {},
            "searches": [],
            "search_terms": {},
            "collections": {},
            "funnel": {"step_at": {}, "completed": 0},
            "cart": {"token": None, "at": None, "eid": None, "items": {}},
            "custom": {},
        },
        "contextual": {
            "device": None,
            "devices": {},
            "geo": None,
            "language": None,
            "time_zone": None,
            "hours": [0] * 24,
            "weekdays": [0] * 7,
            "first_touch": None,
            "last_touch": None,
            "channels": {},
            "campaigns": {},
        },
        "working": {"clients": {}},
    }


def ref_id(value: object) -> str | None:
    """Shopify ids as short strings: ``gid://shopify/Product/12`` -> ``12``."""
    if value is None:
        return None
    text = _GID_RE.sub("", str(value)).split("?", 1)[0]
    return text[:64] or None


def _bump(counter: dict[str, int], key: str, by: int = 1, cap: int | None = None) -> None:
    counter[key] = counter.get(key, 0) + by
    if cap is not None and len(counter) > cap:
        trim_counter(counter, cap)


def trim_counter(counter: dict[str, int], cap: int) -> None:
    """Keep the ``cap`` largest counts (ties: smaller key first) - the same rule everywhere."""
    keep = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:cap]
    counter.clear()
    counter.update(keep)


def later(new: dict[str, Any] | None, old: dict[str, Any] | None) -> bool:
    """True when ``new`` is more recent than ``old`` (ordered by event time, then event id)."""
    if new is None:
        return False
    return old is None or (new["at"], new["eid"]) > (old["at"], old["eid"])


def trim_products(products: dict[str, dict[str, Any]]) -> None:
    if len(products) <= PRODUCT_CAP:
        return
    drop = sorted(products.items(), key=lambda kv: (kv[1]["last"], kv[0]))[: len(products) - PRODUCT_CAP]
    for pid, _ in drop:
        del products[pid]


def _product(b: dict[str, Any], variant: dict[str, Any] | None, at: str) -> dict[str, Any] | None:
    if not variant:
        return None
    product = variant.get("product") or {}
    pid = ref_id(product.get("id"))
    if not pid:
        return None
    entry = b["products"].get(pid)
    if entry is None:
        entry = b["products"][pid] = {"views": 0, "dwell_s": 0.0, "added": 0, "removed": 0, "last": at}
    price = (variant.get("price") or {}).get("amount")
    if at >= entry["last"]:
        entry["last"] = at
        for key in ("title", "vendor", "type"):
            if product.get(key):
                entry[key] = str(product[key])[:200]
        if isinstance(price, int | float):
            entry["price"] = float(price)
    return {"pid": pid, "entry": entry}


def _path(b: dict[str, Any], at: str, eid: str, kind: str, ref: str | None) -> None:
    b["path"].append([at, kind, ref, eid])
    if len(b["path"]) > PATH_LEN:
        del b["path"][: len(b["path"]) - PATH_LEN]


def _clients(profile: dict[str, Any], client_id: str) -> dict[str, Any]:
    clients = profile["working"]["clients"]
    state = clients.get(client_id)
    if state is None:
        state = clients[client_id] = {"last": None, "view": None}
        if len(clients) > CLIENT_CAP:
            oldest = min(clients, key=lambda c: (clients[c]["last"] or 0.0, c))
            del clients[oldest]
    return state


def apply_event(profile: dict[str, Any], event: ProfileEvent) -> None:
    """Fold one event into ``profile`` in place."""
    b, c = profile["behavioural"], profile["contextual"]
    at, eid, name, data, ctx = iso(event.ts), event.event_id, event.name, event.data, event.context
    epoch = event.ts.timestamp()
    url = ctx.get("url")

    # Sessions and dwell are per client (device/browser), so merged profiles stay exact.
    client = _clients(profile, event.client_id)
    gap = None if client["last"] is None else epoch - client["last"]
    new_session = gap is None or gap > SESSION_GAP_S
    if client["view"] and gap is not None and not new_session:
        entry = b["products"].get(client["view"][0])
        if entry is not None:
            entry["dwell_s"] = round(entry["dwell_s"] + min(max(gap, 0.0), MAX_DWELL_S), 3)
    client["last"] = epoch if client["last"] is None else max(client["last"], epoch)
    client["view"] = None

    b["events"] += 1
    _bump(b["by_name"], name)
    if b["first_seen"] is None or at < b["first_seen"]:
        b["first_seen"] = at
    if b["last_seen"] is None or at > b["last_seen"]:
        b["last_seen"] = at
    if new_session:
        b["sessions"] += 1

    if name in FUNNEL_RANK and at > b["funnel"]["step_at"].get(name, ""):
        b["funnel"]["step_at"][name] = at
    if name == "checkout_completed":
        b["funnel"]["completed"] += 1

    if name == "product_viewed":
        hit = _product(b, data.get("variant"), at)
        if hit:
            hit["entry"]["views"] += 1
            client["view"] = [hit["pid"], epoch]
            _path(b, at, eid, "product", hit["pid"])
    elif name in ("product_added_to_cart", "product_removed_from_cart"):
        line = data.get("line") or {}
        variant = line.get("variant") or {}
        hit = _product(b, variant, at)
        qty = line.get("quantity") if isinstance(line.get("quantity"), int) else 1
        added = name == "product_added_to_cart"
        if hit:
            hit["entry"]["added" if added else "removed"] += qty
        vid = ref_id(variant.get("id"))
        if vid:
            items = b["cart"]["items"]
            items[vid] = items.get(vid, 0) + (qty if added else -qty)
        _path(b, at, eid, "cart_add" if added else "cart_remove", hit["pid"] if hit else vid)
    elif name == "collection_viewed":
        view = collection_view(url)
        coll = data.get("collection") or {}
        handle = view[0] if view else ref_id(coll.get("id")) or "unknown"
        entry = b["collections"].setdefault(handle, {"views": 0, "filters": {}, "sorts": {}})
        entry["views"] += 1
        if view and view[1]:
            _bump(entry["filters"], view[1], cap=COMBO_CAP)
        if view and view[2]:
            _bump(entry["sorts"], view[2], cap=COMBO_CAP)
        if len(b["collections"]) > COLLECTION_CAP:
            worst = min(b["collections"].items(), key=lambda kv: (kv[1]["views"], kv[0]))[0]
            del b["collections"][worst]
        _path(b, at, eid, "collection", handle)
    elif name == "search_submitted":
        query = str(data.get("query") or "").strip()[:200]
        if query:
            b["searches"].append([at, query, data.get("results"), eid])
            if len(b["searches"]) > SEARCH_LEN:
                del b["searches"][: len(b["searches"]) - SEARCH_LEN]
            _bump(b["search_terms"], query.lower(), cap=TERM_CAP)
        _path(b, at, eid, "search", query or None)
    elif name == "cart_viewed":
        cart = data.get("cart") or {}
        token = ref_id(cart.get("id"))
        if token and later({"at": at, "eid": eid}, b["cart"] if b["cart"]["at"] else None):
            b["cart"].update(token=token, at=at, eid=eid)
        _path(b, at, eid, "cart", token)
    elif name in CHECKOUT_EVENTS:
        checkout = data.get("checkout") or {}
        if checkout.get("city") or checkout.get("countryCode"):
            geo = {
                "city": checkout.get("city"),
                "province": checkout.get("provinceCode"),
                "country": checkout.get("countryCode"),
                "at": at,
                "eid": eid,
            }
            if later(geo, c["geo"]):
                c["geo"] = geo
        _path(b, at, eid, name, ref_id(checkout.get("token")))
    elif name.startswith("attune:"):
        _bump(b["custom"], name)
        custom = data.get("custom") if isinstance(data.get("custom"), dict) else {}
        seconds = custom.get("seconds")
        if (
            name == "attune:shipping_notice_lingered"
            and isinstance(seconds, int | float)
            and 0 < seconds < 3600
        ):
            b["custom"]["shipping_notice_ms"] = b["custom"].get("shipping_notice_ms", 0) + int(seconds * 1000)
        _path(b, at, eid, name, ref_id(custom.get("product_id")) or custom.get("placement"))
    else:
        _path(b, at, eid, "page", url_path(url))
    trim_products(b["products"])
    _context(c, event, at, eid, url, new_session)


@lru_cache(maxsize=1024)
def _device(user_agent: str) -> dict[str, str]:
    return device_of(user_agent)


@lru_cache(maxsize=4096)
def _traffic_source(url: str | None, referrer: str | None) -> dict[str, str | None]:
    """``traffic_source`` memoised: a shopper's events mostly repeat the landing URL and referrer. Callers copy
    the answer, never change it."""
    return traffic_source(url, referrer)


def _context(c: dict[str, Any], event: ProfileEvent, at: str, eid: str, url: str | None, new: bool) -> None:
    ctx = event.context
    tz = ctx.get("timeZone")
    hour, weekday = local_time(event.ts, tz if isinstance(tz, str) else None)
    c["hours"][hour] += 1
    c["weekdays"][weekday] += 1
    if ctx.get("userAgent"):
        device = {**_device(ctx["userAgent"]), "at": at, "eid": eid}
        if later(device, c["device"]):
            c["device"] = device
        if new:
            _bump(c["devices"], device["type"])
    for key, value in (("language", ctx.get("language")), ("time_zone", tz)):
        if isinstance(value, str) and value:
            stamped = {"value": value[:64], "at": at, "eid": eid}
            if later(stamped, c[key]):
                c[key] = stamped
    if not new and "utm_" not in (url or ""):
        return
    referrer = ctx.get("referrer")
    plain = isinstance(url, str | None) and isinstance(referrer, str | None)
    touch_fields = (_traffic_source if plain else traffic_source)(url, referrer)
    if new or touch_fields["medium"] or touch_fields["campaign"]:
        touch = {**touch_fields, "at": at, "eid": eid}
        if c["first_touch"] is None or not later(touch, c["first_touch"]):
            c["first_touch"] = touch
        if later(touch, c["last_touch"]):
            c["last_touch"] = touch
        _bump(c["channels"], touch["channel"])
        if touch["campaign"]:
            _bump(c["campaigns"], touch["campaign"], cap=50)


def event_order(event: ProfileEvent) -> tuple[datetime, str]:
    return event.ts, event.event_id


def apply_events(profile: dict[str, Any] | None, events: Iterable[ProfileEvent]) -> dict[str, Any]:
    """Fold a batch into ``profile`` (a new one when None), in event-time order; returns the profile."""
    profile = profile if profile is not None else empty_profile()
    for event in sorted(events, key=event_order):
        apply_event(profile, event)
    return profile
