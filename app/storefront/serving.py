"""The storefront read path: precomputed lists through a short in-process cache, holdout, served-list log.

Nothing here computes a recommendation. A request costs at most a few indexed row reads (usually none:
shops, holdout policies and lists are cached for ``ttl`` seconds per process) and one Redis ``RPUSH`` for
the served-list log, which ``flush_served_log`` moves into ``served_list`` in batches.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from redis.exceptions import RedisError
from sqlmodel import Session, select

from app.db import get_engine
from app.models.serving import HoldoutPolicy, RecommendationList, ServedList
from app.models.shop import Shop
from app.queue import get_redis
from app.storefront.holdout import DEFAULT_SHARE, in_holdout

log = logging.getLogger(__name__)

AGENT = "recommendations"
SERVED_LOG_KEY = "attune:served_log"
PLACEMENTS = frozenset({"product", "cart", "home", "assistant", "fbt", "buy_again", "post_purchase", "email"})
CONTROL_PLACEMENT = "popular"  # the non-personalised list the holdout group sees
_MISSING = object()


class TTLCache:
    """A small thread-safe LRU with per-entry expiry (one per app process)."""

    def __init__(self, ttl: float, maxsize: int = 20_000) -> None:
        self.ttl, self.maxsize = ttl, maxsize
        self._data: OrderedDict[Any, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_load(self, key: Any, load: Callable[[], Any]) -> Any:
        now = time.monotonic()
        with self._lock:
            hit = self._data.get(key, _MISSING)
            if hit is not _MISSING and hit[0] > now:
                self._data.move_to_end(key)
                return hit[1]
        value = load()
        with self._lock:
            self._data[key] = (now + self.ttl, value)
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


@dataclass(frozen=True)
class ShopRef:
    id: int
    domain: str
    installed: bool


@dataclass(frozen=True)
class CachedList:
    id: int
    strategy: str
    variant: str
    items: tuple[dict[str, Any], ...]
    computed_at: str


@dataclass
class Served:
    """One answer to ``GET /proxy/recommendations``, ready for JSON."""

    placement: str
    strategy: str
    variant: str
    holdout: bool
    list_id: int | None
    items: list[dict[str, Any]] = field(default_factory=list)
    serve_id: str = ""
    computed_at: str | None = None

    def as_json(self) -> dict[str, Any]:
        currency = self.items[0].get("currency") if self.items else None
        return {
            "placement": self.placement,
            "strategy": self.strategy,
            "variant": self.variant,
            "holdout": self.holdout,
            "list_id": self.list_id,
            "serve_id": self.serve_id,
            "computed_at": self.computed_at,
            "currency": currency,
            "items": self.items,
        }


class ServingStore:
    """Cached reads of shops, holdout policies and precomputed lists for one database."""

    def __init__(self, database_url: str, redis_url: str | None, ttl: float = 30.0) -> None:
        self.database_url, self.redis_url = database_url, redis_url
        self._shops = TTLCache(ttl, 10_000)
        self._policies = TTLCache(ttl, 10_000)
        self._lists = TTLCache(ttl, 50_000)

    def session(self) -> Session:
        return Session(get_engine(self.database_url), expire_on_commit=False)

    def clear(self) -> None:
        for cache in (self._shops, self._policies, self._lists):
            cache.clear()

    def shop(self, domain: str) -> ShopRef | None:
        def load() -> ShopRef | None:
            with self.session() as s:
                row = s.exec(select(Shop).where(Shop.domain == domain)).first()
                return ShopRef(row.id, row.domain, row.is_installed) if row and row.id else None

        return self._shops.get_or_load(domain, load)

    def holdout_policy(self, shop_id: int, agent: str) -> tuple[float, str]:
        def load() -> tuple[float, str]:
            with self.session() as s:
                row = s.exec(
                    select(HoldoutPolicy).where(
                        HoldoutPolicy.shop_id == shop_id, HoldoutPolicy.agent == agent
                    )
                ).first()
                return (row.share, row.salt) if row else (DEFAULT_SHARE, "")

        return self._policies.get_or_load((shop_id, agent), load)

    def list(self, shop_id: int, scope: str, subject: str, placement: str) -> CachedList | None:
        def load() -> CachedList | None:
            with self.session() as s:
                row = s.exec(
                    select(RecommendationList).where(
                        RecommendationList.shop_id == shop_id,
                        RecommendationList.scope == scope,
                        RecommendationList.subject == subject,
                        RecommendationList.placement == placement,
                    )
                ).first()
                if row is None or row.id is None:
                    return None
                return CachedList(
                    row.id, row.strategy, row.variant, tuple(row.items or ()), row.computed_at.isoformat()
                )

        return self._lists.get_or_load((shop_id, scope, subject, placement), load)


def lookup_chain(
    placement: str, customer_id: int | None, product_id: int | None
) -> list[tuple[str, str, str]]:
    """The precomputed lists to try, most specific first: ``(scope, subject, placement)``."""
    cust = str(customer_id) if customer_id else None
    prod = str(product_id) if product_id else None
    chain: list[tuple[str, str, str]] = []
    if placement == "buy_again":
        return [("customer", cust, "buy_again")] if cust else []
    if placement == "fbt":
        return [("product", prod, "fbt"), ("product", prod, "product")] if prod else []
    if placement in ("product", "post_purchase") and prod:
        chain.append(("product", prod, "product"))
    if cust:
        chain.append(("customer", cust, "home"))
    if placement == "cart" and prod:
        chain.append(("product", prod, "fbt"))
    chain.append(("placement", "", placement if placement in ("cart", "product") else "home"))
    chain.append(("placement", "", "home"))
    chain.append(("placement", "", CONTROL_PLACEMENT))
    seen: set[tuple[str, str, str]] = set()
    return [c for c in chain if not (c in seen or seen.add(c))]


def resolve_recommendations(
    store: ServingStore,
    shop_id: int,
    placement: str,
    *,
    product_id: int | None,
    customer_id: int | None,
    client_id: str | None,
    limit: int,
    exclude: set[int] | None = None,
) -> Served:
    """Pick the precomputed list for this shopper and placement; the holdout group gets the control list."""
    kind, subject = ("customer", str(customer_id)) if customer_id else ("client", client_id or "")
    share, salt = store.holdout_policy(shop_id, AGENT)
    holdout = in_holdout(shop_id, AGENT, kind, subject, share, salt)
    if holdout:
        chain = [] if placement == "buy_again" else [("placement", "", CONTROL_PLACEMENT)]
    else:
        chain = lookup_chain(placement, customer_id, product_id)
    skip = set(exclude or ())
    if product_id:
        skip.add(product_id)
    for scope, subj, plc in chain:
        found = store.list(shop_id, scope, subj, plc)
        if found is None:
            continue
        items = [dict(it) for it in found.items if it.get("product_id") not in skip][:limit]
        if items:
            return Served(
                placement, found.strategy, found.variant, holdout, found.id, items, "", found.computed_at
            )
    return Served(placement, "none", "A", holdout, None, [])


# --- served-list log --------------------------------------------------------------------------


def new_serve_id() -> str:
    return secrets.token_hex(12)


def record_served(
    store: ServingStore, shop_id: int, served: Served, *, subject_kind: str, subject: str
) -> None:
    """Append one served list to the log (Redis first; straight to the table if Redis is down)."""
    entry = {
        "serve_id": served.serve_id,
        "shop_id": shop_id,
        "agent": AGENT,
        "placement": served.placement,
        "subject_kind": subject_kind,
        "subject": subject[:64],
        "list_id": served.list_id,
        "strategy": served.strategy,
        "variant": served.variant,
        "holdout": served.holdout,
        "product_ids": [it.get("product_id") for it in served.items],
        "served_at": datetime.now(UTC).isoformat(),
    }
    try:
        get_redis(store.redis_url).rpush(SERVED_LOG_KEY, json.dumps(entry, separators=(",", ":")))
    except RedisError as exc:
        log.warning("served-list log: Redis unavailable (%s); writing the row directly", exc)
        _insert_entries(store.database_url, [entry])


def _insert_entries(database_url: str, entries: list[dict[str, Any]]) -> int:
    """Insert log entries, skipping serve ids already stored (a retried flush never duplicates)."""
    if not entries:
        return 0
    with Session(get_engine(database_url)) as s:
        ids = [e["serve_id"] for e in entries]
        known = set(s.exec(select(ServedList.serve_id).where(ServedList.serve_id.in_(ids))).all())
        fresh = {e["serve_id"]: e for e in entries if e["serve_id"] not in known}
        for e in fresh.values():
            s.add(ServedList(**{**e, "served_at": datetime.fromisoformat(e["served_at"])}))
        s.commit()
        return len(fresh)


def flush_served_log(database_url: str, redis_url: str | None, batch: int = 1000) -> int:
    """Move logged entries from Redis into ``served_list``; idempotent and safe to run concurrently-ish.

    Entries are read, inserted (deduplicated by ``serve_id``), and only then trimmed from Redis, so a
    crash between the two re-inserts nothing and loses nothing.
    """
    redis = get_redis(redis_url)
    moved = 0
    while True:
        raw = redis.lrange(SERVED_LOG_KEY, 0, batch - 1)
        if not raw:
            return moved
        entries = []
        for item in raw:
            try:
                entries.append(json.loads(item))
            except ValueError:
                log.warning("served-list log: dropping a malformed entry")
        moved += _insert_entries(database_url, entries)
        redis.ltrim(SERVED_LOG_KEY, len(raw), -1)
        if len(raw) < batch:
            return moved
