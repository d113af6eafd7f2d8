"""The two halves of what the next-basket ranker knows: the shop's, and each customer's own.

``ShopSignals(history)``: everything that needs every customer's orders (the TIFU neighbour pool, item-item cosine
neighbours, repurchase statistics, weekly and recent popularity, product-type best sellers). It is computed when
the ranker is trained and stored with it (``for_serving`` keeps only what a list computed after the training can
read, ``arrays``/``from_arrays`` turn it into plain arrays and back).

``CustomerSignals(baskets, shop)``: everything that depends on one customer's own orders and returns only
(purchase counts and times, their TIFU vector, their trip pattern), computed from whichever customers' orders it
is given, in the shop's item space. Each value of a customer depends only on that customer's rows, so one
customer's signals are the same whether computed alone (a refresh after their order) or among all customers
(training, a whole-shop refresh, the backtest); ``tests/test_recommend_personal.py`` checks it.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from app.recommend.cooccurrence import cosine_item_knn, prune_top_k
from app.recommend.popularity import RecentSales, item_popularity, weekly_popularity
from app.recommend.repeat import item_repurchase
from app.recommend.tifu import user_vectors
from app.recommend.topk import SparseLookup
from app.recommend.transactions import Baskets

TIFU = {"within_decay": 0.9, "group_decay": 0.7, "n_groups": 7}
WEEKS_READ = 13  # the weekly popularity features read the 12 whole weeks before the current one, and it
RECENT_DAYS = 8.0  # the recent-sales features read at most the 7 days before the current day


def _slot(days: np.ndarray) -> np.ndarray:
    """4-hour slot of the day (0..5) of times in days since the epoch (UTC)."""
    return ((np.asarray(days) % 1.0) * 6).astype(np.int64).clip(0, 5)


def _weekday(days: np.ndarray) -> np.ndarray:
    return (np.floor(np.asarray(days)).astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday (3)


def _binary(m: sp.csr_matrix) -> sp.csr_matrix:
    out = m.copy()
    out.data[:] = 1.0
    return out


class ShopSignals:
    """Shop-wide statistics of one history (see the module docstring)."""

    def __init__(
        self, b: Baskets | None = None, n_neighbors: int = 300, knn_k: int = 50, min_knn_buyers: int = 3
    ) -> None:
        if b is None:  # ``from_arrays`` fills it in
            return
        self.n_neighbors = n_neighbors
        self.items, self.titles = b.items, b.titles
        self.categories, self.category_names = b.categories, b.category_names
        vectors = user_vectors(b, **TIFU)
        counts = b.counts()
        self.pool = np.flatnonzero(b.orders_per_customer > 0)
        self.pool_vectors = vectors[self.pool].tocsr()
        self.pool_sq = np.asarray(self.pool_vectors.multiply(self.pool_vectors).sum(axis=1)).ravel()
        self.pool_has = _binary(counts[self.pool].tocsr())
        stats = item_repurchase(b)
        self.repeat_rate, self.interval_days = stats.repeat_rate, stats.interval_days
        self.repeat_buyers, self.shop_repeat_rate = stats.repeat_buyers, stats.shop_repeat_rate
        self.pop = item_popularity(b)
        self.buyers = np.diff(counts.tocsc().indptr).astype(float)
        # item-item cosine over customers, only for items with a few buyers (rare items add cost, not signal)
        keep = (self.buyers >= min_knn_buyers).astype(np.float32)
        binary = (_binary(counts) @ sp.diags(keep)).tocsr()
        binary.eliminate_zeros()
        self.sim = cosine_item_knn(binary, k=knn_k, shrink=10.0)
        self.cum, self.start = weekly_popularity(b)
        self.week_offset = 0  # first week column held in ``cum`` (``for_serving`` drops older ones)
        self.recent = RecentSales(b)
        self.t_ref = float(b.order_time.max()) if b.n_orders else 0.0
        self.cat_share, self.cat_top = self._categories(b)

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def has_categories(self) -> bool:
        return self.cat_top is not None

    def _categories(self, b: Baskets) -> tuple[np.ndarray | None, sp.csr_matrix | None]:
        """Each item's share of its product type's orders; per product type its 10 best sellers."""
        cats = b.category_matrix()
        if cats is None:
            return None, None
        cat_pop = np.asarray(cats.T @ self.pop).ravel()
        known = b.categories >= 0
        share = np.full(b.n_items, np.nan)
        share[known] = self.pop[known] / np.maximum(cat_pop[b.categories[known]], 1.0)
        top = sp.csr_matrix(
            (np.nan_to_num(share[known]), (b.categories[known], np.flatnonzero(known))),
            shape=(cats.shape[1], b.n_items),
        )
        return share, prune_top_k(top, 10)

    # -- reading the weekly counts ----------------------------------------------------------------------------
    def week_of(self, now: np.ndarray) -> np.ndarray:
        last = self.week_offset + self.cum.shape[1] - 1
        week = ((np.asarray(now) - self.start) // 7).astype(np.int64)
        return np.clip(week, self.week_offset + WEEKS_READ - 1 if self.week_offset else 0, last)

    def _col(self, week: np.ndarray | int) -> np.ndarray | int:
        return np.maximum(week, 0) - self.week_offset

    def weeks(self, items: np.ndarray, week: np.ndarray, n: int) -> np.ndarray:
        """Orders of each item in the ``n`` whole weeks before ``week``."""
        lo = np.maximum(week - n, 0)
        return self.cum[items, self._col(week)] - self.cum[items, self._col(lo)]

    def popular_at(self, week: int, n: int) -> np.ndarray:
        """The ``n`` items ordered most in the four weeks before ``week``."""
        recent = self.cum[:, self._col(week)] - self.cum[:, self._col(max(week - 4, 0))]
        top = np.argsort(-recent, kind="stable")[:n]
        return top[recent[top] > 0]

    # -- storing ----------------------------------------------------------------------------------------------
    def for_serving(self) -> ShopSignals:
        """The same signals for lists computed at or after the last order of the history (``t_ref``): older
        weekly columns and recent-sales lines, which such a list never reads, are dropped. Exact for ``now >=
        t_ref`` (earlier times read the oldest weeks kept)."""
        out = ShopSignals()
        out.__dict__.update(self.__dict__)
        keep_from = max(self.cum.shape[1] - WEEKS_READ - 1, 0)
        out.cum = self.cum[:, keep_from:].copy()
        out.week_offset = self.week_offset + keep_from
        out.recent = self.recent.since(np.floor(self.t_ref) - RECENT_DAYS)
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        out = {
            "items": self.items.astype(str),
            "titles": self.titles.astype(str),
            "pool": self.pool,
            "pool_sq": self.pool_sq,
            "repeat_rate": self.repeat_rate,
            "interval_days": self.interval_days,
            "repeat_buyers": self.repeat_buyers,
            "pop": self.pop,
            "buyers": self.buyers,
            "cum": self.cum.astype(np.float32),
            "scalars": np.array(
                [self.n_neighbors, self.start, self.week_offset, self.t_ref, self.shop_repeat_rate], float
            ),
            **_sparse("pool_vectors", self.pool_vectors),
            **_sparse("pool_has", self.pool_has),
            **_sparse("sim", self.sim),
            **{f"recent_{k}": v for k, v in self.recent.arrays().items()},
        }
        if self.categories is not None:
            out["categories"] = self.categories
        if self.category_names is not None:
            out["category_names"] = self.category_names.astype(str)
        if self.cat_top is not None:
            out["cat_share"] = self.cat_share
            out.update(_sparse("cat_top", self.cat_top))
        return out

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray]) -> ShopSignals:
        s = cls()
        s.items, s.titles, s.pool, s.pool_sq = a["items"], a["titles"], a["pool"], a["pool_sq"]
        s.repeat_rate, s.interval_days, s.repeat_buyers = (
            a["repeat_rate"],
            a["interval_days"],
            a["repeat_buyers"],
        )
        s.pop, s.buyers, s.cum = a["pop"], a["buyers"], a["cum"].astype(np.float64)
        n_neighbors, s.start, week_offset, s.t_ref, s.shop_repeat_rate = a["scalars"].tolist()
        s.n_neighbors, s.week_offset = int(n_neighbors), int(week_offset)
        s.pool_vectors, s.pool_has, s.sim = (_unsparse(a, k) for k in ("pool_vectors", "pool_has", "sim"))
        s.recent = RecentSales.from_arrays({k[7:]: v for k, v in a.items() if k.startswith("recent_")})
        s.categories, s.category_names = a.get("categories"), a.get("category_names")
        s.cat_share = a.get("cat_share")
        s.cat_top = _unsparse(a, "cat_top") if "cat_top_data" in a else None
        return s


def _sparse(name: str, m: sp.csr_matrix) -> dict[str, np.ndarray]:
    m = m.tocsr()
    return {
        f"{name}_data": m.data,
        f"{name}_indices": m.indices,
        f"{name}_indptr": m.indptr,
        f"{name}_shape": np.array(m.shape),
    }


def _unsparse(a: dict[str, np.ndarray], name: str) -> sp.csr_matrix:
    shape = tuple(int(x) for x in a[f"{name}_shape"])
    return sp.csr_matrix((a[f"{name}_data"], a[f"{name}_indices"], a[f"{name}_indptr"]), shape=shape)


class CustomerSignals:
    """Per-customer statistics from the customers' own orders and returns, in the shop's item space."""

    def __init__(self, b: Baskets, shop: ShopSignals) -> None:
        self.b = b
        self.own = user_vectors(b, **TIFU)
        counts = b.counts()
        self.counts = counts
        self.count_at = SparseLookup(counts)
        self.last_at = SparseLookup(b.last_time())
        self.first_at = SparseLookup(b.first_time())
        n = b.orders_per_customer
        self.n_orders = n
        pos = b.order_position
        cust_n = n[b.order_customer]
        ind = b.customer_indicator
        bin_orders = b.binary()
        self.in_last = (ind((pos == cust_n - 1).astype(float)) @ bin_orders).tocsr()
        self.in_last_at = SparseLookup(self.in_last)
        self.in_last3_at = SparseLookup((ind((pos >= cust_n - 3).astype(float)) @ bin_orders).tocsr())
        self.in_last10_at = SparseLookup((ind((pos >= cust_n - 10).astype(float)) @ bin_orders).tocsr())
        last_pos, first_pos = _positions(b)
        self.last_pos_at, self.first_pos_at = SparseLookup(last_pos), SparseLookup(first_pos)
        has = n > 0
        self.last_order_time = np.full(b.n_customers, np.nan)
        self.last_order_time[has] = b.order_time[b.cust_ptr[1:][has] - 1]
        first_order_time = np.full(b.n_customers, np.nan)
        first_order_time[has] = b.order_time[b.cust_ptr[:-1][has]]
        self.user_gap = (self.last_order_time - first_order_time) / np.maximum(n - 1, 1)
        self.user_gap[n < 2] = np.nan
        sizes = np.diff(bin_orders.indptr).astype(float)
        self.basket_size = np.bincount(b.order_customer, sizes, b.n_customers) / np.maximum(n, 1)
        # share of each customer's order lines that repeat an item bought in an earlier order
        coo = bin_orders.tocoo()
        cust = b.order_customer[coo.row]
        repeat_line = self.first_at(cust, coo.col) < b.order_time[coo.row]
        later = pos[coo.row] > 0
        n_later = np.bincount(cust[later], minlength=b.n_customers)
        self.repeat_share = np.bincount(cust[later], repeat_line[later], b.n_customers) / np.maximum(
            n_later, 1
        )
        self.repeat_share[n_later == 0] = np.nan
        self.returned = b.returned()
        # time-decayed purchase counts factorise: sum_o 2 ** ((t_o - now) / h) = 2 ** ((t_ref - now) / h) x D_h,
        # with the shop's t_ref (the last order it was trained on), whatever customers are computed together
        self.t_ref = shop.t_ref
        self.decayed_at = {
            h: SparseLookup(ind(2.0 ** ((b.order_time - self.t_ref) / h)) @ bin_orders) for h in (30.0, 120.0)
        }
        # the same decay summed over the customer's orders: item / orders = decayed share of trips with the item
        self.decayed_orders = {
            h: np.bincount(b.order_customer, 2.0 ** ((b.order_time - self.t_ref) / h), b.n_customers)
            for h in (30.0, 120.0)
        }
        self._categories(bin_orders, shop)
        self._time_slots(bin_orders)

    def _time_slots(self, bin_orders: sp.csr_matrix) -> None:
        """Per customer x (4-hour slot | weekday): orders, and orders with each item (trip type: a Friday-evening
        top-up is not the Sunday stock-up)."""
        b = self.b
        slot, weekday = _slot(b.order_time), _weekday(b.order_time)
        ind = b.customer_indicator
        self.slot_items = [SparseLookup(ind((slot == v).astype(float)) @ bin_orders) for v in range(6)]
        self.weekday_items = [SparseLookup(ind((weekday == v).astype(float)) @ bin_orders) for v in range(7)]
        n = b.n_customers
        self.slot_orders = np.zeros((n, 6))
        np.add.at(self.slot_orders, (b.order_customer, slot), 1.0)
        self.weekday_orders = np.zeros((n, 7))
        np.add.at(self.weekday_orders, (b.order_customer, weekday), 1.0)

    def slot_shares(self, cu: np.ndarray, i: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Share of the customer's orders in the slot (weekday) of ``t`` that contained the item."""
        out = []
        for lookups, orders, of in (
            (self.slot_items, self.slot_orders, _slot(t)),
            (self.weekday_items, self.weekday_orders, _weekday(t)),
        ):
            hits = np.zeros(len(cu))
            for v, look in enumerate(lookups):
                m = of == v
                hits[m] = look(cu[m], i[m])
            n = orders[cu, of]
            out.append(np.where(n > 0, hits / np.maximum(n, 1), np.nan))
        return out[0], out[1]

    def _categories(self, bin_orders: sp.csr_matrix, shop: ShopSignals) -> None:
        """How often the customer buys each product type, plain and decayed (120-day half-life)."""
        self.has_categories = shop.has_categories
        if not shop.has_categories:
            return
        b = self.b
        known = np.flatnonzero(shop.categories >= 0)
        cats = sp.csr_matrix(
            (np.ones(len(known), np.float32), (known, shop.categories[known])),
            shape=(shop.n_items, shop.cat_top.shape[0]),
        )
        order_cat = (bin_orders @ cats).tocsr()
        order_cat.data[:] = 1.0
        self.cat_count_at = SparseLookup(b.customer_indicator() @ order_cat)
        self.user_cat_decayed = (
            b.customer_indicator(2.0 ** ((b.order_time - self.t_ref) / 120.0)) @ order_cat
        ).tocsr()
        self.cat_decayed_at = SparseLookup(self.user_cat_decayed)

    def cat_decayed_now(self, cust: np.ndarray, now: np.ndarray) -> sp.csr_matrix:
        """Customer x category: orders with the category, weighted 0.5 ** (age / 120 days) at ``now``."""
        return (sp.diags(2.0 ** ((self.t_ref - now) / 120.0)) @ self.user_cat_decayed[cust]).tocsr()


def _positions(b: Baskets) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Customer x item: 1 + position of the latest, and of the first, order containing the item."""
    coo = b.binary().tocoo()
    pos = b.order_position[coo.row].astype(float) + 1.0
    cust = b.order_customer[coo.row]
    keys = cust.astype(np.int64) * b.n_items + coo.col
    order = np.lexsort((pos, keys))
    keys, pos = keys[order], pos[order]
    ends = np.flatnonzero(np.diff(keys))
    last = np.concatenate([ends, [len(keys) - 1]]) if len(keys) else np.zeros(0, np.int64)
    first = np.concatenate([[0], ends + 1]) if len(keys) else np.zeros(0, np.int64)
    shape = (b.n_customers, b.n_items)
    return tuple(  # type: ignore[return-value]
        sp.csr_matrix((pos[at], (keys[at] // b.n_items, keys[at] % b.n_items)), shape=shape)
        for at in (last, first)
    )
