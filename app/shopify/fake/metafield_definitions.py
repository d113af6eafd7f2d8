"""The fake's ``metafieldDefinitionCreate``, as Shopify answers it (mixed into the mutation root through
``writes.WriteMutations``), and the namespace and type rules ``metafieldsSet`` shares with it.

- The owner type's write scope is needed (``write_customers`` for ``CUSTOMER``), or Shopify's top-level
  ``ACCESS_DENIED``.
- ``$app`` namespaces resolve to ``app--<api key>`` (``$app:attune`` → ``app--<api key>--attune``); admin access
  may be set only on such app-owned definitions (``ADMIN_ACCESS_INPUT_NOT_ALLOWED``).
- The key is 2-64 letters, digits, ``-`` or ``_``; the name is required; the type is one the fake knows.
- A definition the shop has for the same owner type, namespace and key is ``TAKEN``; at most 20 are pinned per
  owner type (``PINNED_LIMIT_REACHED``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from app.shopify.fake.errors import require_scope
from app.shopify.fake.store import gid, iso

KEY = re.compile(r"^[A-Za-z0-9_-]{2,64}$")
TYPES = frozenset(
    {
        "boolean",
        "date",
        "date_time",
        "json",
        "multi_line_text_field",
        "number_decimal",
        "number_integer",
        "single_line_text_field",
    }
)
OWNER_SCOPES = {"CUSTOMER": "write_customers", "ORDER": "write_orders"}
MAX_PINNED = 20


def resolve_namespace(api_key: str, namespace: str | None) -> str:
    """``$app:attune`` → ``app--<api key>--attune`` (no namespace: the app's own, ``app--<api key>``)."""
    resolved = (namespace or "$app").replace("$app", f"app--{api_key}", 1)
    return resolved.replace(":", "--", 1)


def _error(field: str, message: str, code: str) -> dict[str, Any]:
    return {
        "createdDefinition": None,
        "userErrors": [{"field": ["definition", field], "message": message, "code": code}],
    }


class DefinitionMutations:
    """``self.fake`` and ``self.store`` as on the mutation root."""

    fake: Any
    store: Any

    def metafieldDefinitionCreate(self, info: Any, definition: dict[str, Any]):  # noqa: N802
        owner = definition["ownerType"]
        require_scope(info, "metafieldDefinitionCreate", OWNER_SCOPES.get(owner, "write_products"))
        given = definition.get("namespace")
        namespace = resolve_namespace(self.fake.api_key, given)
        key, kind = definition["key"], definition["type"]
        if not definition.get("name", "").strip():
            return _error("name", "Name can't be blank", "BLANK")
        if not KEY.match(key):
            return _error("key", "Key must be 2-64 characters: letters, digits, - and _", "INVALID")
        if kind not in TYPES:
            return _error("type", f"Type name {kind!r} is not a valid type", "INCLUSION")
        access = (definition.get("access") or {}).get("admin")
        if access is not None and not namespace.startswith(f"app--{self.fake.api_key}"):
            return _error(
                "access",
                "Admin access can only be specified for app-owned metafield definitions.",
                "ADMIN_ACCESS_INPUT_NOT_ALLOWED",
            )
        with self.store.lock:
            defs = self.store.metafield_definitions
            if (owner, namespace, key) in defs:
                return _error(
                    "key",
                    f"Key is in use for {owner.title()} metafields on the '{namespace}' namespace.",
                    "TAKEN",
                )
            pinned = [d for (o, _, _), d in defs.items() if o == owner and d["pinnedPosition"] is not None]
            if definition.get("pin") and len(pinned) >= MAX_PINNED:
                return _error(
                    "pin", "Limit of 20 pinned definitions per owner type reached.", "PINNED_LIMIT_REACHED"
                )
            created = {
                "id": gid("MetafieldDefinition", self.store.next_id()),
                "namespace": namespace,
                "key": key,
                "name": definition["name"],
                "description": definition.get("description"),
                "ownerType": owner,
                "type": {"name": kind},
                "pinnedPosition": len(pinned) + 1 if definition.get("pin") else None,
                "access": {"admin": access or "MERCHANT_READ_WRITE"},
                "createdAt": iso(datetime.now(UTC)),
            }
            defs[(owner, namespace, key)] = created
        return {"createdDefinition": created, "userErrors": []}

    def definition_type(self, owner: str, namespace: str, key: str) -> str | None:
        """The type the shop's definition gives this metafield (None: no definition)."""
        found = self.store.metafield_definitions.get((owner, namespace, key))
        return found["type"]["name"] if found else None
