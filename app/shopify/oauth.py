"""Shopify OAuth: the authorize URL, the authorization-code grant, token exchange and refresh.

Every URL is built from ``settings.admin_origin(shop)`` so tests and the demo can point it at the
local fake. We always ask for *expiring* offline tokens (``expiring=1``): an access token that lives
about an hour plus a refresh token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import requests

from app.config import Settings

TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
OFFLINE_TOKEN_TYPE = "urn:shopify:params:oauth:token-type:offline-access-token"
TIMEOUT_S = 15


class OAuthError(Exception):
    """Shopify refused a token request (``status`` 4xx) or could not be reached (``status`` None)."""

    def __init__(self, message: str, *, status: int | None = None, error: str | None = None):
        super().__init__(message)
        self.status = status
        self.error = error

    @property
    def rejected(self) -> bool:
        """True when Shopify answered and said no (as opposed to a network or server failure)."""
        return self.status is not None and 400 <= self.status < 500


@dataclass(frozen=True)
class TokenSet:
    """What the token endpoint hands back. Expiry times are absolute (UTC)."""

    access_token: str
    scopes: frozenset[str]
    access_expires_at: datetime | None = None
    refresh_token: str | None = None
    refresh_expires_at: datetime | None = None

    @classmethod
    def from_response(cls, body: dict[str, Any], *, now: datetime | None = None) -> TokenSet:
        now = now or datetime.now(UTC)
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise OAuthError("token response has no access_token")

        def at(seconds: Any) -> datetime | None:
            return now + timedelta(seconds=int(seconds)) if seconds not in (None, "") else None

        return cls(
            access_token=token,
            scopes=parse_scopes(body.get("scope", "")),
            access_expires_at=at(body.get("expires_in")),
            refresh_token=body.get("refresh_token") or None,
            refresh_expires_at=at(body.get("refresh_token_expires_in")),
        )


def parse_scopes(value: str | None) -> frozenset[str]:
    return frozenset(s.strip() for s in (value or "").split(",") if s.strip())


def missing_scopes(granted: frozenset[str], required: frozenset[str]) -> frozenset[str]:
    """Required scopes not covered by the grant. ``write_x`` implies ``read_x`` (as Shopify reports it),
    and ``unauthenticated_write_x`` implies ``unauthenticated_read_x``."""
    implied = set(granted)
    for scope in granted:
        if "write_" in scope:
            implied.add(scope.replace("write_", "read_", 1))
    return frozenset(required - implied)


def authorize_url(
    settings: Settings, shop: str, *, state: str, redirect_uri: str, optional: frozenset[str] = frozenset()
) -> str:
    """``{origin}/admin/oauth/authorize`` asking for an offline token (no ``grant_options[]``): the required
    scopes, plus those of ``optional`` the app declares as optional (a merchant granting a feature's scope)."""
    query = urlencode(
        {
            "client_id": settings.shopify_api_key,
            "scope": ",".join(sorted(settings.scope_set | (optional & settings.optional_scope_set))),
            "redirect_uri": redirect_uri,
            "state": state,
        }
    )
    return f"{settings.admin_origin(shop)}/admin/oauth/authorize?{query}"


def _token_request(settings: Settings, shop: str, body: dict[str, Any]) -> TokenSet:
    url = f"{settings.admin_origin(shop)}/admin/oauth/access_token"
    payload = {"client_id": settings.shopify_api_key, "client_secret": settings.shopify_api_secret, **body}
    try:
        resp = requests.post(url, json=payload, headers={"Accept": "application/json"}, timeout=TIMEOUT_S)
    except requests.RequestException as exc:
        raise OAuthError(f"could not reach Shopify's token endpoint: {exc.__class__.__name__}") from exc
    try:
        data = resp.json()
    except ValueError:
        data = {}
    if resp.status_code != 200:
        error = data.get("error") if isinstance(data, dict) else None
        detail = (data.get("error_description") if isinstance(data, dict) else None) or error or resp.reason
        raise OAuthError(f"Shopify refused the token request: {detail}", status=resp.status_code, error=error)
    if not isinstance(data, dict):
        raise OAuthError("token response is not a JSON object", status=resp.status_code)
    return TokenSet.from_response(data)


def exchange_code(settings: Settings, shop: str, code: str) -> TokenSet:
    """Authorization-code grant, asking for an expiring offline token."""
    return _token_request(settings, shop, {"code": code, "expiring": 1})


def token_exchange(settings: Settings, shop: str, session_token: str) -> TokenSet:
    """Trade an App Bridge session token (id token) for an expiring offline access token."""
    return _token_request(
        settings,
        shop,
        {
            "grant_type": TOKEN_EXCHANGE_GRANT,
            "subject_token": session_token,
            "subject_token_type": ID_TOKEN_TYPE,
            "requested_token_type": OFFLINE_TOKEN_TYPE,
            "expiring": 1,
        },
    )


def refresh(settings: Settings, shop: str, refresh_token: str) -> TokenSet:
    """Refresh grant: a new access token and a new (rotated) refresh token."""
    return _token_request(settings, shop, {"grant_type": "refresh_token", "refresh_token": refresh_token})
