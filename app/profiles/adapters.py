"""From a profile's plain JSON sections to each model's inputs. Pure: dicts in, model dataclasses out.

- intent: ``SessionFeatures`` of the current (last) session, read from the behavioural path;
- CLV / churn: ``CustomerHistory`` from the explicit section's purchase days (net of returns);
- price sensitivity: ``PurchaseLine`` rows from the explicit section's recent lines;
- affinity: decayed weights per category / vendor / tag from purchased lines and viewed products;
- RFM: ``RfmInput`` from the explicit orders.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.modelling.clv import WEEK_SECONDS, CustomerHistory
from app.modelling.intent import SessionFeatures
from app.modelling.price_sensitivity import PurchaseLine
from app.modelling.rfm import RfmInput
from app.profiles.state import MAX_DWELL_S, SESSION_GAP_S

# path kinds (see app.profiles.state) -> funnel index in app.modelling.intent.FUNNEL_STEPS
FUNNEL_INDEX = {
    "cart_add": 1,
    "cart": 1,
    "checkout_started": 2,
    "checkout_contact_info_submitted": 3,
    "checkout_address_info_submitted": 4,
    "checkout_shipping_info_submitted": 5,
    "payment_info_submitted": 6,
}
ACCOUNT_PREFIXES = ("/account", "/pages/contact", "/login", "/challenge", "/password")
INFO_PREFIXES = ("/policies", "/pages", "/blogs")
PAGE_STAT_FIELDS = ("bounce_rate", "exit_rate", "page_value")
# The global trees' device / region / traffic-source codes are the public data set's anonymised codes, which
# do not map onto ours, and its month effect is one shop's seasonality (November alone adds about +3 log-odds):
# those fields stay at the typical value, so they neither raise nor lower intent. Weekend is kept.
HELD_FIELDS = ("special_day", "month", "os", "browser", "region", "traffic_source")
SINGLE_PAGE_BOUNCE = 0.2  # the public data's bounce / exit rate of one-page sessions (its cap)
# Before a shop has page statistics: cart and checkout pages lie on the path of every purchase, so a session
# that reached them gets the public data's quartiles of positive page values (25th / 50th / 75th) by depth.
DAY_ONE_PAGE_VALUE = (0.0, 7.2, 16.7, 16.7, 34.8, 34.8, 34.8)


@dataclass(frozen=True)
class SessionSummary:
    """The current session as the intent model sees it, plus what the admin is told about it."""

    features: SessionFeatures
    started_at: str
    ended_at: str
    steps: int
    page_keys: tuple[str, ...]
    completed: bool  # the session already bought (features then cover what came after the purchase)


def page_key(kind: str, ref: str | None) -> str | None:
    """The key a page is known by in the shop's page statistics (None: not a page view)."""
    if kind in ("product", "collection", "page"):
        return f"{kind}:{ref or ''}"
    if kind in ("search", "cart") or kind.startswith("checkout_") or kind == "payment_info_submitted":
        return kind
    return None


def page_type(kind: str, ref: str | None) -> str | None:
    """account | info | product for page-like path steps (None for cart edits and custom events)."""
    if kind in ("product", "collection", "search", "cart"):
        return "product"
    if kind.startswith("checkout_") or kind == "payment_info_submitted":
        return "account"  # checkout forms: the closest public-data page type (administrative)
    if kind != "page":
        return None
    path = (ref or "/").lower()
    if path.startswith(ACCOUNT_PREFIXES):
        return "account"
    if path.startswith(INFO_PREFIXES):
        return "info"
    return "product"  # home, catalogue, search and product URLs


def last_session(path: list[list[Any]]) -> list[list[Any]]:
    """The path steps of the most recent session (no gap over 30 minutes), oldest first."""
    steps = sorted(path, key=lambda s: (s[0], s[3] or ""))
    if not steps:
        return []
    start = len(steps) - 1
    while start > 0:
        gap = (parse_ts(steps[start][0]) - parse_ts(steps[start - 1][0])).total_seconds()
        if gap > SESSION_GAP_S:
            break
        start -= 1
    return steps[start:]


def parse_ts(text: str) -> datetime:
    """``app.profiles.state.iso`` strings (and other ISO forms) back to aware UTC datetimes, quickly."""
    ts = datetime.fromisoformat(text)
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def session_features(
    profile: dict[str, Any],
    reference: dict[str, float],
    page_stats: dict[str, list[float]] | None = None,
    returning: bool | None = None,
) -> SessionSummary | None:
    """``SessionFeatures`` of the profile's last session (None without one).

    ``reference`` is the global model's typical session: fields we cannot observe take its values.
    ``page_stats`` maps page keys to the shop's [bounce rate, exit rate, page value] (``_default`` for pages
    it has not seen); without them those three fields are held at the typical value too.
    """
    b = profile.get("behavioural") or {}
    all_steps = last_session(b.get("path") or [])
    if not all_steps:
        return None
    steps = all_steps
    completed = any(s[1] == "checkout_completed" for s in steps)
    if completed:
        last_buy = max(i for i, s in enumerate(steps) if s[1] == "checkout_completed")
        steps = steps[last_buy + 1 :]
    pages = {"account": [0, 0.0], "info": [0, 0.0], "product": [0, 0.0]}
    searches = adds = removes = funnel = 0
    keys: list[str] = []
    times = [parse_ts(s[0]) for s in steps]
    for i, (_, kind, ref, _eid) in enumerate(steps):
        kind_type = page_type(kind, ref)
        if kind_type:
            pages[kind_type][0] += 1
            if i + 1 < len(steps):
                gap = (times[i + 1] - times[i]).total_seconds()
                pages[kind_type][1] += min(max(gap, 0.0), MAX_DWELL_S)
        key = page_key(kind, ref)
        if key:
            keys.append(key)
        searches += kind == "search"
        adds += kind == "cart_add"
        removes += kind == "cart_remove"
        funnel = max(funnel, FUNNEL_INDEX.get(kind, 0))
    n_pages = sum(p[0] for p in pages.values())
    stats = _page_stats(keys, reference, page_stats, n_pages, funnel)
    c = profile.get("contextual") or {}
    tz = (c.get("time_zone") or {}).get("value") if isinstance(c.get("time_zone"), dict) else None
    end = parse_ts(all_steps[-1][0])
    local = end.astimezone(_zone(tz) or UTC) if tz else end
    orders = ((profile.get("explicit") or {}).get("orders") or {}).get("count") or 0
    if returning is None:
        returning = (b.get("sessions") or 0) > 1 or orders > 0
    held = {name: reference.get(name, 0.0) for name in HELD_FIELDS}
    features = SessionFeatures(
        account_pages=float(pages["account"][0]),
        account_seconds=round(pages["account"][1], 3),
        info_pages=float(pages["info"][0]),
        info_seconds=round(pages["info"][1], 3),
        product_pages=float(pages["product"][0]),
        product_seconds=round(pages["product"][1], 3),
        bounce_rate=stats[0],
        exit_rate=stats[1],
        page_value=stats[2],
        special_day=float(held["special_day"]),
        month=int(held["month"]),
        visitor_type="returning" if returning else "new",
        weekend=local.weekday() >= 5,
        os=int(held["os"]),
        browser=int(held["browser"]),
        region=int(held["region"]),
        traffic_source=int(held["traffic_source"]),
        searches=float(searches),
        cart_adds=float(adds),
        cart_removes=float(removes),
        funnel_step=funnel,
    )
    return SessionSummary(features, all_steps[0][0], all_steps[-1][0], len(all_steps), tuple(keys), completed)


def _page_stats(
    keys: list[str],
    reference: dict[str, float],
    page_stats: dict[str, list[float]] | None,
    n_pages: int,
    funnel: int,
) -> tuple[float, float, float]:
    """Mean [bounce, exit, value] of the session's pages from the shop's statistics. Before the shop has any,
    session-shape proxies: a one-page session bounces, the exit rate is about one exit per session's pages,
    and the page value follows the funnel depth (DAY_ONE_PAGE_VALUE)."""
    if not page_stats or not keys:
        value = max(float(reference.get("page_value", 0.0)), DAY_ONE_PAGE_VALUE[min(funnel, 6)])
        if n_pages <= 1:
            return SINGLE_PAGE_BOUNCE, SINGLE_PAGE_BOUNCE, value
        return float(reference.get("bounce_rate", 0.0)), min(SINGLE_PAGE_BOUNCE, 1.0 / n_pages), value
    default = page_stats.get("_default") or [reference.get(f, 0.0) for f in PAGE_STAT_FIELDS]
    rows = [page_stats.get(k, default) for k in keys]
    return tuple(round(sum(r[i] for r in rows) / len(rows), 6) for i in range(3))  # type: ignore[return-value]


# --- explicit: purchases ------------------------------------------------------------------------


def _day(text: str) -> date:
    return date.fromisoformat(text[:10])


def purchase_history(profile: dict[str, Any], now: datetime, customer_id: str = "") -> CustomerHistory | None:
    """BG/NBD inputs in weeks from the explicit section's purchase days (net of refunds); None before a
    first purchase. Purchases on or after ``now`` are ignored."""
    history = (profile.get("explicit") or {}).get("history") or {}
    days = [(_day(d), float(v)) for d, v in history.get("days") or [] if _day(d) <= now.date()]
    if not days:
        return None
    first = _day(history["first"]) if history.get("first") else days[0][0]
    n_days = max(int(history.get("n_days") or len(days)), len(days))
    today = now.date()
    weeks = lambda d: (today - d).days * 86400 / WEEK_SECONDS  # noqa: E731
    last = days[-1][0]
    repeats = [v for d, v in days if d != first]
    return CustomerHistory(
        customer_id=customer_id,
        frequency=n_days - 1,
        recency=(last - first).days * 86400 / WEEK_SECONDS,
        T=max(weeks(first), 1 / 7),
        monetary=sum(repeats) / len(repeats) if repeats else 0.0,
        total_spend=float(history.get("net_spend") or sum(v for _, v in days)),
        purchases_13w=sum(weeks(d) <= 13 for d, _ in days),
        purchases_26w=sum(weeks(d) <= 26 for d, _ in days),
        spend_26w=sum(v for d, v in days if weeks(d) <= 26),
    )


def rfm_input(profile: dict[str, Any], now: datetime, customer_id: str = "") -> RfmInput | None:
    history = (profile.get("explicit") or {}).get("history") or {}
    days = history.get("days") or []
    if not days:
        return None
    last = _day(days[-1][0])
    return RfmInput(
        customer_id=customer_id,
        days_since_last_order=float(max((now.date() - last).days, 0)),
        orders=int(history.get("orders") or history.get("n_days") or len(days)),
        spend=float(history.get("net_spend") or sum(v for _, v in days)),
    )


def purchase_lines(profile: dict[str, Any], customer_id: str = "") -> list[PurchaseLine]:
    """Price-sensitivity lines: ``paid`` after discounts, compare-at savings as markdown, discounts as coupon."""
    out = []
    for line in (profile.get("explicit") or {}).get("lines") or []:
        qty, price = float(line.get("qty") or 0), line.get("price")
        if qty <= 0 or price is None:
            continue
        discount = float(line.get("discount") or 0.0)
        compare_at = line.get("compare_at")
        markdown = max(float(compare_at) - float(price), 0.0) * qty if compare_at else 0.0
        out.append(
            PurchaseLine(
                customer_id=customer_id,
                category=line.get("type") or "other",
                quantity=qty,
                paid=max(float(price) * qty - discount, 0.0),
                markdown=markdown,
                coupon=discount,
            )
        )
    return out


# --- affinity ------------------------------------------------------------------------------------

PURCHASE_WEIGHT = 3.0  # per unit bought
VIEW_WEIGHT = 1.0  # per product view
CART_WEIGHT = 2.0  # per unit added to the cart
AFFINITY_KINDS = ("categories", "vendors", "tags")


def affinity_touches(profile: dict[str, Any]) -> list[tuple[str, str, str, float]]:
    """(kind, key, ISO time, weight) for every category / vendor / tag the shopper bought or looked at."""
    touches: list[tuple[str, str, str, float]] = []
    for line in (profile.get("explicit") or {}).get("lines") or []:
        at, w = line.get("at"), PURCHASE_WEIGHT * float(line.get("qty") or 1)
        if not at:
            continue
        if line.get("type"):
            touches.append(("categories", str(line["type"]), at, w))
        if line.get("vendor"):
            touches.append(("vendors", str(line["vendor"]), at, w))
        for tag in line.get("tags") or []:
            touches.append(("tags", str(tag), at, w))
    for entry in ((profile.get("behavioural") or {}).get("products") or {}).values():
        w = VIEW_WEIGHT * float(entry.get("views") or 0) + CART_WEIGHT * float(entry.get("added") or 0)
        if w <= 0 or not entry.get("last"):
            continue
        if entry.get("type"):
            touches.append(("categories", str(entry["type"]), entry["last"], w))
        if entry.get("vendor"):
            touches.append(("vendors", str(entry["vendor"]), entry["last"], w))
    return touches


def age_days(at: str, now: datetime) -> float:
    ts = parse_ts(at)
    return max((now - ts).total_seconds() / 86400.0, 0.0)
