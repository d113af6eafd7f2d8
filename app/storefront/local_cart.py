"""The local storefront's stand-in for Shopify's AJAX Cart API, for the in-session rescue embed: one cart per
storefront (``GET /cart.js``, ``POST /cart/add.js``, ``POST /cart/change.js``), priced from the shop's variants."""

from __future__ import annotations

import json
import threading
from typing import Any

from sqlmodel import Session, select
from werkzeug.wrappers import Request, Response

from app.db import get_engine
from app.models.commerce import ProductVariant
from app.models.shop import Shop

CART_PATHS = frozenset({"/cart.js", "/cart/add.js", "/cart/change.js"})


class LocalCart:
    def __init__(self, database_url: str, shop: str, token: str = "local-cart-1") -> None:
        self.database_url, self.shop, self.token = database_url, shop, token
        self.lines: dict[int, int] = {}  # variant id -> quantity
        self.lock = threading.Lock()

    def _variants(self, ids: list[int]) -> dict[int, ProductVariant]:
        with Session(get_engine(self.database_url)) as s:
            shop = s.exec(select(Shop).where(Shop.domain == self.shop)).first()
            if shop is None or not ids:
                return {}
            rows = s.exec(
                select(ProductVariant).where(
                    ProductVariant.shop_id == shop.id, ProductVariant.shopify_id.in_(ids)
                )
            ).all()
            return {v.shopify_id: v for v in rows}

    def state(self) -> dict[str, Any]:
        with self.lock:
            lines = dict(self.lines)
        variants = self._variants(list(lines))
        items = [
            {
                "variant_id": vid,
                "product_id": variants[vid].product_shopify_id,
                "quantity": qty,
                "price": int(round(float(variants[vid].price or 0) * 100)),
            }
            for vid, qty in lines.items()
            if vid in variants
        ]
        return {
            "token": self.token,
            "item_count": sum(i["quantity"] for i in items),
            "total_price": sum(i["price"] * i["quantity"] for i in items),
            "currency": "USD",
            "items": items,
        }

    def answer(self, path: str, request: Request) -> Response:
        if path != "/cart.js":
            body = request.get_json(silent=True)
            if not isinstance(body, dict):
                return Response('{"status":422}', status=422, mimetype="application/json")
            with self.lock:
                if path == "/cart/add.js":
                    for item in body.get("items") or [body]:
                        vid, qty = int(item.get("id", 0)), int(item.get("quantity", 1))
                        self.lines[vid] = self.lines.get(vid, 0) + qty
                else:
                    vid, qty = int(body.get("id", 0)), int(body.get("quantity", 0))
                    if qty <= 0:
                        self.lines.pop(vid, None)
                    else:
                        self.lines[vid] = qty
        return Response(json.dumps(self.state()), mimetype="application/json")
