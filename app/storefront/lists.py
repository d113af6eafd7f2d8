"""Which precomputed list answers a storefront request: holdout assignment, then the lookup chain.

The shopper's holdout bucket (``app.storefront.holdout``, under the shop's policy for ``AGENT``) decides
first: a held-out shopper sees only the non-personalised control list (``CONTROL_PLACEMENT``); anyone else
gets the first list of ``lookup_chain`` with something left to show. ``resolve_rendered`` renders each
answer's JSON once per list × placement × holdout × limit and keeps it beside the list in the serving cache
(``CachedList.rendered``), so serving it is a byte splice of the fresh ``serve_id``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.storefront.cache import MAX_RENDERED_PER_LIST, CachedList, Rendered, ServingStore
from app.storefront.holdout import AGENT, GLOBAL, in_global_holdout, in_holdout

PLACEMENTS = frozenset({"product", "cart", "home", "assistant", "fbt", "buy_again", "post_purchase", "email"})
CONTROL_PLACEMENT = "popular"  # the non-personalised list the holdout group sees


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
    holdout = in_global_holdout(shop_id, kind, subject, *store.holdout_policy(shop_id, GLOBAL)) or in_holdout(
        shop_id, AGENT, kind, subject, share, salt
    )
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
