"""The fake's write-back mutations, as Shopify answers them: ``customerEmailMarketingConsentUpdate``,
``metafieldsSet`` (customers) and ``flowTriggerReceive``, and ``currentAppInstallation.accessScopes`` and
``shopLocales`` (with ``read_locales``).

- Scopes are enforced: the two customer writes need ``write_customers`` on the calling token, or the call
  answers Shopify's top-level ``ACCESS_DENIED`` error.
- A consent change updates the fake customer and emits ``customers_email_marketing_consent/update`` (recorded
  in ``ShopStore.webhooks_emitted``; delivered to the app when ``FakeShopify.emit_webhooks`` is on).
- ``metafieldsSet`` validates types and values (at most 25 per call) and resolves ``$app`` namespaces; where a
  definition exists its type is the metafield's (another type is ``INVALID_TYPE``).
- ``metafieldDefinitionCreate`` (``metafield_definitions.py``) checks the owner type's write scope, the key,
  the type and admin access (app-owned namespaces only), answers ``TAKEN`` for a definition the shop has, and
  pins up to 20 per owner type (then ``PINNED_LIMIT_REACHED``).
- ``flowTriggerReceive`` checks the handle against the app's deployed ``flow_trigger`` extensions (read from
  ``extensions/*/shopify.extension.toml``), the payload against the trigger's fields, and its size (50 KB),
  and records what it accepted in ``ShopStore.flow_triggers``.
"""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any

from app.shopify.fake.errors import require_scope
from app.shopify.fake.metafield_definitions import DefinitionMutations, resolve_namespace
from app.shopify.fake.store import gid, iso

EXTENSIONS = Path(__file__).resolve().parents[3] / "extensions"
FLOW_PAYLOAD_LIMIT = 50_000  # bytes of JSON: "Properties size exceeds the limit of 50000 bytes"
MAX_METAFIELDS = 25
REFERENCE_KEYS = {
    "customer_reference": "customer_id",
    "order_reference": "order_id",
    "product_reference": "product_id",
}

WRITES_SDL = """
enum CustomerEmailMarketingState { INVALID NOT_SUBSCRIBED PENDING REDACTED SUBSCRIBED UNSUBSCRIBED }
input CustomerEmailMarketingConsentInput {
  marketingState: CustomerEmailMarketingState! marketingOptInLevel: CustomerMarketingOptInLevel
  consentUpdatedAt: DateTime
}
input CustomerEmailMarketingConsentUpdateInput {
  customerId: ID! emailMarketingConsent: CustomerEmailMarketingConsentInput!
}
type CustomerEmailMarketingConsentUpdateUserError { field: [String!] message: String! code: String }
type CustomerEmailMarketingConsentUpdatePayload {
  customer: Customer userErrors: [CustomerEmailMarketingConsentUpdateUserError!]!
}
input MetafieldsSetInput { ownerId: ID! namespace: String key: String! value: String! type: String }
type Metafield { id: ID! namespace: String! key: String! value: String! type: String! updatedAt: DateTime! }
type MetafieldsSetUserError { field: [String!] message: String! code: String elementIndex: Int }
type MetafieldsSetPayload { metafields: [Metafield!] userErrors: [MetafieldsSetUserError!]! }
type FlowTriggerReceivePayload { userErrors: [UserError!]! }
enum MetafieldOwnerType { COLLECTION CUSTOMER ORDER PRODUCT PRODUCTVARIANT SHOP }
enum MetafieldAdminAccessInput { MERCHANT_READ MERCHANT_READ_WRITE }
input MetafieldAccessInput { admin: MetafieldAdminAccessInput }
input MetafieldDefinitionInput {
  namespace: String key: String! name: String! description: String type: String!
  ownerType: MetafieldOwnerType! pin: Boolean access: MetafieldAccessInput
}
type MetafieldDefinitionType { name: String! }
type MetafieldAccess { admin: String }
type MetafieldDefinition {
  id: ID! namespace: String! key: String! name: String! description: String ownerType: MetafieldOwnerType!
  type: MetafieldDefinitionType! pinnedPosition: Int access: MetafieldAccess!
}
type MetafieldDefinitionCreateUserError { field: [String!] message: String! code: String }
type MetafieldDefinitionCreatePayload {
  createdDefinition: MetafieldDefinition userErrors: [MetafieldDefinitionCreateUserError!]!
}
type AccessScope { handle: String! description: String! }
type AppInstallation { id: ID! accessScopes: [AccessScope!]! }
type ShopLocale { locale: String! name: String! primary: Boolean! published: Boolean! }
extend type Query { currentAppInstallation: AppInstallation! shopLocales(published: Boolean): [ShopLocale!]! }
extend type Mutation {
  customerEmailMarketingConsentUpdate(
    input: CustomerEmailMarketingConsentUpdateInput!
  ): CustomerEmailMarketingConsentUpdatePayload
  metafieldsSet(metafields: [MetafieldsSetInput!]!): MetafieldsSetPayload
  flowTriggerReceive(handle: String, payload: JSON, body: String): FlowTriggerReceivePayload
  metafieldDefinitionCreate(definition: MetafieldDefinitionInput!): MetafieldDefinitionCreatePayload
}
"""


def current_installation(_root: Any, info: Any) -> dict[str, Any]:
    scopes = sorted(info.context.get("scopes") or ())
    return {
        "id": gid("AppInstallation", abs(hash(info.context.get("shop"))) % 10**9),
        "accessScopes": [{"handle": s, "description": s.replace("_", " ")} for s in scopes],
    }


def shop_locales(_root: Any, info: Any, published: bool | None = None) -> list[dict[str, Any]]:
    """The shop's languages (``ShopStore.locales``; the first is the primary), with ``read_locales``."""
    require_scope(info, "shopLocales", "read_locales")
    store = info.context["store"]
    return [
        {"locale": code, "name": code, "primary": i == 0, "published": True}
        for i, code in enumerate(store.locales)
    ]


@lru_cache(maxsize=1)
def flow_triggers() -> dict[str, list[dict[str, Any]]]:
    """handle -> the trigger's declared fields, for every flow_trigger extension in ``extensions/``."""
    out: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(EXTENSIONS.glob("*/shopify.extension.toml")):
        config = tomllib.loads(path.read_text())
        for ext in config.get("extensions") or []:
            if ext.get("type") == "flow_trigger":
                out[ext["handle"]] = list((config.get("settings") or {}).get("fields") or [])
    return out


def _user_error(field: list[str] | None, message: str, code: str | None = None, **extra: Any) -> dict:
    return {"field": field, "message": message, "code": code, **extra}


def _check_value(kind: str, value: str) -> str | None:
    """Why ``value`` is not a valid ``kind`` metafield value (None when it is)."""
    try:
        if kind == "number_integer":
            int(value)
        elif kind == "number_decimal":
            if not Decimal(value).is_finite():
                return "must be a finite decimal"
        elif kind == "date":
            date.fromisoformat(value)
        elif kind == "date_time":
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        elif kind == "json":
            json.loads(value)
        elif kind in ("single_line_text_field", "multi_line_text_field"):
            if kind == "single_line_text_field" and "\n" in value:
                return "must be a single line"
        elif kind == "boolean":
            if value not in ("true", "false"):
                return "must be true or false"
        else:
            return f"type '{kind}' is not supported"
    except (ValueError, InvalidOperation):
        return f"is not a valid {kind}"
    return None


class WriteMutations(DefinitionMutations):
    """Mixed into the fake's mutation root (``graphql_api._MutationRoot``: ``self.fake``, ``self.store``)."""

    fake: Any
    store: Any

    def customerEmailMarketingConsentUpdate(self, info: Any, input: dict[str, Any]):  # noqa: N802
        require_scope(info, "customerEmailMarketingConsentUpdate", "write_customers")
        consent = input["emailMarketingConsent"]
        with self.store.lock:
            customer = self.store.customers.get(input["customerId"])
            if customer is None:
                return {
                    "customer": None,
                    "userErrors": [_user_error(["input", "customerId"], "Customer not found", "INVALID")],
                }
            address = customer.get("defaultEmailAddress")
            if not address or not address.get("emailAddress"):
                return {
                    "customer": None,
                    "userErrors": [
                        _user_error(
                            ["input", "emailMarketingConsent"], "Customer must have an email", "INVALID"
                        )
                    ],
                }
            state = consent["marketingState"]
            at = iso(consent.get("consentUpdatedAt") or datetime.now(UTC))
            address["marketingState"] = state
            address["marketingOptInLevel"] = consent.get("marketingOptInLevel") or address.get(
                "marketingOptInLevel"
            )
            address["marketingUpdatedAt"] = at
            customer["updatedAt"] = iso(datetime.now(UTC))
            payload = {
                "customer_id": int(customer["id"].rsplit("/", 1)[-1]),
                "email_address": address["emailAddress"],
                "email_marketing_consent": {
                    "state": state.lower(),
                    "opt_in_level": (address.get("marketingOptInLevel") or "").lower() or None,
                    "consent_updated_at": at,
                },
            }
        self.fake.emit_webhook(self.store, "customers_email_marketing_consent/update", payload)
        return {"customer": customer, "userErrors": []}

    def metafieldsSet(self, info: Any, metafields: list[dict[str, Any]]):  # noqa: N802
        if len(metafields) > MAX_METAFIELDS:
            return {
                "metafields": None,
                "userErrors": [
                    _user_error(
                        ["metafields"],
                        f"Exceeded the maximum metafields input limit of {MAX_METAFIELDS}.",
                        "LESS_THAN_OR_EQUAL_TO",
                    )
                ],
            }
        if any("/Customer/" in m["ownerId"] for m in metafields):
            require_scope(info, "metafieldsSet", "write_customers")
        errors = []
        for i, m in enumerate(metafields):
            owner = self.store.customers.get(m["ownerId"])
            if owner is None:
                errors.append(
                    _user_error(
                        ["metafields", str(i), "ownerId"], "Owner does not exist.", "INVALID", elementIndex=i
                    )
                )
            elif (defined := self._defined_type(m)) is not None and m.get("type") not in (None, defined):
                errors.append(
                    _user_error(
                        ["metafields", str(i), "type"],
                        f"Type must be {defined!r}: the metafield's definition says so.",
                        "INVALID_TYPE",
                        elementIndex=i,
                    )
                )
            elif not (m.get("type") or defined):
                errors.append(
                    _user_error(
                        ["metafields", str(i), "type"], "Type can't be blank.", "BLANK", elementIndex=i
                    )
                )
            elif (why := _check_value(m.get("type") or defined, m["value"])) is not None:
                errors.append(
                    _user_error(
                        ["metafields", str(i), "value"], f"Value {why}.", "INVALID_VALUE", elementIndex=i
                    )
                )
        if errors:  # all or nothing, like Shopify
            return {"metafields": None, "userErrors": errors}
        now = iso(datetime.now(UTC))
        out = []
        with self.store.lock:
            for m in metafields:
                namespace = resolve_namespace(self.fake.api_key, m.get("namespace"))
                stored = self.store.customers[m["ownerId"]].setdefault("_metafields", {})
                key = (namespace, m["key"])
                record = stored.get(key) or {"id": gid("Metafield", self.store.next_id())}
                kind = m.get("type") or self._defined_type(m)
                record.update(namespace=namespace, key=m["key"], value=m["value"], type=kind, updatedAt=now)
                stored[key] = record
                out.append(record)
        return {"metafields": out, "userErrors": []}

    def _defined_type(self, m: dict[str, Any]) -> str | None:
        owner = "CUSTOMER" if "/Customer/" in m["ownerId"] else "OTHER"
        return self.definition_type(owner, resolve_namespace(self.fake.api_key, m.get("namespace")), m["key"])

    def flowTriggerReceive(
        self, info: Any, handle: str | None = None, payload: Any = None, body: str | None = None
    ):  # noqa: N802
        if body is not None and handle is None:  # the deprecated form: {"trigger_id", "properties"}
            try:
                parsed = json.loads(body)
                handle, payload = parsed.get("trigger_id"), parsed.get("properties")
            except (ValueError, AttributeError):
                return {"userErrors": [_user_error(["body"], "Body is not valid JSON")]}
        triggers = flow_triggers()
        if not handle or handle not in triggers:
            return {"userErrors": [_user_error(["handle"], f"Invalid handle '{handle}'.")]}
        if not isinstance(payload, dict):
            return {"userErrors": [_user_error(["payload"], "Payload must be a JSON object.")]}
        size = len(json.dumps(payload, separators=(",", ":")).encode())
        if size > FLOW_PAYLOAD_LIMIT:
            return {
                "userErrors": [
                    _user_error(
                        ["payload"],
                        f"Errors validating schema: Properties size exceeds the limit of {FLOW_PAYLOAD_LIMIT} bytes.",
                    )
                ]
            }
        declared = {REFERENCE_KEYS.get(f.get("type"), f.get("key")) for f in triggers[handle]}
        missing = sorted(
            REFERENCE_KEYS[f["type"]] for f in triggers[handle] if f.get("type") in REFERENCE_KEYS
        )
        missing = [k for k in missing if k not in payload]
        unknown = sorted(k for k in payload if k not in declared)
        if missing or unknown:
            what = f"missing {missing}" if missing else f"properties not in the trigger {unknown}"
            return {"userErrors": [_user_error(["payload"], f"Errors validating schema: {what}.")]}
        with self.store.lock:
            self.store.flow_triggers.append(
                {"handle": handle, "payload": payload, "received_at": iso(datetime.now(UTC))}
            )
        return {"userErrors": []}
