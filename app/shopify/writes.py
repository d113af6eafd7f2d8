"""Attune's writes to a shop through the Admin API client (``app.shopify.admin``): e-mail marketing consent,
customer metafields and their definitions, Shopify Flow triggers, the scopes the installation holds and the
shop's primary language.

Throttling and 429s are retried by the client. A call the shop's grant does not allow (the merchant never
granted, or revoked, an optional scope) raises ``ScopeDenied``, so callers can skip and record it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from app.shopify.admin import AdminAPIError, AdminClient, AdminUserError

APP_NAMESPACE = "$app:attune"
FLOW_PAYLOAD_LIMIT = 50_000  # Shopify refuses a trigger payload over 50 KB
MAX_METAFIELDS = 25  # per metafieldsSet call


class ScopeDenied(AdminAPIError):
    """Shopify answered ACCESS_DENIED: the installation lacks the scope this call needs."""


@dataclass(frozen=True)
class MetafieldValue:
    key: str
    type: str  # Shopify's metafield type: number_decimal, date, single_line_text_field …
    value: str


def _customer_gid(customer_id: int) -> str:
    return f"gid://shopify/Customer/{int(customer_id)}"


def _raise_denied(exc: AdminAPIError) -> None:
    """``ScopeDenied`` when Shopify answered ACCESS_DENIED (the installation lacks the scope)."""
    codes = {((e or {}).get("extensions") or {}).get("code") for e in exc.errors or [] if isinstance(e, dict)}
    if "ACCESS_DENIED" in codes:
        raise ScopeDenied(str(exc), status=exc.status, errors=exc.errors) from exc


def _call(client: AdminClient, query: str, variables: dict[str, Any], field: str) -> dict[str, Any]:
    try:
        return client._mutate(query, variables, field)
    except AdminUserError:
        raise
    except AdminAPIError as exc:
        _raise_denied(exc)
        raise


def update_email_consent(
    client: AdminClient, customer_id: int, state: str, updated_at: datetime | None = None
) -> dict[str, Any]:
    """``customerEmailMarketingConsentUpdate``: the customer's e-mail marketing state (e.g. UNSUBSCRIBED);
    returns Shopify's customer e-mail record after the change."""
    consent: dict[str, Any] = {"marketingState": state}
    if updated_at is not None:
        consent["consentUpdatedAt"] = updated_at.isoformat()
    payload = _call(
        client,
        "mutation($input: CustomerEmailMarketingConsentUpdateInput!) {"
        " customerEmailMarketingConsentUpdate(input: $input) {"
        " customer { id defaultEmailAddress { emailAddress marketingState marketingUpdatedAt } }"
        " userErrors { field message code } } }",
        {"input": {"customerId": _customer_gid(customer_id), "emailMarketingConsent": consent}},
        "customerEmailMarketingConsentUpdate",
    )
    return (payload.get("customer") or {}).get("defaultEmailAddress") or {}


def set_customer_metafields(
    client: AdminClient, values: Mapping[int, list[MetafieldValue]], namespace: str = APP_NAMESPACE
) -> list[dict[str, Any]]:
    """``metafieldsSet`` for customers (customer id → its values), at most ``MAX_METAFIELDS`` per call (each
    call all or nothing); returns the metafields Shopify stored."""
    rows = [
        {
            "ownerId": _customer_gid(cid),
            "namespace": namespace,
            "key": v.key,
            "type": v.type,
            "value": v.value,
        }
        for cid, items in values.items()
        for v in items
    ]
    stored: list[dict[str, Any]] = []
    for i in range(0, len(rows), MAX_METAFIELDS):
        payload = _call(
            client,
            "mutation($metafields: [MetafieldsSetInput!]!) { metafieldsSet(metafields: $metafields) {"
            " metafields { id namespace key value type } userErrors { field message code elementIndex } } }",
            {"metafields": rows[i : i + MAX_METAFIELDS]},
            "metafieldsSet",
        )
        stored += list(payload.get("metafields") or [])
    return stored


@dataclass(frozen=True)
class MetafieldDefinition:
    """``MetafieldDefinitionInput``: one definition for an owner type (``CUSTOMER`` …)."""

    owner_type: str
    key: str
    type: str
    name: str
    description: str
    pin: bool = True  # shown on the owner's admin page (``PINNED_LIMIT_REACHED``: created unpinned)
    admin_access: str = "MERCHANT_READ"  # app-owned: the merchant reads, only the app writes


def create_metafield_definition(
    client: AdminClient, definition: MetafieldDefinition, namespace: str = APP_NAMESPACE
) -> bool:
    """``metafieldDefinitionCreate``; True when created, False when the shop already has it (``TAKEN``).
    Raises ``AdminUserError`` for any other refusal and ``ScopeDenied`` without the owner's write scope."""
    fields = {
        "ownerType": definition.owner_type,
        "namespace": namespace,
        "key": definition.key,
        "type": definition.type,
        "name": definition.name,
        "description": definition.description,
        "pin": definition.pin,
    }
    if namespace.startswith("$app"):  # admin access can be set only on app-owned definitions
        fields["access"] = {"admin": definition.admin_access}
    try:
        _call(
            client,
            "mutation($definition: MetafieldDefinitionInput!) { metafieldDefinitionCreate(definition: $definition) {"
            " createdDefinition { id namespace key pinnedPosition } userErrors { field message code } } }",
            {"definition": fields},
            "metafieldDefinitionCreate",
        )
    except AdminUserError as exc:
        if exc.codes == {"TAKEN"}:
            return False
        if "PINNED_LIMIT_REACHED" in exc.codes and definition.pin:
            return create_metafield_definition(client, replace(definition, pin=False), namespace)
        raise
    return True


def flow_payload_size(payload: Mapping[str, Any]) -> int:
    """The payload's size as Shopify measures it (compact JSON, in bytes)."""
    return len(json.dumps(payload, separators=(",", ":"), default=str).encode())


def flow_trigger_receive(client: AdminClient, handle: str, payload: Mapping[str, Any]) -> None:
    """``flowTriggerReceive``: start the merchant's workflows that begin with trigger ``handle``."""
    _call(
        client,
        "mutation($handle: String, $payload: JSON) { flowTriggerReceive(handle: $handle, payload: $payload) {"
        " userErrors { field message } } }",
        {"handle": handle, "payload": dict(payload)},
        "flowTriggerReceive",
    )


def access_scopes(client: AdminClient) -> list[str]:
    """The scopes the installation holds now (``currentAppInstallation.accessScopes``)."""
    data = client.graphql("{ currentAppInstallation { accessScopes { handle } } }")
    return sorted(s["handle"] for s in (data.get("currentAppInstallation") or {}).get("accessScopes") or [])


def primary_locale(client: AdminClient) -> str | None:
    """The shop's primary language (``shopLocales``: needs ``read_locales``; ``ScopeDenied`` without it)."""
    try:
        data = client.graphql("{ shopLocales(published: true) { locale primary } }")
    except AdminAPIError as exc:
        _raise_denied(exc)
        raise
    return next((s["locale"] for s in data.get("shopLocales") or [] if s.get("primary")), None)
