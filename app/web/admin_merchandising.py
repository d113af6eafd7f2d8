"""Embedded-admin merchandising (session-token auth, every query scoped by ``g.shop.id``):

- ``GET /api/admin/interests``: the shop's inferred interests (use cases), each with its name, the words it
  was named after and its products; ``POST /api/admin/interests/refresh`` queues a new inference.
- ``GET /api/admin/customers/<id>/interests``: the interests one customer has shown (two or more of an
  interest's products bought), strongest first: what their "For your interest in …" reasons come from.
- ``GET /api/admin/merchandising``: pins and excludes of every placement, and the placements that take them.
- ``PUT /api/admin/merchandising/<placement>`` with ``{"pins": [ids], "excludes": [ids]}``: replaces the
  given kinds for that placement (a key left out is left as it is; an empty list clears it).
- ``DELETE /api/admin/merchandising/<placement>/<pins|excludes>/<product id>``: removes one rule.

Every change queues the shop's list refresh after its commit, so the storefront serves the new lists within
one refresh. Product ids are Shopify ids, returned as strings (they exceed JavaScript's exact integers).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, g, jsonify, request
from sqlmodel import Session, select

from app import tasks
from app.db import after_commit, get_engine
from app.models.commerce import Order, OrderLine, Product
from app.models.merchandising import ShopInterest
from app.recommend.interests import shopper_interests
from app.stores.interests import load_interests
from app.stores.merchant_rules import MAX_PER_LIST, delete_rule, list_rules, placements_for, replace_rules
from app.web import settings
from app.web.session_auth import require_session_token

bp = Blueprint("admin_merchandising", __name__)

KIND_OF = {"pins": "pin", "excludes": "exclude"}
MAX_ID = 2**63 - 1


def _session() -> Session:
    return Session(get_engine(settings().database_url), expire_on_commit=False)


def _bad(message: str, status: int = 400):
    return jsonify(error="invalid_request", message=message), status


def _refresh_after_commit(session: Session, shop_id: int) -> None:
    redis_url = settings().redis_url
    after_commit(session, lambda: tasks.refresh_shop_lists(redis_url, shop_id) or None)


def _titles(session: Session, shop_id: int, ids: set[int]) -> dict[int, str | None]:
    if not ids:
        return {}
    rows = session.exec(
        select(Product.shopify_id, Product.title).where(
            Product.shop_id == shop_id,
            Product.shopify_id.in_(sorted(ids)),  # type: ignore[attr-defined]
        )
    ).all()
    return {int(pid): title for pid, title in rows}


def _product_ids(value: Any, what: str) -> list[int]:
    if not isinstance(value, list) or len(value) > MAX_PER_LIST:
        raise ValueError(f"{what} must be a list of at most {MAX_PER_LIST} product ids")
    out = []
    for item in value:
        try:
            pid = int(str(item))
        except ValueError:
            raise ValueError(f"{what}: {item!r} is not a product id") from None
        if not 0 < pid <= MAX_ID:
            raise ValueError(f"{what}: {item!r} is not a product id")
        out.append(pid)
    return out


@bp.get("/api/admin/interests")
@require_session_token
def interests():
    """The shop's inferred interests, biggest first, with a few product titles each."""
    with _session() as session:
        rows = session.exec(select(ShopInterest).where(ShopInterest.shop_id == g.shop.id)).all()
        rows = sorted(rows, key=lambda r: (-r.size, r.key))
        sample = {int(p) for r in rows for p in r.product_ids[:5]}
        titles = _titles(session, g.shop.id, sample)
        return jsonify(
            interests=[
                {
                    "key": r.key,
                    "name": r.name,
                    "terms": r.terms,
                    "size": r.size,
                    "score": r.score,
                    "sources": r.sources,
                    "product_ids": [str(p) for p in r.product_ids],
                    "examples": [titles.get(int(p)) or str(p) for p in r.product_ids[:5]],
                    "computed_at": r.computed_at.isoformat(),
                }
                for r in rows
            ]
        )


@bp.get("/api/admin/customers/<int:customer_id>/interests")
@require_session_token
def customer_interests(customer_id: int):
    """The interests this customer has bought into, with how many of each interest's products they bought."""
    if customer_id > MAX_ID:
        abort(404, description="no such customer in this shop")
    shop_id = g.shop.id
    with _session() as session:
        bought = session.exec(
            select(OrderLine.product_shopify_id)
            .join(
                Order, (Order.shop_id == OrderLine.shop_id) & (Order.shopify_id == OrderLine.order_shopify_id)
            )
            .where(
                OrderLine.shop_id == shop_id,
                Order.customer_shopify_id == customer_id,
                Order.cancelled_at.is_(None),  # type: ignore[union-attr]
                OrderLine.product_shopify_id.is_not(None),  # type: ignore[union-attr]
            )
        ).all()
        found = shopper_interests([str(p) for p in bought], load_interests(session, shop_id))
    return jsonify(
        customer_id=str(customer_id),
        interests=[{"key": i.key, "name": i.name, "products_bought": n} for i, n in found],
    )


@bp.post("/api/admin/interests/refresh")
@require_session_token
def refresh_interests():
    """Queue a new inference of the shop's interests (deduplicated per shop)."""
    queued = tasks.infer_interests(settings().redis_url, g.shop.id)
    return jsonify(queued=queued), 202 if queued else 503


@bp.get("/api/admin/merchandising")
@require_session_token
def merchandising():
    """Every placement's pins and excludes, with product titles."""
    with _session() as session:
        rules = list_rules(session, g.shop.id)
        ids = {int(p) for r in rules.values() for kind in r.values() for p in kind}
        titles = _titles(session, g.shop.id, ids)
    return jsonify(
        placements={"pins": list(placements_for("pin")), "excludes": list(placements_for("exclude"))},
        rules=rules,
        titles={str(p): t for p, t in titles.items()},
    )


@bp.put("/api/admin/merchandising/<placement>")
@require_session_token
def set_rules(placement: str):
    """Replace the pins and/or excludes of one placement; unknown products are refused."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not set(body) & set(KIND_OF) or set(body) - set(KIND_OF):
        return _bad('send {"pins": [product ids], "excludes": [product ids]} (either or both)')
    try:
        wanted = {KIND_OF[key]: _product_ids(value, key) for key, value in body.items()}
    except ValueError as exc:
        return _bad(str(exc))
    for kind in wanted:
        if placement not in placements_for(kind):
            return _bad(f"{kind}s apply to one of: {', '.join(placements_for(kind))}")
    shop_id = g.shop.id
    with _session() as session:
        known = set(_titles(session, shop_id, {p for ids in wanted.values() for p in ids}))
        unknown = sorted({p for ids in wanted.values() for p in ids} - known)
        if unknown:
            return _bad(f"not products of this shop: {', '.join(map(str, unknown))}", 404)
        for kind, ids in wanted.items():
            replace_rules(session, shop_id, placement, kind, ids)
        _refresh_after_commit(session, shop_id)
        session.commit()
        rules = list_rules(session, shop_id).get(placement, {"pins": [], "excludes": []})
    return jsonify(placement=placement, **rules, refresh_queued=True)


@bp.delete("/api/admin/merchandising/<placement>/<kind>/<int:product_id>")
@require_session_token
def remove_rule(placement: str, kind: str, product_id: int):
    """Remove one pin or exclude."""
    if kind not in KIND_OF:
        abort(404, description="kind is pins or excludes")
    shop_id = g.shop.id
    with _session() as session:
        if not delete_rule(session, shop_id, placement, KIND_OF[kind], product_id):
            abort(404, description="no such rule in this shop")
        _refresh_after_commit(session, shop_id)
        session.commit()
        rules = list_rules(session, shop_id).get(placement, {"pins": [], "excludes": []})
    return jsonify(placement=placement, **rules, refresh_queued=True)
