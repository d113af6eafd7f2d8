"""Offline tokens at rest (encrypted) and their refresh.

Access and refresh tokens are stored only as Fernet ciphertexts (``app.crypto.TokenCipher``). A shop's
token is refreshed under a per-shop Redis lock; whoever waits on the lock re-reads the row afterwards
and uses the token the winner stored, so concurrent refreshes cost Shopify one call.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from redis import Redis
from redis.exceptions import WatchError
from sqlmodel import Session

from app.config import Settings
from app.crypto import TokenCipher
from app.db import session_scope
from app.models.shop import Shop
from app.queue import get_redis
from app.shopify import oauth

REFRESH_MARGIN = timedelta(seconds=60)
LOCK_TTL_S = 30
LOCK_WAIT_S = 30


class ReauthorizationRequired(Exception):
    """The shop holds no usable token: it must be re-authorized (token exchange on the next admin
    visit, or a reinstall)."""


class LockTimeout(Exception):
    """Another process held the shop's refresh lock for too long."""


@contextmanager
def redis_lock(
    redis: Redis, key: str, *, ttl_s: int = LOCK_TTL_S, wait_s: float = LOCK_WAIT_S
) -> Iterator[None]:
    """A small owner-checked Redis lock (SET NX PX; compare-and-delete on release). Plain commands only,
    so it works on real Redis and on fakeredis without Lua."""
    owner = secrets.token_hex(16)
    deadline = time.monotonic() + wait_s
    delay = 0.01
    while not redis.set(key, owner, nx=True, px=ttl_s * 1000):
        if time.monotonic() >= deadline:
            raise LockTimeout(f"could not take {key} within {wait_s}s")
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
    try:
        yield
    finally:
        with redis.pipeline() as pipe:
            try:
                pipe.watch(key)
                if pipe.get(key) == owner.encode():
                    pipe.multi()
                    pipe.delete(key)
                    pipe.execute()
                else:
                    pipe.unwatch()
            except WatchError:  # it expired and someone else took it: theirs now
                pass


class TokenStore:
    """Reads, stores and refreshes a shop's offline tokens."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.cipher = TokenCipher(settings.encryption_keys)

    # --- writing -------------------------------------------------------------------------------

    def save(self, shop: Shop, tokens: oauth.TokenSet) -> None:
        """Put a fresh token set on ``shop`` (encrypted); the caller's session commits it."""
        shop.access_token_enc = self.cipher.encrypt(tokens.access_token)
        shop.access_token_expires_at = tokens.access_expires_at
        shop.refresh_token_enc = self.cipher.encrypt(tokens.refresh_token) if tokens.refresh_token else None
        shop.refresh_token_expires_at = tokens.refresh_expires_at
        if tokens.scopes:
            shop.scopes = ",".join(sorted(tokens.scopes))
        shop.touch()

    @staticmethod
    def clear(shop: Shop) -> None:
        shop.access_token_enc = None
        shop.refresh_token_enc = None
        shop.access_token_expires_at = None
        shop.refresh_token_expires_at = None
        shop.touch()

    # --- reading -------------------------------------------------------------------------------

    def _load(self, session: Session, shop_id: int) -> Shop:
        shop = session.get(Shop, shop_id)
        if shop is None:
            raise ReauthorizationRequired(f"shop {shop_id} does not exist")
        if shop.uninstalled_at is not None or shop.access_token_enc is None:
            raise ReauthorizationRequired(f"shop {shop.domain} has no offline token")
        return shop

    @staticmethod
    def _expiring(shop: Shop, now: datetime) -> bool:
        expires = shop.access_token_expires_at
        return expires is not None and expires - REFRESH_MARGIN <= now

    def access_token(self, shop_id: int) -> str:
        """A valid access token, refreshed first when it expires within a minute."""
        with session_scope(self.settings.database_url) as session:
            shop = self._load(session, shop_id)
            token = self.cipher.decrypt(shop.access_token_enc or "")
            expiring = self._expiring(shop, datetime.now(UTC)) and shop.refresh_token_enc is not None
        return self.refresh(shop_id, stale_token=token) if expiring else token

    def refresh(self, shop_id: int, *, stale_token: str | None = None) -> str:
        """Refresh the shop's access token under its lock and return the new one.

        ``stale_token`` is the token the caller found expired or rejected: if the stored token already
        differs from it (another worker refreshed while we waited), that token is returned as is.
        """
        redis = get_redis(self.settings.redis_url)
        with redis_lock(redis, f"attune:lock:token-refresh:{shop_id}"):
            failure: Exception | None = None
            with session_scope(self.settings.database_url) as session:
                shop = self._load(session, shop_id)
                current = self.cipher.decrypt(shop.access_token_enc or "")
                now = datetime.now(UTC)
                if stale_token is not None and current != stale_token and not self._expiring(shop, now):
                    return current
                if shop.refresh_token_enc is None:
                    failure = ReauthorizationRequired(f"shop {shop.domain}'s token cannot be refreshed")
                elif shop.refresh_token_expires_at is not None and shop.refresh_token_expires_at <= now:
                    failure = ReauthorizationRequired(f"shop {shop.domain}'s refresh token has expired")
                else:
                    try:
                        tokens = oauth.refresh(
                            self.settings, shop.domain, self.cipher.decrypt(shop.refresh_token_enc)
                        )
                    except oauth.OAuthError as exc:
                        if not exc.rejected:
                            raise
                        failure = ReauthorizationRequired(f"Shopify refused to refresh {shop.domain}: {exc}")
                        failure.__cause__ = exc
                    else:
                        self.save(shop, tokens)
                        return tokens.access_token
                self.clear(shop)  # committed: the next admin visit re-authorizes by token exchange
            assert failure is not None
            raise failure


class ShopTokens:
    """The token provider the Admin API client uses for one shop."""

    def __init__(self, store: TokenStore, shop_id: int):
        self.store, self.shop_id = store, shop_id

    def access_token(self) -> str:
        return self.store.access_token(self.shop_id)

    def refresh(self, stale_token: str) -> str:
        return self.store.refresh(self.shop_id, stale_token=stale_token)
