"""The error the fake's resolvers raise for what Shopify reports in ``errors`` (with an ``extensions.code``), and
the scope check that raises Shopify's ``ACCESS_DENIED``."""

from __future__ import annotations

from typing import Any


class QueryError(Exception):
    """An error Shopify reports in ``errors`` (with an ``extensions.code``)."""

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.code = code


def _granted(info: Any) -> frozenset[str]:
    scopes = set(info.context.get("scopes") or ())
    scopes |= {s.replace("write_", "read_", 1) for s in scopes if "write_" in s}
    return frozenset(scopes)


def require_scope(info: Any, field_name: str, scope: str) -> None:
    """Shopify's top-level ACCESS_DENIED when the calling token lacks ``scope``."""
    if scope not in _granted(info):
        raise QueryError(
            f"Access denied for {field_name} field. Required access: `{scope}` access scope.",
            "ACCESS_DENIED",
        )
