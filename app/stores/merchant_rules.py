"""Merchant pins and excludes per placement (``merchant_rule``): reading them for the list refresh, and
replacing them for the admin API, which then queues the shop's list refresh after the commit.

Pins put products first in a placement's lists, in the merchant's order (the blender still drops pinned
products that are out of stock, excluded or returned by the shopper); excludes keep products out of a
placement, or out of every list with the placement ``"all"``.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, delete, select

from app.models.merchandising import ALL_PLACEMENTS, RULE_KINDS, MerchantRule

MAX_PER_LIST = 50


# The placements with precomputed lists of their own (``app.recommend.lists.compute_lists``). The storefront's
# cart, email and post-purchase requests are answered from these lists (``app.storefront.lists.lookup_chain``),
# so a rule for them would never be seen: they are refused rather than silently ignored.
RULE_PLACEMENTS = ("product", "fbt", "home", "buy_again")


def placements_for(kind: str) -> tuple[str, ...]:
    """Where a rule of ``kind`` may apply: the placements with lists of their own, and ``all`` for excludes."""
    return RULE_PLACEMENTS + ((ALL_PLACEMENTS,) if kind == "exclude" else ())


def load_rules(session: Session, shop_id: int) -> tuple[dict[str, list[str]], dict[str, set[str]]]:
    """(pins: placement → product ids in order, excludes: placement or ``all`` → product ids)."""
    rows = session.exec(
        select(MerchantRule)
        .where(MerchantRule.shop_id == shop_id)
        .order_by(MerchantRule.placement, MerchantRule.kind, MerchantRule.position, MerchantRule.id)  # type: ignore[arg-type]
    ).all()
    pins: dict[str, list[str]] = {}
    excludes: dict[str, set[str]] = {}
    for r in rows:
        if r.kind == "pin":
            pins.setdefault(r.placement, []).append(str(r.product_shopify_id))
        elif r.kind == "exclude":
            excludes.setdefault(r.placement, set()).add(str(r.product_shopify_id))
    return pins, excludes


def list_rules(session: Session, shop_id: int) -> dict[str, dict[str, list[str]]]:
    """placement → {"pins": [...], "excludes": [...]} (ids as strings; excludes sorted), placements with rules."""
    pins, excludes = load_rules(session, shop_id)
    out: dict[str, dict[str, list[str]]] = {}
    for placement in sorted(set(pins) | set(excludes)):
        out[placement] = {
            "pins": pins.get(placement, []),
            "excludes": sorted(excludes.get(placement, set()), key=int),
        }
    return out


def replace_rules(
    session: Session, shop_id: int, placement: str, kind: str, product_ids: Sequence[int]
) -> None:
    """Make ``product_ids`` (in order, duplicates dropped) the shop's ``kind`` rules for ``placement``."""
    if kind not in RULE_KINDS or placement not in placements_for(kind):
        raise ValueError(f"no {kind} rules for placement {placement!r}")
    session.exec(  # type: ignore[call-overload]
        delete(MerchantRule).where(
            MerchantRule.shop_id == shop_id, MerchantRule.placement == placement, MerchantRule.kind == kind
        )
    )
    session.flush()
    for position, pid in enumerate(dict.fromkeys(int(p) for p in product_ids)):
        session.add(
            MerchantRule(
                shop_id=shop_id, placement=placement, kind=kind, product_shopify_id=pid, position=position
            )
        )


def delete_rule(session: Session, shop_id: int, placement: str, kind: str, product_id: int) -> bool:
    """Remove one rule; False when there was none."""
    row = session.exec(
        select(MerchantRule).where(
            MerchantRule.shop_id == shop_id,
            MerchantRule.placement == placement,
            MerchantRule.kind == kind,
            MerchantRule.product_shopify_id == product_id,
        )
    ).first()
    if row is None:
        return False
    session.delete(row)
    return True
