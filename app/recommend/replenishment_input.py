"""Purchase lines → clean purchase days per customer × product, the input of the consumption model.

Rules (issue 17, "bad input"): returns and cancellations never count as consumption (a negative quantity nets
against the pair's latest purchase at or before it, and a purchase netted to zero is dropped); zero quantities,
non-finite times and repeated order lines (the same order id twice) are dropped; lines of one pair on the same
UTC day, whatever their order or clock skew, make one purchase day with the summed quantity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PurchaseDays:
    """Purchase days sorted by (pair, day). Pair ``k`` owns rows ``ptr[k]:ptr[k+1]``.

    ``customers``/``products`` hold the ids; ``pair_customer``/``pair_product`` index them. ``day`` is an integer
    day number (days since the Unix epoch), ``quantity`` the units bought that day (> 0).
    """

    customers: np.ndarray
    products: np.ndarray
    pair_customer: np.ndarray
    pair_product: np.ndarray
    ptr: np.ndarray
    day: np.ndarray
    quantity: np.ndarray

    @property
    def n_pairs(self) -> int:
        return len(self.pair_customer)

    @property
    def n_days(self) -> np.ndarray:
        """Purchase days per pair."""
        return np.diff(self.ptr)

    @property
    def row_pair(self) -> np.ndarray:
        return np.repeat(np.arange(self.n_pairs), self.n_days)

    def last_day(self) -> np.ndarray:
        return self.day[self.ptr[1:] - 1] if self.n_pairs else np.zeros(0, np.int64)

    def last_quantity(self) -> np.ndarray:
        return self.quantity[self.ptr[1:] - 1] if self.n_pairs else np.zeros(0)


def purchase_days(
    customer: np.ndarray,
    product: np.ndarray,
    at_days: np.ndarray,
    quantity: np.ndarray,
    order_id: np.ndarray | None = None,
) -> PurchaseDays:
    """Clean order lines (times in float days since the epoch) into :class:`PurchaseDays`."""
    customer = np.asarray(customer).astype(str)
    product = np.asarray(product).astype(str)
    at = np.asarray(at_days, dtype=float)
    qty = np.asarray(quantity, dtype=float)
    if not (len(customer) == len(product) == len(at) == len(qty)):
        raise ValueError("customer, product, at_days and quantity must have the same length")
    ok = np.isfinite(at) & np.isfinite(qty) & (qty != 0)
    if order_id is not None:
        oid = np.asarray(order_id).astype(str)
        if len(oid) != len(at):
            raise ValueError("order_id must have the same length as the other columns")
        ok &= _first_of_repeated_lines(customer, product, oid, qty, at)
    customer, product, at, qty = customer[ok], product[ok], at[ok], qty[ok]
    customers, cust_idx = np.unique(customer, return_inverse=True)
    products, prod_idx = np.unique(product, return_inverse=True)
    day = np.floor(at).astype(np.int64)
    bought = qty > 0
    key = cust_idx.astype(np.int64) * max(len(products), 1) + prod_idx
    # one purchase day per (pair, day): sum the units
    bkey, bday, bqty = key[bought], day[bought], qty[bought]
    order = np.lexsort((bday, bkey))
    bkey, bday, bqty = bkey[order], bday[order], bqty[order]
    new = np.ones(len(bkey), bool)
    new[1:] = (bkey[1:] != bkey[:-1]) | (bday[1:] != bday[:-1])
    starts = np.flatnonzero(new)
    ukey, uday = bkey[starts], bday[starts]
    uqty = np.add.reduceat(bqty, starts) if len(starts) else np.zeros(0)
    if (~bought).any() and len(ukey):
        uqty = _net_returns(ukey, uday, uqty, key[~bought], day[~bought], -qty[~bought])
    keep = uqty > 0
    ukey, uday, uqty = ukey[keep], uday[keep], uqty[keep]
    pair_start = np.flatnonzero(np.r_[True, ukey[1:] != ukey[:-1]]) if len(ukey) else np.zeros(0, np.int64)
    pair_keys = ukey[pair_start]
    n_prod = max(len(products), 1)
    return PurchaseDays(
        customers=customers,
        products=products,
        pair_customer=(pair_keys // n_prod).astype(np.int64),
        pair_product=(pair_keys % n_prod).astype(np.int64),
        ptr=np.r_[pair_start, len(ukey)].astype(np.int64),
        day=uday,
        quantity=uqty,
    )


def _first_of_repeated_lines(
    customer: np.ndarray, product: np.ndarray, oid: np.ndarray, qty: np.ndarray, at: np.ndarray
) -> np.ndarray:
    """True for the earliest of identical (customer, order, product, quantity) lines: a redelivered order counts
    once, whatever time a skewed clock gave the copy."""
    cols = [np.unique(c, return_inverse=True)[1] for c in (customer, oid, product, qty)]
    order = np.lexsort([at, *cols[::-1]])
    same = np.ones(len(order) - 1, bool) if len(order) else np.zeros(0, bool)
    for c in cols:
        same &= c[order][1:] == c[order][:-1]
    mask = np.ones(len(order), bool)
    mask[order[1:][same]] = False
    return mask


def _net_returns(
    ukey: np.ndarray, uday: np.ndarray, uqty: np.ndarray, rkey: np.ndarray, rday: np.ndarray, rqty: np.ndarray
) -> np.ndarray:
    """Subtract returned units from the pair's latest purchase day at or before the return (else its first)."""
    uqty = uqty.copy()
    for k, d, q in zip(rkey, rday, rqty, strict=True):
        lo = np.searchsorted(ukey, k, "left")
        hi = np.searchsorted(ukey, k, "right")
        if lo == hi:
            continue  # a return of something never bought here: nothing to undo
        pos = np.searchsorted(uday[lo:hi], d, "right") - 1
        i = lo + max(int(pos), 0)
        while q > 0 and i >= lo:
            take = min(q, uqty[i])
            uqty[i] -= take
            q -= take
            i -= 1
    return uqty


def select_rows(days: PurchaseDays, rows: np.ndarray) -> tuple[PurchaseDays, np.ndarray]:
    """The purchase days where ``rows`` is true, and the indices (in ``days``) of the pairs that keep any."""
    counts = (
        np.bincount(days.row_pair[rows], minlength=days.n_pairs) if days.n_pairs else np.zeros(0, np.int64)
    )
    kept = np.flatnonzero(counts > 0)
    selected = PurchaseDays(
        customers=days.customers,
        products=days.products,
        pair_customer=days.pair_customer[kept],
        pair_product=days.pair_product[kept],
        ptr=np.r_[0, np.cumsum(counts[kept])].astype(np.int64),
        day=days.day[rows],
        quantity=days.quantity[rows],
    )
    return selected, kept


def customer_days(days: PurchaseDays) -> PurchaseDays:
    """Each shopper's distinct order days (any product) as one pair per shopper with the product ``*``."""
    span = int(days.day.max()) + 1 if len(days.day) else 1
    key = np.unique(days.pair_customer[days.row_pair].astype(np.int64) * span + days.day)
    cust, day = key // span, key % span
    starts = np.flatnonzero(np.r_[True, cust[1:] != cust[:-1]]) if len(cust) else np.zeros(0, np.int64)
    return PurchaseDays(
        customers=days.customers,
        products=np.array(["*"]),
        pair_customer=cust[starts],
        pair_product=np.zeros(len(starts), np.int64),
        ptr=np.r_[starts, len(cust)].astype(np.int64),
        day=day,
        quantity=np.ones(len(day)),
    )


def median_quantity(days: PurchaseDays) -> np.ndarray:
    """The pair's (lower) median units per purchase day."""
    if not days.n_pairs:
        return np.zeros(0)
    order = np.lexsort((days.quantity, days.row_pair))
    middle = days.ptr[:-1] + (days.n_days - 1) // 2
    return days.quantity[order][middle]
