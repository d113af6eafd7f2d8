"""Helpers for the webhook tests: shops, signed deliveries, and a real RQ worker run."""

from __future__ import annotations

import json
import signal
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from conftest import TEST_API_SECRET
from redis import Redis
from rq import SimpleWorker
from sqlmodel import Session

from app.db import get_engine
from app.models.inbox import DONE, WebhookInbox
from app.models.shop import Shop
from app.shopify.verify import webhook_hmac
from webhooks.inbox_jobs import process_inbox
from webhooks.ingest import flush_enqueues

DATA_WEBHOOKS = Path(__file__).resolve().parent / "data" / "webhooks"


def make_shop(session: Session, domain: str = "alpha.myshopify.com", *, installed: bool = True) -> Shop:
    shop = Shop(domain=domain, access_token_enc="sealed-token" if installed else None, scopes="read_orders")
    session.add(shop)
    session.commit()
    session.refresh(shop)
    return shop


def body_of(payload: Any) -> bytes:
    return payload if isinstance(payload, bytes) else json.dumps(payload).encode()


def deliver(
    client: Any,
    topic: str,
    payload: Any,
    *,
    shop: str = "alpha.myshopify.com",
    event_id: str | None = None,
    secret: str = TEST_API_SECRET,
    headers: dict[str, str] | None = None,
) -> Any:
    """POST a delivery signed exactly as Shopify signs it (base64 HMAC-SHA256 of the raw body)."""
    body = body_of(payload)
    sent = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-Hmac-Sha256": webhook_hmac(body, secret),
        "X-Shopify-Event-Id": event_id or str(uuid.uuid4()),
        "X-Shopify-Webhook-Id": str(uuid.uuid4()),
        "X-Shopify-API-Version": "2026-07",
        "X-Shopify-Triggered-At": "2026-07-10T16:15:47.000000Z",
    }
    sent.update(headers or {})
    return client.post("/webhooks", data=body, headers={k: v for k, v in sent.items() if v is not None})


def run_jobs(redis_url: str, queues: tuple[str, ...] = ("webhooks", "default", "low")) -> None:
    """Drain the queues with a real RQ worker in this process (its signal handlers are undone after),
    once the jobs of the deliveries acknowledged so far are queued (the web side enqueues them in the
    background, after the 200)."""
    assert flush_enqueues(), "background enqueues did not finish"
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        SimpleWorker(list(queues), connection=Redis.from_url(redis_url)).work(burst=True)
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


class Gate:
    """An inbox writer's ``before_batch`` hook: while the gate is closed, the writer's leader waits in it
    (a minute at most), so concurrent deliveries gather without a commit."""

    def __init__(self) -> None:
        self._open = threading.Event()
        self._open.set()

    def __call__(self) -> None:
        self._open.wait(60)

    @contextmanager
    def closed(self) -> Iterator[None]:
        self._open.clear()
        try:
            yield
        finally:
            self._open.set()


def load_payload(path: Path) -> tuple[str, bytes]:
    """(topic, raw bytes) for a fixture named ``topic with / as __``.json; bytes kept verbatim."""
    return path.stem.replace("__", "/"), path.read_bytes()


def flask_only(app: Any) -> Any:
    """``app`` with the ``POST /webhooks`` fast path taken out of its WSGI chain: the Flask route answers."""
    from webhooks.fast import WebhookFastPath

    holder: Any = app
    attr = "wsgi_app"
    while True:
        wsgi = getattr(holder, attr)
        if isinstance(wsgi, WebhookFastPath):
            setattr(holder, attr, wsgi.inner)
            return app
        if not hasattr(wsgi, "inner"):
            raise AssertionError("no webhook fast path in the app's WSGI chain")
        holder, attr = wsgi, "inner"


def client_for(app: Any, path: str) -> Any:
    """A test client whose deliveries take the fast path (``fast``) or only the Flask route (``flask``)."""
    return (flask_only(app) if path == "flask" else app).test_client()


def apply_each(db_url: str, shop_id: int, domain: str, stream) -> None:
    """Record each (topic, payload) delivery as its own inbox event and process it at once (distinct event
    ids: a duplicate really re-applies)."""
    for topic, payload in stream:
        with Session(get_engine(db_url)) as s:
            row = WebhookInbox(
                shop_id=shop_id,
                shop_domain=domain,
                event_id=str(uuid.uuid4()),
                topic=topic,
                payload=json.dumps(payload),
            )
            s.add(row)
            s.commit()
            inbox_id = row.id
        assert process_inbox(inbox_id) == DONE
