"""The per-process serving cache: shops, holdout policies and precomputed lists behind the app proxy.

Per process, shops, holdout policies and lists are cached for ``ttl`` seconds: a shop's shop-wide lists
(product and placement scopes) as one snapshot read in one query, each customer's lists as one snapshot
read in one query, so a warm request reads no rows at all. ``ServingStore.warm`` fills those caches in bulk
when a web worker starts, and from then on an expired entry is served while a background thread reloads it
(``ServingStore.refresh_ahead``), so a request never waits on the database for a key it has seen in the
last two ``ttl``; ``ServingStore.check_lists`` expires a shop's lists within ``LIST_CHECK_S`` of a change.
Each cached list keeps the answers rendered from it (``Rendered``), so they leave the cache with it.
Nothing here computes or picks a recommendation (``app.storefront.lists`` picks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from app.db import get_engine
from app.models.serving import HoldoutPolicy, RecommendationList
from app.models.shop import Shop
from app.storefront.holdout import AGENT, GLOBAL, default_share
from app.storefront.served_log import ServedLogBuffer
from app.storefront.ttl_cache import TTLCache, refresher

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
                return (row.share, row.salt) if row else (default_share(agent), "")

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
            for agent in (AGENT, GLOBAL):
                self._policies.put((row.id, agent), policies.get((row.id, agent), (default_share(agent), "")))
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
