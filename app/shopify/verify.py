"""Verification of everything Shopify signs: install/OAuth queries, webhooks, app proxy requests,
session tokens, and shop domains. Pure functions; every comparison is constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import jwt

MAX_QUERY_AGE_S = 24 * 3600  # install/callback links and proxy requests older than this are refused
FUTURE_SKEW_S = 60
SESSION_TOKEN_LEEWAY_S = 10

_SHOP_RE = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")
_DEV_SHOP_RE = re.compile(r"^[a-z0-9][a-z0-9-_]*\.(myshopify\.com|myshopify\.io|shop\.dev)$")
_ADMIN_URL_RE = re.compile(r"^admin\.shopify\.com/store/([a-z0-9][a-z0-9-_]*)/?$")


class VerificationError(ValueError):
    """A signed request failed verification; the message says why (safe to show the caller)."""


# --- shop domains -----------------------------------------------------------------------------


def is_valid_shop_domain(value: str | None, *, allow_dev_domains: bool = False) -> bool:
    """Strict check of a shop domain as Shopify sends it (``name.myshopify.com``, lowercase)."""
    if not value or len(value) > 255:
        return False
    pattern = _DEV_SHOP_RE if allow_dev_domains else _SHOP_RE
    return bool(pattern.fullmatch(value))


def sanitize_shop_domain(value: str | None, *, allow_dev_domains: bool = False) -> str | None:
    """Turn what a merchant types (``my-shop``, ``https://My-Shop.myshopify.com/``,
    ``admin.shopify.com/store/my-shop``) into ``my-shop.myshopify.com``; None when it is not a shop."""
    if not value:
        return None
    v = value.strip().lower()
    for scheme in ("https://", "http://"):
        if v.startswith(scheme):
            v = v[len(scheme) :]
    admin = _ADMIN_URL_RE.fullmatch(v)
    if admin:
        v = f"{admin.group(1)}.myshopify.com"
    v = v.rstrip("/")
    if re.fullmatch(r"[a-z0-9][a-z0-9-]*", v):
        v = f"{v}.myshopify.com"
    return v if is_valid_shop_domain(v, allow_dev_domains=allow_dev_domains) else None


# --- install / OAuth query HMAC (hex) ---------------------------------------------------------


def _escape(value: str, *, key: bool) -> str:
    value = value.replace("%", "%25").replace("&", "%26")
    return value.replace("=", "%3D") if key else value


def admin_query_message(pairs: Iterable[tuple[str, str]]) -> str:
    """The string Shopify signs for admin/OAuth redirects: ``hmac`` and ``signature`` removed,
    ``key[]`` arrays as JSON lists (``ids=["2", "1"]``), sorted ``key=value`` joined with ``&``."""
    grouped: dict[str, list[str]] = {}
    order: list[str] = []
    for key, value in pairs:
        if key in ("hmac", "signature"):
            continue
        if key not in grouped:
            order.append(key)
        grouped.setdefault(key, []).append(value)
    encoded = []
    for key in order:
        values = grouped[key]
        if key.endswith("[]"):
            name, value = key[:-2], json.dumps([str(v) for v in values])
        else:
            name, value = key, values[-1]
        encoded.append(f"{_escape(name, key=True)}={_escape(value, key=False)}")
    return "&".join(sorted(encoded))


def admin_query_hmac(pairs: Iterable[tuple[str, str]], secret: str) -> str:
    message = admin_query_message(pairs)
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def _check_timestamp(raw: str | None, now: float | None, max_age: int) -> None:
    if raw is None:
        raise VerificationError("missing timestamp")
    try:
        ts = int(raw)
    except ValueError as exc:
        raise VerificationError("malformed timestamp") from exc
    now = time.time() if now is None else now
    if ts < now - max_age:
        raise VerificationError("request is too old")
    if ts > now + FUTURE_SKEW_S:
        raise VerificationError("timestamp is in the future")


def verify_admin_query(
    pairs: Sequence[tuple[str, str]],
    secrets: Sequence[str],
    *,
    now: float | None = None,
    max_age: int = MAX_QUERY_AGE_S,
    require_timestamp: bool = True,
) -> None:
    """Raise VerificationError unless the query's ``hmac`` matches one of ``secrets`` and is fresh."""
    given = [v for k, v in pairs if k == "hmac"]
    if len(given) != 1 or not given[0]:
        raise VerificationError("missing hmac")
    if not any(hmac.compare_digest(admin_query_hmac(pairs, s), given[0].lower()) for s in secrets if s):
        raise VerificationError("invalid hmac")
    if require_timestamp:
        _check_timestamp(dict(pairs).get("timestamp"), now, max_age)


# --- webhooks (base64) ------------------------------------------------------------------------


def webhook_hmac(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify_webhook(body: bytes, header: str | None, secrets: Sequence[str]) -> bool:
    """True when ``X-Shopify-Hmac-Sha256`` matches the raw body under the current or previous secret."""
    if not header:
        return False
    header = header.strip()
    return any(hmac.compare_digest(webhook_hmac(body, s), header) for s in secrets if s)


# --- app proxy (hex, no separator) ------------------------------------------------------------


def parse_query_pairs(query_string: str | bytes) -> list[tuple[str, str]]:
    """Query pairs in order, values URL-decoded, keys without ``=`` kept with an empty value: exactly
    ``parse_qsl(…, keep_blank_values=True)``, in half its time (only pieces with ``+`` or ``%`` are
    decoded; the storefront proxy parses every request's query)."""
    if isinstance(query_string, bytes):
        query_string = query_string.decode("utf-8", "replace")
    pairs = []
    for piece in query_string.split("&"):
        if not piece:
            continue
        name, _, value = piece.partition("=")
        if "+" in name:
            name = name.replace("+", " ")
        if "%" in name:
            name = unquote(name, errors="replace")
        if "+" in value:
            value = value.replace("+", " ")
        if "%" in value:
            value = unquote(value, errors="replace")
        pairs.append((name, value))
    return pairs


def proxy_message(pairs: Iterable[tuple[str, str]]) -> str:
    grouped: dict[str, list[str]] = {}
    for key, value in pairs:
        if key == "signature":
            continue
        grouped.setdefault(key, []).append(value)
    return "".join(sorted(f"{k}={','.join(v)}" for k, v in grouped.items()))


def proxy_signature(pairs: Iterable[tuple[str, str]], secret: str) -> str:
    return hmac.new(secret.encode(), proxy_message(pairs).encode(), hashlib.sha256).hexdigest()


def verify_proxy(
    pairs: Sequence[tuple[str, str]],
    secrets: Sequence[str],
    *,
    now: float | None = None,
    max_age: int = MAX_QUERY_AGE_S,
) -> None:
    given = [v for k, v in pairs if k == "signature"]
    if len(given) != 1 or not given[0]:
        raise VerificationError("missing signature")
    if not any(hmac.compare_digest(proxy_signature(pairs, s), given[0].lower()) for s in secrets if s):
        raise VerificationError("invalid signature")
    _check_timestamp(dict(pairs).get("timestamp"), now, max_age)


# --- App Bridge session tokens ----------------------------------------------------------------


@dataclass(frozen=True)
class SessionToken:
    shop: str
    user_id: str | None
    session_id: str | None
    claims: dict[str, Any]


def _host_of(url: str) -> str:
    for scheme in ("https://", "http://"):
        if url.startswith(scheme):
            url = url[len(scheme) :]
    return url.split("/", 1)[0].lower()


def decode_session_token(
    token: str,
    *,
    api_key: str,
    secrets: Sequence[str],
    now: float | None = None,
    leeway: int = SESSION_TOKEN_LEEWAY_S,
    allow_dev_domains: bool = False,
) -> SessionToken:
    """Verify an App Bridge session token (HS256 only) and return the shop it speaks for."""
    if not token:
        raise VerificationError("missing session token")
    claims: dict[str, Any] | None = None
    last_error: Exception | None = None
    for secret in secrets:
        if not secret:
            continue
        try:
            claims = jwt.decode(
                token,
                secret,
                algorithms=["HS256"],
                audience=api_key,
                options={
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "require": ["exp", "nbf", "iss", "dest", "aud"],
                },
            )
            break
        except jwt.InvalidAudienceError as exc:
            raise VerificationError("session token audience is not this app") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise VerificationError(f"session token lacks {exc.claim}") from exc
        except jwt.InvalidSignatureError as exc:
            last_error = exc
        except jwt.InvalidTokenError as exc:
            raise VerificationError(f"malformed session token: {exc}") from exc
    if claims is None:
        raise VerificationError("invalid session token signature") from last_error
    now = time.time() if now is None else now
    try:
        exp, nbf = float(claims["exp"]), float(claims["nbf"])
    except (TypeError, ValueError) as exc:
        raise VerificationError("session token has malformed exp/nbf") from exc
    if now > exp + leeway:
        raise VerificationError("session token expired")
    if now < nbf - leeway:
        raise VerificationError("session token not yet valid")
    dest, iss = _host_of(str(claims["dest"])), _host_of(str(claims["iss"]))
    if dest != iss:
        raise VerificationError("session token iss and dest name different shops")
    if not is_valid_shop_domain(dest, allow_dev_domains=allow_dev_domains):
        raise VerificationError("session token names an invalid shop")
    sub = claims.get("sub")
    return SessionToken(
        shop=dest, user_id=str(sub) if sub is not None else None, session_id=claims.get("sid"), claims=claims
    )
