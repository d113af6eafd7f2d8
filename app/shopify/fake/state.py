"""The fake Shopify's shared state: each shop's data and cost bucket, call counts, bulk operation files and
the base URL it serves on. The HTTP app (``server.FakeShopify``, a ``FakeState``) and the GraphQL
endpoint (``graphql_api``) both work on it."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from app.shopify.fake.store import ShopStore
from app.shopify.fake.webhooks import deliver_webhook


@dataclass
class Bucket:
    """Shopify's leaky bucket: ``maximum`` points, restoring ``restore_rate`` per second."""

    maximum: float
    restore_rate: float
    available: float
    updated: float = field(default_factory=time.monotonic)

    def level(self) -> float:
        now = time.monotonic()
        self.available = min(self.maximum, self.available + (now - self.updated) * self.restore_rate)
        self.updated = now
        return self.available

    def status(self) -> dict[str, float]:
        return {
            "maximumAvailable": float(self.maximum),
            "currentlyAvailable": float(int(self.level())),
            "restoreRate": float(self.restore_rate),
        }


class FakeState:
    """Shops, buckets and bulk results of one fake Shopify; ``port`` is set once its server listens."""

    def __init__(self, *, bucket_size: float, restore_rate: float, bulk_polls_until_done: int) -> None:
        self.bucket_size = bucket_size
        self.restore_rate = restore_rate
        self.bulk_polls_until_done = bulk_polls_until_done
        self.calls: Counter[str] = Counter()
        self.stores: dict[str, ShopStore] = {}
        self.buckets: dict[str, Bucket] = {}
        self._bulk_files: dict[str, bytes] = {}
        self._bulk_failures: dict[str, str] = {}
        self._lock = threading.RLock()
        self.port: int | None = None
        # Webhooks Shopify would send after a mutation: always recorded on the shop's store, and POSTed to
        # ``webhook_url`` (signed with ``webhook_secret``) when ``emit_webhooks`` is on.
        self.emit_webhooks = False
        self.webhook_url: str | None = None
        self.webhook_secret = ""

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("the fake Shopify is not started")
        return f"http://127.0.0.1:{self.port}"

    def store(self, shop: str) -> ShopStore:
        """The shop's data (created on first use)."""
        with self._lock:
            if shop not in self.stores:
                self.stores[shop] = ShopStore(domain=shop)
            return self.stores[shop]

    def emit_webhook(self, store: ShopStore, topic: str, payload: dict[str, Any]) -> None:
        """Record (and, when on, deliver in the background) the webhook a mutation caused."""
        with store.lock:
            store.webhooks_emitted.append((topic, payload))
        if not (self.emit_webhooks and self.webhook_url):
            return
        url, secret, shop = self.webhook_url, self.webhook_secret, store.domain

        def send() -> None:
            try:
                deliver_webhook(url, shop, topic, payload, secret=secret)
            except Exception as exc:  # a webhook the app did not take is what Shopify would retry; note it
                self.calls[f"webhook_failed:{type(exc).__name__}"] += 1

        threading.Thread(target=send, name="fake-shopify-webhook", daemon=True).start()

    def bucket(self, shop: str) -> Bucket:
        with self._lock:
            if shop not in self.buckets:
                self.buckets[shop] = Bucket(self.bucket_size, self.restore_rate, self.bucket_size)
            return self.buckets[shop]
