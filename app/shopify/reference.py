"""Shopify's own Python library (ShopifyAPI) as a reference implementation.

Attune's verifiers (``app.shopify.verify``) are its own: they need rotation (current + previous secret),
an injectable clock and no class-level global state, which the library's ``shopify.Session`` cannot give a
multi-tenant app. The library still defines what "correct" means, so differential tests check ours against
it on generated inputs. This module is the only importer of ``shopify``.
"""

from __future__ import annotations

import threading
from typing import Any

import shopify
from shopify import session_token as _session_token

_lock = threading.Lock()  # shopify.Session keeps the secret on the class


def library_query_hmac(params: dict[str, Any], secret: str) -> str:
    """``shopify.Session.calculate_hmac`` (array params as lists under ``key[]``)."""
    with _lock:
        previous = shopify.Session.secret
        shopify.Session.secret = secret
        try:
            return shopify.Session.calculate_hmac(params)
        finally:
            shopify.Session.secret = previous


def library_decode_session_token(token: str, api_key: str, secret: str) -> dict[str, Any]:
    """``shopify.session_token.decode_from_header`` (live clock, 10 s leeway); raises on any failure."""
    return _session_token.decode_from_header(f"Bearer {token}", api_key, secret)


LibraryTokenError = _session_token.SessionTokenError
