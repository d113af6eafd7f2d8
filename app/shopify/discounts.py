"""Attune's pricing writes through the Admin API. Discount codes for personal offers, one per offer:
customer-specific where the shopper is known, single use, expiring, combinable with nothing;
``discountCodeBasicCreate`` for a percentage off all items, ``discountCodeFreeShippingCreate`` for free
shipping (both need ``write_discounts``).

Idempotent per code: the code is derived from the offer, so a retry after a lost answer meets ``TAKEN`` and
reads the existing discount back (``codeDiscountNodeByCode``) instead of failing or making a second one.
Approved price changes go through ``productVariantsBulkUpdate`` (needs ``write_products``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.shopify.admin import AdminAPIError, AdminClient, AdminUserError

NOT_COMBINABLE = {"orderDiscounts": False, "productDiscounts": False, "shippingDiscounts": False}
_FIELDS = (
    "codeDiscountNode { id codeDiscount { __typename"
    " ... on DiscountCodeBasic { endsAt usageLimit codes(first: 1) { nodes { code } } }"
    " ... on DiscountCodeFreeShipping { endsAt usageLimit codes(first: 1) { nodes { code } } } } }"
)


@dataclass(frozen=True)
class CodeSpec:
    code: str
    title: str
    kind: str  # percentage | free_shipping
    percentage: float  # 0 < p <= 1 for percentage codes
    starts_at: datetime
    ends_at: datetime
    customer_id: int | None  # the only customer who may use it (None: anyone with the code)


@dataclass(frozen=True)
class CreatedCode:
    gid: str
    code: str
    ends_at: str | None


def _created(node: dict | None, code: str) -> CreatedCode:
    if not node or not node.get("id"):
        raise AdminAPIError(f"no discount came back for {code}")
    found = node.get("codeDiscount") or {}
    return CreatedCode(node["id"], code, found.get("endsAt"))


def create_code(client: AdminClient, spec: CodeSpec) -> CreatedCode:
    """Create the code (or find it, when an earlier try made it). Raises ``AdminAPIError`` on any failure."""
    common = {
        "title": spec.title[:255],
        "code": spec.code,
        "startsAt": spec.starts_at.isoformat(),
        "endsAt": spec.ends_at.isoformat(),
        "usageLimit": 1,
        "appliesOncePerCustomer": True,
        "combinesWith": NOT_COMBINABLE,
        "context": (
            {"customers": {"add": [f"gid://shopify/Customer/{spec.customer_id}"]}}
            if spec.customer_id
            else {"all": "ALL"}
        ),
    }
    if spec.kind == "percentage":
        field, arg, kind = "discountCodeBasicCreate", "basicCodeDiscount", "DiscountCodeBasicInput"
        given = {**common, "customerGets": {"value": {"percentage": spec.percentage}, "items": {"all": True}}}
    else:
        field, arg = "discountCodeFreeShippingCreate", "freeShippingCodeDiscount"
        kind = "DiscountCodeFreeShippingInput"
        given = {**common, "destination": {"all": True}}
    query = (
        f"mutation($d: {kind}!) {{ {field}({arg}: $d) {{ {_FIELDS} userErrors {{ field message code }} }} }}"
    )
    try:
        payload = client._mutate(query, {"d": given}, field)
    except AdminUserError as exc:
        if "TAKEN" in exc.codes:
            return find_code(client, spec.code)
        raise
    return _created(payload.get("codeDiscountNode"), spec.code)


def find_code(client: AdminClient, code: str) -> CreatedCode:
    data = client.graphql(
        "query($c: String!) { codeDiscountNodeByCode(code: $c) { id codeDiscount { __typename"
        " ... on DiscountCodeBasic { endsAt } ... on DiscountCodeFreeShipping { endsAt } } } }",
        {"c": code},
    )
    return _created(data.get("codeDiscountNodeByCode"), code)


def update_prices(
    client: AdminClient, product_id: int, prices: list[tuple[int, str, str | None]]
) -> list[dict[str, object]]:
    """``productVariantsBulkUpdate``: (variant id, price, compare-at price or None to clear) for one product's
    variants (needs ``write_products``). Raises ``AdminAPIError`` / ``AdminUserError``."""
    payload = client._mutate(
        "mutation($p: ID!, $v: [ProductVariantsBulkInput!]!) { productVariantsBulkUpdate(productId: $p,"
        " variants: $v) { productVariants { id price compareAtPrice } userErrors { field message code } } }",
        {
            "p": f"gid://shopify/Product/{int(product_id)}",
            "v": [
                {"id": f"gid://shopify/ProductVariant/{int(v)}", "price": price, "compareAtPrice": compare}
                for v, price, compare in prices
            ],
        },
        "productVariantsBulkUpdate",
    )
    return list(payload.get("productVariants") or [])
