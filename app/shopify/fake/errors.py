"""The error the fake's resolvers raise for what Shopify reports in ``errors`` (with an ``extensions.code``)."""

from __future__ import annotations


class QueryError(Exception):
    """An error Shopify reports in ``errors`` (with an ``extensions.code``)."""

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.code = code
