"""The storefront read path: precomputed lists through a short in-process cache, holdout, served-list log.

Nothing here computes a recommendation. Per process, shops, holdout policies and lists are cached for
``ttl`` seconds: a shop's shop-wide lists (product and placement scopes) as one snapshot read in one query,
each customer's lists as one snapshot read in one query, so a warm request reads no rows at all.
``ServingStore.warm`` fills those caches in bulk when a web worker starts, and from then on an expired
entry is served while a background thread reloads it (``ServingStore.refresh_ahead``), so a request never
waits on the database for a key it has seen in the last two ``ttl``. Each answer's JSON is rendered
once per list × placement × holdout × limit and kept beside the list, so serving it is a byte splice of
the fresh ``serve_id``. Each answer appends one entry to the served-list log in Redis, which
``flush_served_log`` moves into ``served_list`` in batches. Web workers batch those appends too
(``ServingStore.buffer_log``): a background thread pushes what accumulated every ``linger`` seconds and the
worker's exit hook drains the rest, so the request never waits for Redis. A worker killed outright loses
at most ``linger`` seconds of its log entries (never an answer).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from redis.exceptions import RedisError
from sqlalchemy import func
from sqlmodel import Session, select

from app.db import get_engine
from app.models.serving import HoldoutPolicy, RecommendationList, ServedList
from app.models.shop import Shop
from app.queue import get_redis
from app.storefront.holdout import DEFAULT_SHARE, in_holdout
from app.storefront.ttl_cache import TTLCache, refresher

log = logging.getLogger(__name__)

AGENT = "recommendations"
SERVED_LOG_KEY = "attune:served_log"
PLACEMENTS = frozenset({"product", "cart", "home", "assistant", "fbt", "buy_again", "post_purchase", "email"})
CONTROL_PLACEMENT = "popular"  # the non-personalised list the holdout group sees
SHOP_SCOPES = ("placement", "product")  # lists that are the same for every shopper of a shop
MAX_RENDERED_PER_LIST = 64  # rendered answers kept per list (~1 KB each)
# Web workers keep lists this long; a change is picked up by ServingStore.check_lists within LIST_CHECK_S.
LIST_TTL_S = 600.0
LIST_CHECK_S = 2.0


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
    ids: frozenset[Any] = field(init=False, repr=False, compare=False)
    # answers rendered from this list, keyed by placement, holdout, skipped product, limit, JSON style
    rendered: dict[tuple[Any, ...], Rendered] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "ids", frozenset(it.get("product_id") for it in self.items))


def _cached_list(row: RecommendationList) -> CachedList:
    return CachedList(row.id, row.strategy, row.variant, tuple(row.items or ()), row.computed_at.isoformat())


@dataclass(frozen=True)
class Rendered:
    """One answer's JSON around its ``serve_id``, and what the served-list log records about it."""

    placement: str
    strategy: str
    variant: str
    holdout: bool
    list_id: int | None
    product_ids: tuple[Any, ...]
    prefix: bytes
    suffix: bytes

    def body(self, serve_id: str) -> bytes:
        return self.prefix + serve_id.encode("ascii") + self.suffix


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

    @property
    def product_ids(self) -> list[Any]:
        return [it.get("product_id") for it in self.items]


class ServingStore:
    """Cached reads of shops, holdout policies and precomputed lists for one database.

    A shop's shop-wide lists are one snapshot (one query) when there are at most ``snapshot_max`` of
    them; bigger shops fall back to one cached read per list. A customer's lists are one snapshot too.
    """

    def __init__(
        self,
        database_url: str,
        redis_url: str | None,
        ttl: float = 30.0,
        snapshot_max: int = 20_000,
    ) -> None:
        self.database_url, self.redis_url = database_url, redis_url
        self.snapshot_max = snapshot_max
        self._shops = TTLCache(ttl, 10_000)
        self._policies = TTLCache(ttl, 10_000)
        self._lists = TTLCache(ttl, 50_000)
        self._shop_lists = TTLCache(ttl, 256)  # shop id -> {key: CachedList} or None (too many)
        self._customer_lists = TTLCache(ttl, 20_000)  # (shop id, customer) -> {placement: CachedList}
        self._list_versions: dict[int, tuple[Any, ...]] = {}
        self._checking: object | None = None
        self.log_buffer: ServedLogBuffer | None = None

    def buffer_log(self, linger: float = 0.02) -> ServedLogBuffer:
        """Batch this store's served-list log appends from now on (web workers; see the module doc)."""
        if self.log_buffer is None:
            self.log_buffer = ServedLogBuffer(self.database_url, self.redis_url, linger)
        return self.log_buffer

    def session(self) -> Session:
        return Session(get_engine(self.database_url), expire_on_commit=False)

    def _list_caches(self) -> tuple[TTLCache, ...]:
        return (self._lists, self._shop_lists, self._customer_lists)

    def _caches(self) -> tuple[TTLCache, ...]:
        return (self._shops, self._policies, *self._list_caches())

    def refresh_ahead(self, *, list_ttl: float = LIST_TTL_S, check_every: float = LIST_CHECK_S) -> None:
        """Web workers: serve expired entries while a background thread reloads them (see TTLCache), and
        keep lists for ``list_ttl``, reloading a shop's lists as soon as ``check_lists`` (run every
        ``check_every`` seconds on that thread) sees them change."""
        for cache in self._caches():
            cache.refresh_ahead = True
        for cache in self._list_caches():
            cache.ttl = list_ttl
        if self._checking is None:
            self._checking = refresher().every(check_every, self.check_lists)

    def stop_refresh(self) -> None:
        """Stop the periodic list check (a web worker on its way out)."""
        if self._checking is not None:
            refresher().cancel(self._checking)
            self._checking = None

    def check_lists(self) -> list[int]:
        """Expire the cached lists of every shop whose precomputed lists changed since the last look (a
        count and the newest ``computed_at`` per shop: every write of a list stamps it, every removal
        changes the count), and of shops looked at for the first time (their entries may predate it).
        Returns those shops."""

        def shop_of(key: Any) -> Any:
            return key if isinstance(key, int) else key[0]

        shops = {shop_of(k) for cache in self._list_caches() for k in cache.snapshot_keys()}
        if not shops:
            return []
        now = self._versions_of(shops)
        changed = []
        for shop_id in shops:
            version = now[shop_id]
            if self._list_versions.get(shop_id) != version:
                changed.append(shop_id)
            self._list_versions[shop_id] = version
        if changed:
            gone = set(changed)
            for cache in self._list_caches():
                cache.expire_where(lambda key: shop_of(key) in gone)
        return changed

    def clear(self) -> None:
        for cache in self._caches():
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
        if scope == "customer":
            return self._customer_snapshot(shop_id, subject).get(placement)
        snapshot = self._shop_lists.get_or_load(shop_id, lambda: self._load_shop_lists(shop_id))
        if snapshot is not None:
            return snapshot.get((scope, subject, placement))

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
                return _cached_list(row) if row is not None and row.id is not None else None

        return self._lists.get_or_load((shop_id, scope, subject, placement), load)

    def _load_shop_lists(self, shop_id: int) -> dict[tuple[str, str, str], CachedList] | None:
        with self.session() as s:
            rows = s.exec(
                select(RecommendationList)
                .where(RecommendationList.shop_id == shop_id, RecommendationList.scope.in_(SHOP_SCOPES))
                .limit(self.snapshot_max + 1)
            ).all()
        if len(rows) > self.snapshot_max:
            return None
        return {(r.scope, r.subject, r.placement): _cached_list(r) for r in rows if r.id is not None}

    def _customer_snapshot(self, shop_id: int, customer: str) -> dict[str, CachedList]:
        def load() -> dict[str, CachedList]:
            with self.session() as s:
                rows = s.exec(
                    select(RecommendationList).where(
                        RecommendationList.shop_id == shop_id,
                        RecommendationList.scope == "customer",
                        RecommendationList.subject == customer,
                    )
                ).all()
            return {r.placement: _cached_list(r) for r in rows if r.id is not None}

        return self._customer_lists.get_or_load((shop_id, customer), load)

    def _versions_of(self, shops: set[int]) -> dict[int, tuple[int, str | None]]:
        """Each shop's list version: how many lists it has and when the newest was written."""
        with self.session() as s:
            rows = s.exec(
                select(
                    RecommendationList.shop_id,
                    func.count(RecommendationList.id),
                    func.max(RecommendationList.computed_at),
                )
                .where(RecommendationList.shop_id.in_(sorted(shops)))  # type: ignore[attr-defined]
                .group_by(RecommendationList.shop_id)
            ).all()
        found = {shop_id: (count, str(newest)) for shop_id, count, newest in rows}
        return {shop_id: found.get(shop_id, (0, None)) for shop_id in shops}

    def warm(self, *, shops: int = 64, customers: int = 2_000) -> dict[str, int]:
        """Fill the caches in bulk (a web worker calls this at start): installed shops, their holdout
        policies and shop-wide lists, and the lists of up to ``customers`` most recently refreshed
        customers. Returns what was loaded."""
        loaded = {"shops": 0, "shop_lists": 0, "customers": 0}
        with self.session() as s:
            rows = s.exec(select(Shop).order_by(Shop.id)).all()
            installed = [r for r in rows if r.id is not None and r.is_installed][:shops]
            policies = {
                (p.shop_id, p.agent): (p.share, p.salt)
                for p in s.exec(
                    select(HoldoutPolicy).where(HoldoutPolicy.shop_id.in_([r.id for r in installed]))
                ).all()
            }
        if installed:  # before the lists are read: a change made while they load is seen by check_lists
            self._list_versions.update(self._versions_of({r.id for r in installed if r.id is not None}))
        for row in installed:
            self._shops.put(row.domain, ShopRef(row.id, row.domain, True))
            self._policies.put((row.id, AGENT), policies.get((row.id, AGENT), (DEFAULT_SHARE, "")))
            snapshot = self._load_shop_lists(row.id)
            self._shop_lists.put(row.id, snapshot)
            loaded["shops"] += 1
            loaded["shop_lists"] += len(snapshot or ())
        if installed and customers > 0:
            ids = [r.id for r in installed]
            with self.session() as s:
                recent = s.exec(
                    select(RecommendationList.shop_id, RecommendationList.subject)
                    .where(RecommendationList.shop_id.in_(ids), RecommendationList.scope == "customer")
                    .group_by(RecommendationList.shop_id, RecommendationList.subject)
                    .order_by(func.max(RecommendationList.computed_at).desc())
                    .limit(customers)
                ).all()
                by_customer: dict[tuple[int, str], dict[str, CachedList]] = {
                    (shop_id, subject): {} for shop_id, subject in recent
                }
                for shop_id in ids:
                    subjects = [subject for sid, subject in recent if sid == shop_id]
                    for at in range(0, len(subjects), 500):
                        for r in s.exec(
                            select(RecommendationList).where(
                                RecommendationList.shop_id == shop_id,
                                RecommendationList.scope == "customer",
                                RecommendationList.subject.in_(subjects[at : at + 500]),
                            )
                        ):
                            if r.id is not None:
                                by_customer[(shop_id, r.subject)][r.placement] = _cached_list(r)
            for key, lists in by_customer.items():
                self._customer_lists.put(key, lists)
            loaded["customers"] = len(by_customer)
        return loaded


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


def _choose(
    store: ServingStore,
    shop_id: int,
    placement: str,
    product_id: int | None,
    customer_id: int | None,
    client_id: str | None,
    skip: set[Any],
) -> tuple[bool, CachedList | None]:
    """Holdout, and the first list of the lookup chain with something left to show."""
    kind, subject = ("customer", str(customer_id)) if customer_id else ("client", client_id or "")
    share, salt = store.holdout_policy(shop_id, AGENT)
    holdout = in_holdout(shop_id, AGENT, kind, subject, share, salt)
    if holdout:
        chain = [] if placement == "buy_again" else [("placement", "", CONTROL_PLACEMENT)]
    else:
        chain = lookup_chain(placement, customer_id, product_id)
    for scope, subj, plc in chain:
        found = store.list(shop_id, scope, subj, plc)
        if found is not None and any(it.get("product_id") not in skip for it in found.items):
            return holdout, found
    return holdout, None


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
    skip = set(exclude or ())
    if product_id:
        skip.add(product_id)
    holdout, found = _choose(store, shop_id, placement, product_id, customer_id, client_id, skip)
    if found is None:
        return Served(placement, "none", "A", holdout, None, [])
    items = [dict(it) for it in found.items if it.get("product_id") not in skip][:limit]
    return Served(placement, found.strategy, found.variant, holdout, found.id, items, "", found.computed_at)


_SERVE_ID_MARK = "serve-id-" + secrets.token_hex(16)  # never in real data: random per process
_NOTHING = CachedList(0, "none", "A", (), "")  # where "no list" answers are memoised


def resolve_rendered(
    store: ServingStore,
    shop_id: int,
    placement: str,
    *,
    product_id: int | None,
    customer_id: int | None,
    client_id: str | None,
    limit: int,
    dumps: Callable[[dict[str, Any]], str],
    style: Any = None,
) -> Rendered:
    """``resolve_recommendations`` already serialised by ``dumps``: rendered once per list and key, then
    reused until the list leaves the cache. ``style`` names how ``dumps`` formats (part of the key)."""
    skip = {product_id} if product_id else set()
    holdout, found = _choose(store, shop_id, placement, product_id, customer_id, client_id, skip)
    owner = found if found is not None else _NOTHING
    key = (placement, holdout, product_id if product_id in owner.ids else None, limit, style)
    hit = owner.rendered.get(key)
    if hit is not None:
        return hit
    if found is None:
        served = Served(placement, "none", "A", holdout, None, [])
    else:
        items = [dict(it) for it in found.items if it.get("product_id") not in skip][:limit]
        served = Served(
            placement, found.strategy, found.variant, holdout, found.id, items, "", found.computed_at
        )
    served.serve_id = _SERVE_ID_MARK
    prefix, suffix = dumps(served.as_json()).rsplit(_SERVE_ID_MARK, 1)
    rendered = Rendered(
        placement,
        served.strategy,
        served.variant,
        holdout,
        served.list_id,
        tuple(served.product_ids),
        prefix.encode("utf-8"),
        suffix.encode("utf-8"),
    )
    if len(owner.rendered) >= MAX_RENDERED_PER_LIST:
        owner.rendered.clear()
    owner.rendered[key] = rendered
    return rendered


# --- served-list log --------------------------------------------------------------------------


def new_serve_id() -> str:
    return secrets.token_hex(12)


def record_served(
    store: ServingStore,
    shop_id: int,
    served: Served | Rendered,
    *,
    subject_kind: str,
    subject: str,
    serve_id: str | None = None,
) -> None:
    """Append one served list to the log (Redis first; straight to the table if Redis is down)."""
    entry = {
        "serve_id": serve_id or getattr(served, "serve_id", ""),
        "shop_id": shop_id,
        "agent": AGENT,
        "placement": served.placement,
        "subject_kind": subject_kind,
        "subject": subject[:64],
        "list_id": served.list_id,
        "strategy": served.strategy,
        "variant": served.variant,
        "holdout": served.holdout,
        "product_ids": list(served.product_ids),
        "served_at": datetime.now(UTC).isoformat(),
    }
    if store.log_buffer is not None:
        store.log_buffer.add(entry)
        return
    _push_entries(store.database_url, store.redis_url, [entry])


def _push_entries(database_url: str, redis_url: str | None, entries: list[dict[str, Any]]) -> None:
    try:
        get_redis(redis_url).rpush(SERVED_LOG_KEY, *(orjson.dumps(e) for e in entries))
    except RedisError as exc:
        log.warning("served-list log: Redis unavailable (%s); writing the rows directly", exc)
        _insert_entries(database_url, entries)


class ServedLogBuffer:
    """Served-list log entries on their way to Redis: appended by requests, pushed in batches by a
    daemon thread every ``linger`` seconds, drained by ``flush`` (worker exit, and at interpreter exit)."""

    def __init__(self, database_url: str, redis_url: str | None, linger: float = 0.02) -> None:
        self.database_url, self.redis_url, self.linger = database_url, redis_url, linger
        self._entries: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._push_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0
        atexit.register(self.flush)

    def add(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._entries.append(entry)
            first = len(self._entries) == 1
        if first:
            if self._pid != os.getpid():  # started lazily, and again in a forked child
                self._start()
            self._wake.set()

    def flush(self) -> int:
        """Push everything buffered now; returns how many entries were pushed. Waits for a push already
        under way, so once it returns (the worker exit hook) nothing is left in flight."""
        with self._push_lock:
            with self._lock:
                entries, self._entries = self._entries, []
            if entries:
                _push_entries(self.database_url, self.redis_url, entries)
            return len(entries)

    def pending(self) -> int:
        with self._lock:
            return len(self._entries)

    def _start(self) -> None:
        self._pid = os.getpid()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="served-log", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(self.linger)  # let a batch gather
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # the log must never take the worker down
                log.exception("served-list log: flush failed")


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
