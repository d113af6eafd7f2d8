"""The fake's ``productVariantsBulkUpdate`` (prices and compare-at prices of one product's variants), with
Shopify's shapes: needs ``write_products``; an unknown product is ``PRODUCT_DOES_NOT_EXIST``, a variant not of
that product ``PRODUCT_VARIANT_DOES_NOT_EXIST``, a negative price ``GREATER_THAN_OR_EQUAL_TO``; all or nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from app.shopify.fake.errors import require_scope
from app.shopify.fake.store import decimal_str, iso

PRICES_SDL = """
input ProductVariantsBulkInput { id: ID price: Money compareAtPrice: Money }
type ProductVariantsBulkUpdateUserError { field: [String!] message: String! code: String }
type ProductVariantsBulkUpdatePayload {
  product: Product productVariants: [ProductVariant!] userErrors: [ProductVariantsBulkUpdateUserError!]!
}
extend type Mutation {
  productVariantsBulkUpdate(
    productId: ID!, variants: [ProductVariantsBulkInput!]!, allowPartialUpdates: Boolean
  ): ProductVariantsBulkUpdatePayload
}
"""


def _error(field: list[str], message: str, code: str) -> dict[str, Any]:
    return {
        "product": None,
        "productVariants": None,
        "userErrors": [{"field": field, "message": message, "code": code}],
    }


def _amount(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


class PriceMutations:
    """Mixed into the fake's mutation root (``self.store``)."""

    store: Any

    def productVariantsBulkUpdate(self, info: Any, productId: str, variants: list[dict[str, Any]], **_: Any):  # noqa: N802
        require_scope(info, "productVariantsBulkUpdate", "write_products")
        product = self.store.products.get(productId)
        if product is None:
            return _error(["productId"], "Product does not exist", "PRODUCT_DOES_NOT_EXIST")
        for i, v in enumerate(variants):
            if v.get("id") not in product["_variant_ids"]:
                return _error(
                    ["variants", str(i), "id"],
                    "Product variant does not exist",
                    "PRODUCT_VARIANT_DOES_NOT_EXIST",
                )
            for name in ("price", "compareAtPrice"):
                if name in v and v[name] is not None and ((a := _amount(v[name])) is None or a < 0):
                    return _error(
                        ["variants", str(i), name], f"{name} must be at least 0", "GREATER_THAN_OR_EQUAL_TO"
                    )
        now = iso(datetime.now(UTC))
        with self.store.lock:
            changed = []
            for v in variants:
                row = self.store.variants[v["id"]]
                if v.get("price") is not None:
                    row["price"] = decimal_str(v["price"])
                if "compareAtPrice" in v:
                    row["compareAtPrice"] = decimal_str(v["compareAtPrice"]) if v["compareAtPrice"] else None
                row["updatedAt"] = now
                changed.append(row)
            product["updatedAt"] = now
        return {"product": product, "productVariants": changed, "userErrors": []}
