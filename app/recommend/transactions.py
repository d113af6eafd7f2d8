"""Order history as compact arrays: customers, items and orders indexed 0..n-1, baskets as a sparse matrix."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

DAY = 86400.0


@dataclass
class Baskets:
    """Orders sorted by (customer, time, order id); ``matrix[o, i]`` is the quantity of item ``i`` in order ``o``.

    Returns (negative quantities) are kept apart as lines (customer, item, quantity > 0, time in days).
    Times are float days since the Unix epoch. Customer and item index spaces are shared by every split.
    """

    customers: np.ndarray
    items: np.ndarray
    titles: np.ndarray
    matrix: sp.csr_matrix
    order_customer: np.ndarray
    order_time: np.ndarray
    order_ids: np.ndarray
    ret_customer: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    ret_item: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    ret_qty: np.ndarray = field(default_factory=lambda: np.zeros(0))
    ret_time: np.ndarray = field(default_factory=lambda: np.zeros(0))
    categories: np.ndarray | None = None  # per item: product type code, -1 = unknown
    category_names: np.ndarray | None = None  # per product type code: its name

    def category_matrix(self) -> sp.csr_matrix | None:
        """Item x category 0/1 (None when no item has a known category)."""
        if self.categories is None or not (self.categories >= 0).any():
            return None
        known = np.flatnonzero(self.categories >= 0)
        return sp.csr_matrix(
            (np.ones(len(known), np.float32), (known, self.categories[known])),
            shape=(self.n_items, int(self.categories.max()) + 1),
        )

    @property
    def n_customers(self) -> int:
        return len(self.customers)

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def n_orders(self) -> int:
        return self.matrix.shape[0]

    @property
    def cust_ptr(self) -> np.ndarray:
        """Orders of customer ``c`` are rows ``cust_ptr[c]:cust_ptr[c+1]``."""
        counts = np.bincount(self.order_customer, minlength=self.n_customers)
        return np.concatenate([[0], np.cumsum(counts)])

    @property
    def orders_per_customer(self) -> np.ndarray:
        return np.bincount(self.order_customer, minlength=self.n_customers)

    @property
    def order_position(self) -> np.ndarray:
        """0-based position of each order within its customer's history."""
        return np.arange(self.n_orders) - self.cust_ptr[self.order_customer]

    def binary(self) -> sp.csr_matrix:
        """Order x item 0/1 matrix."""
        b = self.matrix.copy()
        b.data = np.ones_like(b.data, dtype=np.float32)
        return b

    def customer_indicator(self, weights: np.ndarray | None = None) -> sp.csr_matrix:
        """Customer x order matrix (optionally weighted) to aggregate orders per customer."""
        w = np.ones(self.n_orders, np.float32) if weights is None else weights.astype(np.float32)
        return sp.csr_matrix(
            (w, (self.order_customer, np.arange(self.n_orders))), shape=(self.n_customers, self.n_orders)
        )

    def counts(self) -> sp.csr_matrix:
        """Customer x item: in how many orders the customer bought the item."""
        return (self.customer_indicator() @ self.binary()).tocsr()

    def returned(self) -> sp.csr_matrix:
        """Customer x item 0/1: items whose returns add up to at least what the customer bought (net <= 0)."""
        if not len(self.ret_item):
            return sp.csr_matrix((self.n_customers, self.n_items), dtype=np.float32)
        bought = (self.customer_indicator() @ self.matrix).tocsr()
        back = sp.csr_matrix(
            (self.ret_qty, (self.ret_customer, self.ret_item)), shape=(self.n_customers, self.n_items)
        )
        rows, cols = back.nonzero()
        net = np.asarray(bought[rows, cols]).ravel() - np.asarray(back[rows, cols]).ravel()
        keep = net <= 0
        return sp.csr_matrix(
            (np.ones(keep.sum(), np.float32), (rows[keep], cols[keep])),
            shape=(self.n_customers, self.n_items),
        )

    def last_time(self) -> sp.csr_matrix:
        """Customer x item: time (days) of the latest order containing the item."""
        return self._last_or_first(last=True)

    def first_time(self) -> sp.csr_matrix:
        return self._last_or_first(last=False)

    def _last_or_first(self, last: bool) -> sp.csr_matrix:
        coo = self.matrix.tocoo()
        cust = self.order_customer[coo.row].astype(np.int64)
        keys = cust * self.n_items + coo.col
        t = self.order_time[coo.row]
        order = np.lexsort((t, keys))
        keys, t = keys[order], t[order]
        boundary = np.flatnonzero(np.diff(keys)) if last else np.flatnonzero(np.diff(keys)) + 1
        pick = np.concatenate([boundary, [len(keys) - 1]]) if last else np.concatenate([[0], boundary])
        if not len(keys):
            pick = np.zeros(0, np.int64)
        k = keys[pick]
        return sp.csr_matrix(
            (t[pick], (k // self.n_items, k % self.n_items)), shape=(self.n_customers, self.n_items)
        )

    def select(self, keep: np.ndarray, return_cutoff: np.ndarray | None = None) -> Baskets:
        """The orders where ``keep`` is true; returns only before ``return_cutoff[customer]`` (days)."""
        rmask = np.ones(len(self.ret_item), bool)
        if return_cutoff is not None:
            rmask = self.ret_time < return_cutoff[self.ret_customer]
        return Baskets(
            customers=self.customers,
            items=self.items,
            titles=self.titles,
            matrix=self.matrix[keep],
            order_customer=self.order_customer[keep],
            order_time=self.order_time[keep],
            order_ids=self.order_ids[keep],
            ret_customer=self.ret_customer[rmask],
            ret_item=self.ret_item[rmask],
            ret_qty=self.ret_qty[rmask],
            ret_time=self.ret_time[rmask],
            categories=self.categories,
            category_names=self.category_names,
        )

    def of_customers(self, customers: np.ndarray) -> Baskets:
        """Only these customers' orders and returns, the customers re-indexed 0..len-1 in the given order (the
        items keep their indices)."""
        customers = np.asarray(customers, np.int64)
        new = np.full(self.n_customers, -1, np.int64)
        new[customers] = np.arange(len(customers))
        ptr = self.cust_ptr
        orders = np.concatenate([np.arange(ptr[c], ptr[c + 1]) for c in customers]) if len(customers) else []
        orders = np.asarray(orders, np.int64)
        back = np.flatnonzero(new[self.ret_customer] >= 0)
        return Baskets(
            customers=self.customers[customers],
            items=self.items,
            titles=self.titles,
            matrix=self.matrix[orders],
            order_customer=new[self.order_customer[orders]].astype(np.int32),
            order_time=self.order_time[orders],
            order_ids=self.order_ids[orders],
            ret_customer=new[self.ret_customer[back]].astype(np.int32),
            ret_item=self.ret_item[back],
            ret_qty=self.ret_qty[back],
            ret_time=self.ret_time[back],
            categories=self.categories,
            category_names=self.category_names,
        )

    def split_last(self, min_orders: int = 2) -> tuple[Baskets, Split]:
        """Hold out each customer's last order (customers with >= ``min_orders`` orders); the rest is history."""
        n = self.orders_per_customer
        last = self.cust_ptr[1:] - 1
        eligible = np.flatnonzero(n >= min_orders)
        target_rows = last[eligible]
        keep = np.ones(self.n_orders, bool)
        keep[target_rows] = False
        cutoff = np.full(self.n_customers, np.inf)
        cutoff[eligible] = self.order_time[target_rows]
        split = Split(
            customers=eligible.astype(np.int32),
            targets=self.binary()[target_rows],
            times=self.order_time[target_rows],
        )
        return self.select(keep, cutoff), split


@dataclass
class Split:
    """Held-out orders: ``targets[k]`` (0/1 over items) is the next order of ``customers[k]`` at ``times[k]``."""

    customers: np.ndarray
    targets: sp.csr_matrix
    times: np.ndarray

    def target_lists(self) -> list[np.ndarray]:
        t = self.targets
        return [t.indices[t.indptr[k] : t.indptr[k + 1]] for k in range(t.shape[0])]


@dataclass
class PurchaseLines:
    """A shop's order lines (quantity > 0) and returned lines (quantity < 0) as plain arrays, one entry per
    line: what ``build_baskets`` indexes. Stores load them from the mirror, the backtest from a CSV."""

    customers: np.ndarray
    orders: np.ndarray
    days: np.ndarray
    products: np.ndarray
    quantities: np.ndarray
    titles: np.ndarray | None = None
    types: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.customers)

    def baskets(self, catalogue: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None = None) -> Baskets:
        return build_baskets(
            self.customers,
            self.orders,
            self.days,
            self.products,
            self.quantities,
            self.titles,
            self.types,
            catalogue=catalogue,
        )


def build_baskets(
    customer_ids: np.ndarray,
    order_ids: np.ndarray,
    times_days: np.ndarray,
    product_ids: np.ndarray,
    quantities: np.ndarray,
    titles: np.ndarray | None = None,
    categories: np.ndarray | None = None,
    *,
    catalogue: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None = None,
) -> Baskets:
    """Index raw order lines. An order is an order id with a positive line; negative lines are returns.
    ``categories`` (per line, e.g. the product type; empty = unknown) become per-item category codes.
    ``catalogue`` = (items, titles, categories) of a fitted model: index the lines in that item space instead
    (lines of other items are dropped; ``titles`` and ``categories`` are then ignored)."""
    customer_ids = np.asarray(customer_ids).astype(str)
    order_ids = np.asarray(order_ids).astype(str)
    product_ids = np.asarray(product_ids).astype(str)
    times_days = np.asarray(times_days, dtype=np.float64)
    quantities = np.asarray(quantities, dtype=np.float64)
    if catalogue is not None:
        return _in_catalogue(customer_ids, order_ids, times_days, product_ids, quantities, catalogue)
    customers, cust = np.unique(customer_ids, return_inverse=True)
    items, item = np.unique(product_ids, return_inverse=True)
    if titles is None:
        item_titles = items.copy()
    else:
        first = np.unique(item, return_index=True)[1]
        item_titles = np.asarray(titles).astype(str)[first]
    item_categories = category_names = None
    if categories is not None:
        first = np.unique(item, return_index=True)[1]
        names = np.asarray(categories).astype(str)[first]
        known = (names != "") & (names != "nan")
        category_names, codes = np.unique(names[known], return_inverse=True)
        item_categories = np.full(len(items), -1, np.int64)
        item_categories[known] = codes
    out = _indexed(
        customers, cust, items, item, item_titles, item_categories, order_ids, times_days, quantities
    )
    out.category_names = category_names
    return out


def _in_catalogue(
    customer_ids: np.ndarray,
    order_ids: np.ndarray,
    times_days: np.ndarray,
    product_ids: np.ndarray,
    quantities: np.ndarray,
    catalogue: tuple[np.ndarray, np.ndarray, np.ndarray | None],
) -> Baskets:
    items, titles, categories = catalogue
    at = np.minimum(np.searchsorted(items, product_ids), max(len(items) - 1, 0))
    known = (items[at] == product_ids) if len(items) else np.zeros(len(product_ids), bool)
    customers, cust = np.unique(customer_ids[known], return_inverse=True)
    return _indexed(
        customers,
        cust,
        items,
        at[known],
        titles,
        categories,
        order_ids[known],
        times_days[known],
        quantities[known],
    )


def _indexed(
    customers: np.ndarray,
    cust: np.ndarray,
    items: np.ndarray,
    item: np.ndarray,
    item_titles: np.ndarray,
    item_categories: np.ndarray | None,
    order_ids: np.ndarray,
    times_days: np.ndarray,
    quantities: np.ndarray,
) -> Baskets:
    pos = quantities > 0
    oid_vals, oid = np.unique(order_ids[pos], return_inverse=True)
    n_orders = len(oid_vals)
    o_cust = np.zeros(n_orders, np.int64)
    o_time = np.full(n_orders, np.inf)
    o_cust[oid] = cust[pos]
    np.minimum.at(o_time, oid, times_days[pos])
    order = np.lexsort((np.arange(n_orders), o_time, o_cust))  # oid_vals are sorted, so arange ranks ids
    rank = np.empty(n_orders, np.int64)
    rank[order] = np.arange(n_orders)
    matrix = sp.csr_matrix(
        (quantities[pos], (rank[oid], item[pos])), shape=(n_orders, len(items)), dtype=np.float32
    )
    matrix.sum_duplicates()
    neg = quantities < 0
    return Baskets(
        customers=customers,
        items=items,
        titles=item_titles,
        matrix=matrix,
        order_customer=o_cust[order].astype(np.int32),
        order_time=o_time[order],
        order_ids=oid_vals[order],
        ret_customer=cust[neg].astype(np.int32),
        ret_item=item[neg].astype(np.int32),
        ret_qty=-quantities[neg],
        ret_time=times_days[neg],
        categories=item_categories,
    )
