"""Join two shoppers' profiles when identity stitching finds they are one (e.g. on login or checkout).

The result equals the profile built from both event streams together, because every field is a sum, a
bounded most-recent list (merged in event order), or a latest-wins value stamped with (at, event id).
"""

from __future__ import annotations

import copy
from typing import Any

from app.profiles.state import (
    CLIENT_CAP,
    COLLECTION_CAP,
    COMBO_CAP,
    PATH_LEN,
    SEARCH_LEN,
    TERM_CAP,
    empty_profile,
    later,
    trim_counter,
    trim_products,
)


def _sum(a: dict[str, int], b: dict[str, int], cap: int | None = None) -> dict[str, int]:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + v
    if cap is not None and len(out) > cap:
        trim_counter(out, cap)
    return out


def _latest(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, Any] | None:
    return b if later(b, a) else a


def _earliest(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, Any] | None:
    if a is None:
        return b
    if b is None:
        return a
    return b if (b["at"], b["eid"]) < (a["at"], a["eid"]) else a


def _recent(a: list[list[Any]], b: list[list[Any]], n: int) -> list[list[Any]]:
    """Most recent ``n`` entries of two lists whose rows start with ``at`` and end with the event id."""
    return sorted(a + b, key=lambda row: (row[0], row[-1]))[-n:]


def _min(a: str | None, b: str | None) -> str | None:
    return b if a is None else a if b is None else min(a, b)


def _max(a: str | None, b: str | None) -> str | None:
    return b if a is None else a if b is None else max(a, b)


def _products(a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = copy.deepcopy(a)
    for pid, entry in b.items():
        mine = out.get(pid)
        if mine is None:
            out[pid] = copy.deepcopy(entry)
            continue
        newer = entry if entry["last"] > mine["last"] else mine
        merged = {k: v for k, v in newer.items() if k in ("title", "vendor", "type", "price")}
        merged.update(
            views=mine["views"] + entry["views"],
            dwell_s=round(mine["dwell_s"] + entry["dwell_s"], 3),
            added=mine["added"] + entry["added"],
            removed=mine["removed"] + entry["removed"],
            last=max(mine["last"], entry["last"]),
        )
        out[pid] = merged
    trim_products(out)
    return out


def _collections(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(a)
    for handle, entry in b.items():
        mine = out.setdefault(handle, {"views": 0, "filters": {}, "sorts": {}})
        mine["views"] += entry["views"]
        mine["filters"] = _sum(mine["filters"], entry["filters"], COMBO_CAP)
        mine["sorts"] = _sum(mine["sorts"], entry["sorts"], COMBO_CAP)
    while len(out) > COLLECTION_CAP:
        worst = min(out.items(), key=lambda kv: (kv[1]["views"], kv[0]))[0]
        del out[worst]
    return out


def merge_profiles(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, Any]:
    """A new profile holding what ``a`` and ``b`` hold (inputs are not changed)."""
    a = a or empty_profile()
    b = b or empty_profile()
    ab, bb = a["behavioural"], b["behavioural"]
    ac, bc = a["contextual"], b["contextual"]
    cart = _latest(ab["cart"] if ab["cart"]["at"] else None, bb["cart"] if bb["cart"]["at"] else None)
    step_at = dict(ab["funnel"]["step_at"])
    for step, at in bb["funnel"]["step_at"].items():
        step_at[step] = max(step_at.get(step, ""), at)
    behavioural = {
        "events": ab["events"] + bb["events"],
        "by_name": _sum(ab["by_name"], bb["by_name"]),
        "sessions": ab["sessions"] + bb["sessions"],
        "first_seen": _min(ab["first_seen"], bb["first_seen"]),
        "last_seen": _max(ab["last_seen"], bb["last_seen"]),
        "path": _recent(ab["path"], bb["path"], PATH_LEN),
        "products": _products(ab["products"], bb["products"]),
        "searches": _recent(ab["searches"], bb["searches"], SEARCH_LEN),
        "search_terms": _sum(ab["search_terms"], bb["search_terms"], TERM_CAP),
        "collections": _collections(ab["collections"], bb["collections"]),
        "funnel": {"step_at": step_at, "completed": ab["funnel"]["completed"] + bb["funnel"]["completed"]},
        "cart": {
            "token": cart["token"] if cart else None,
            "at": cart["at"] if cart else None,
            "eid": cart["eid"] if cart else None,
            "items": {k: v for k, v in _sum(ab["cart"]["items"], bb["cart"]["items"]).items()},
        },
        "custom": _sum(ab["custom"], bb["custom"]),
    }
    contextual = {
        "device": _latest(ac["device"], bc["device"]),
        "devices": _sum(ac["devices"], bc["devices"]),
        "geo": _latest(ac["geo"], bc["geo"]),
        "language": _latest(ac["language"], bc["language"]),
        "time_zone": _latest(ac["time_zone"], bc["time_zone"]),
        "hours": [x + y for x, y in zip(ac["hours"], bc["hours"], strict=True)],
        "weekdays": [x + y for x, y in zip(ac["weekdays"], bc["weekdays"], strict=True)],
        "first_touch": _earliest(ac["first_touch"], bc["first_touch"]),
        "last_touch": _latest(ac["last_touch"], bc["last_touch"]),
        "channels": _sum(ac["channels"], bc["channels"]),
        "campaigns": _sum(ac["campaigns"], bc["campaigns"], 50),
    }
    clients = copy.deepcopy(a["working"]["clients"])
    for cid, state in b["working"]["clients"].items():
        mine = clients.get(cid)
        if mine is None or (state["last"] or 0.0) > (mine["last"] or 0.0):
            clients[cid] = copy.deepcopy(state)
    while len(clients) > CLIENT_CAP:
        oldest = min(clients, key=lambda c: (clients[c]["last"] or 0.0, c))
        del clients[oldest]
    out = {
        "behavioural": copy.deepcopy(behavioural),
        "contextual": copy.deepcopy(contextual),
        "working": {"clients": clients},
    }
    for key in ("explicit", "derived"):
        if key in a or key in b:
            out[key] = copy.deepcopy(a.get(key) or b.get(key))
    return out
