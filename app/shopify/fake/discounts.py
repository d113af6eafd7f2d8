"""The fake's code discounts, with Shopify's input and output shapes: ``discountCodeBasicCreate`` (amount off,
here a percentage of all items), ``discountCodeFreeShippingCreate`` and ``codeDiscountNodeByCode``.

- Both mutations need ``write_discounts`` (else Shopify's top-level ``ACCESS_DENIED``).
- Validation answers ``DiscountUserError``s as Shopify does: a code already used in the shop is ``TAKEN``; a
  missing code or title is ``BLANK``; ``endsAt`` before ``startsAt`` or a percentage outside (0, 1] is
  ``INVALID``; an unknown customer in ``context.customers.add`` is ``INVALID``.
- What was created is kept in ``ShopStore.discounts`` (by code, upper-cased: codes are case-insensitive), so
  tests can check the code's limits (usage limit, customers, expiry, combinations).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.shopify.fake.errors import require_scope
from app.shopify.fake.store import gid, iso

DISCOUNTS_SDL = """
input DiscountCustomersInput { add: [ID!] remove: [ID!] }
input DiscountContextInput { all: String customers: DiscountCustomersInput }
input DiscountCombinesWithInput { orderDiscounts: Boolean productDiscounts: Boolean shippingDiscounts: Boolean }
input DiscountItemsInput { all: Boolean }
input DiscountCustomerGetsValueInput { percentage: Float }
input DiscountCustomerGetsInput { value: DiscountCustomerGetsValueInput items: DiscountItemsInput }
input DiscountShippingDestinationSelectionInput { all: Boolean }
input DiscountCodeBasicInput {
  title: String code: String startsAt: DateTime endsAt: DateTime context: DiscountContextInput
  customerGets: DiscountCustomerGetsInput combinesWith: DiscountCombinesWithInput usageLimit: Int
  appliesOncePerCustomer: Boolean
}
input DiscountCodeFreeShippingInput {
  title: String code: String startsAt: DateTime endsAt: DateTime context: DiscountContextInput
  destination: DiscountShippingDestinationSelectionInput combinesWith: DiscountCombinesWithInput
  usageLimit: Int appliesOncePerCustomer: Boolean
}
type DiscountCombinesWith { orderDiscounts: Boolean! productDiscounts: Boolean! shippingDiscounts: Boolean! }
type DiscountRedeemCode { id: ID! code: String! asyncUsageCount: Int! }
type DiscountRedeemCodeConnection { nodes: [DiscountRedeemCode!]! }
type DiscountCodeBasic {
  title: String! status: String! startsAt: DateTime! endsAt: DateTime usageLimit: Int
  appliesOncePerCustomer: Boolean! combinesWith: DiscountCombinesWith! asyncUsageCount: Int!
  codes(first: Int): DiscountRedeemCodeConnection!
}
type DiscountCodeFreeShipping {
  title: String! status: String! startsAt: DateTime! endsAt: DateTime usageLimit: Int
  appliesOncePerCustomer: Boolean! combinesWith: DiscountCombinesWith! asyncUsageCount: Int!
  codes(first: Int): DiscountRedeemCodeConnection!
}
union DiscountCode = DiscountCodeBasic | DiscountCodeFreeShipping
type DiscountCodeNode { id: ID! codeDiscount: DiscountCode! }
type DiscountUserError { field: [String!] message: String! code: String extraInfo: String }
type DiscountCodeBasicCreatePayload { codeDiscountNode: DiscountCodeNode userErrors: [DiscountUserError!]! }
type DiscountCodeFreeShippingCreatePayload {
  codeDiscountNode: DiscountCodeNode userErrors: [DiscountUserError!]!
}
extend type Query { codeDiscountNodeByCode(code: String!): DiscountCodeNode }
extend type Mutation {
  discountCodeBasicCreate(basicCodeDiscount: DiscountCodeBasicInput!): DiscountCodeBasicCreatePayload
  discountCodeFreeShippingCreate(
    freeShippingCodeDiscount: DiscountCodeFreeShippingInput!
  ): DiscountCodeFreeShippingCreatePayload
}
"""


def _error(field: list[str], message: str, code: str) -> dict[str, Any]:
    return {"field": field, "message": message, "code": code, "extraInfo": None}


def _when(value: Any) -> datetime | None:
    if value is None:
        return None
    at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def code_discount_by_code(_root: Any, info: Any, code: str) -> dict[str, Any] | None:
    return info.context["store"].discounts.get(code.upper(), {}).get("node")


class DiscountMutations:
    """Mixed into the fake's mutation root (``self.store``)."""

    store: Any

    def discountCodeBasicCreate(self, info: Any, basicCodeDiscount: dict[str, Any]):  # noqa: N802
        require_scope(info, "discountCodeBasicCreate", "write_discounts")
        value = ((basicCodeDiscount.get("customerGets") or {}).get("value") or {}).get("percentage")
        if value is None or not 0 < value <= 1:
            return _refuse("basicCodeDiscount", ["customerGets", "value", "percentage"],
                           "Value must be between 0 and 1", "INVALID")  # fmt: skip
        return self._create(basicCodeDiscount, "DiscountCodeBasic", "basicCodeDiscount", percentage=value)

    def discountCodeFreeShippingCreate(self, info: Any, freeShippingCodeDiscount: dict[str, Any]):  # noqa: N802
        require_scope(info, "discountCodeFreeShippingCreate", "write_discounts")
        return self._create(freeShippingCodeDiscount, "DiscountCodeFreeShipping", "freeShippingCodeDiscount")

    def _create(self, given: dict[str, Any], kind: str, arg: str, **extra: Any) -> dict[str, Any]:
        code, title = (given.get("code") or "").strip(), (given.get("title") or "").strip()
        if not code:
            return _refuse(arg, ["code"], "Code can't be blank", "BLANK")
        if not title:
            return _refuse(arg, ["title"], "Title can't be blank", "BLANK")
        starts, ends = _when(given.get("startsAt")) or datetime.now(UTC), _when(given.get("endsAt"))
        if ends is not None and ends <= starts:
            return _refuse(arg, ["endsAt"], "Ends at needs to be after starts_at", "INVALID")
        customers = ((given.get("context") or {}).get("customers") or {}).get("add") or []
        unknown = [c for c in customers if c not in self.store.customers]
        if unknown:
            return _refuse(
                arg, ["context", "customers", "add"], f"Customer {unknown[0]} does not exist", "INVALID"
            )
        combines = given.get("combinesWith") or {}
        with self.store.lock:
            if code.upper() in self.store.discounts:
                return _refuse(arg, ["code"], "Code must be unique. Please try a different code.", "TAKEN")
            node_id = gid("DiscountCodeNode", self.store.next_id())
            discount = {
                "__typename": kind, "title": title, "status": "ACTIVE", "startsAt": iso(starts),
                "endsAt": iso(ends) if ends else None, "usageLimit": given.get("usageLimit"),
                "appliesOncePerCustomer": bool(given.get("appliesOncePerCustomer")), "asyncUsageCount": 0,
                "combinesWith": {k: bool(combines.get(k)) for k in
                                 ("orderDiscounts", "productDiscounts", "shippingDiscounts")},
                "codes": {"nodes": [{"id": gid("DiscountRedeemCode", self.store.next_id()), "code": code,
                                     "asyncUsageCount": 0}]},
            }  # fmt: skip
            node = {"id": node_id, "codeDiscount": discount}
            self.store.discounts[code.upper()] = {"node": node, "customers": list(customers), **extra}
        return {"codeDiscountNode": node, "userErrors": []}


def _refuse(arg: str, field: list[str], message: str, code: str) -> dict[str, Any]:
    return {"codeDiscountNode": None, "userErrors": [_error([arg, *field], message, code)]}
