"""What ``POST /webhooks`` answers, shared by the Flask route and the WSGI fast path.

``receive`` checks a delivery (HMAC over the raw body with the current or previous secret, required
headers, shop domain, JSON object), records it through this process's :class:`InboxWriter` (group commit;
returns only after the row's transaction committed) and returns (status, JSON body). The new pending rows'
jobs are queued after the commit by this process's :class:`JobEnqueuer`, off the request path.
The body-size limit (413) is applied by the callers, before the body is read.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

import orjson

from app.config import Settings
from app.models.base import utcnow
from app.models.inbox import PENDING
from app.shopify.verify import is_valid_shop_domain, verify_webhook
from webhooks.enqueuer import JobEnqueuer
from webhooks.inbox_writer import InboxUnavailable, InboxWriter

log = logging.getLogger(__name__)

Header = Callable[[str], str | None]
Answer = tuple[int, dict[str, Any]]


def error(status: int, code: str, message: str) -> Answer:
    return status, {"error": code, "message": message}


def too_large(cfg: Settings) -> Answer:
    return error(
        413, "payload_too_large", f"webhook bodies are limited to {cfg.webhook_max_body_bytes} bytes"
    )


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


_INVALID = object()


def _parse_json(body: bytes) -> Any:
    """The parsed body, or ``_INVALID``. Accepts exactly what ``json.loads`` accepts: orjson (about 4×
    faster on a typical order) decides the common case, and whatever it rejects (UTF-16/32, integers
    beyond 64 bits, NaN, lone surrogates) goes to ``json.loads`` for the final word."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(body)
    except ValueError:
        return _INVALID


def receive(cfg: Settings, body: bytes, header: Header) -> Answer:
    """The answer to one delivery of ``body`` (already within the size limit) with these headers.

    The delivery is announced to the writer while it is checked, so a commit about to start waits for
    it (briefly) instead of leaving it for the next one."""
    try:
        writer = writer_for(cfg)
    except Exception as exc:  # noqa: BLE001 - a bad delivery still gets its 4xx; a good one a 503
        writer, unavailable = None, exc
    else:
        writer.expect()
    try:
        checked = _check(cfg, body, header)
    except BaseException:
        if writer is not None:
            writer.unexpect()
        raise
    if not isinstance(checked, dict):
        if writer is not None:
            writer.unexpect()
        return checked
    try:
        if writer is None:
            raise InboxUnavailable("no inbox writer") from unavailable
        done = writer.record(checked, expected=True)
    except InboxUnavailable as exc:
        log.error("webhook inbox unavailable: %s", exc.__cause__.__class__.__name__ if exc.__cause__ else exc)
        return error(503, "unavailable", "the event store is unavailable; retry later")
    if done.inbox_id is None:
        return 200, {"status": "duplicate"}
    if done.status == PENDING:
        return 200, {"status": "accepted", "id": done.inbox_id}
    log.info("webhook %s for %s dropped: %s", checked["topic"], checked["shop_domain"], done.reason)
    return 200, {"status": "dropped", "reason": done.reason}


def _check(cfg: Settings, body: bytes, header: Header) -> Answer | dict[str, Any]:
    """The inbox row for a valid delivery, else the answer that refuses it."""
    if not verify_webhook(body, header("X-Shopify-Hmac-Sha256"), cfg.api_secrets):
        return error(401, "unauthorized", "invalid or missing X-Shopify-Hmac-Sha256")
    topic = (header("X-Shopify-Topic") or "").strip()
    domain = (header("X-Shopify-Shop-Domain") or "").strip().lower()
    event_id = (header("X-Shopify-Event-Id") or header("X-Shopify-Webhook-Id") or "").strip()
    missing = [
        name
        for name, value in (
            ("X-Shopify-Topic", topic),
            ("X-Shopify-Shop-Domain", domain),
            ("X-Shopify-Event-Id or X-Shopify-Webhook-Id", event_id),
        )
        if not value
    ]
    if missing:
        return error(400, "missing_headers", "required headers missing: " + ", ".join(missing))
    if len(topic) > 128 or len(event_id) > 255:
        return error(400, "bad_headers", "X-Shopify-Topic or event id is too long")
    if not is_valid_shop_domain(domain, allow_dev_domains=cfg.attune_env != "production"):
        return error(400, "bad_shop", "X-Shopify-Shop-Domain is not a shop domain")
    payload = _parse_json(body)
    if payload is _INVALID:
        return error(400, "malformed_json", "the body is not valid JSON")
    if not isinstance(payload, dict):
        return error(400, "malformed_json", "the body must be a JSON object")

    return {
        "shop_domain": domain,
        "event_id": event_id,
        "webhook_id": (header("X-Shopify-Webhook-Id") or "")[:255] or None,
        "topic": topic,
        "api_version": (header("X-Shopify-API-Version") or "")[:32] or None,
        "triggered_at": (header("X-Shopify-Triggered-At") or "")[:64] or None,
        "payload": body.decode("utf-8", "replace"),
        "attempts": 0,
        "received_at": utcnow(),
        "processed_at": None,
    }


# --- one writer per database (and Redis), one enqueuer per Redis, per process -----------------------

_lock = threading.Lock()
_writers: dict[tuple[int, str, str | None], InboxWriter] = {}
_enqueuers: dict[tuple[int, str | None], JobEnqueuer] = {}


def enqueuer_for(redis_url: str | None) -> JobEnqueuer:
    key = (os.getpid(), redis_url)
    with _lock:
        if key not in _enqueuers:
            _enqueuers[key] = JobEnqueuer(redis_url)
        return _enqueuers[key]


def writer_for(cfg: Settings) -> InboxWriter:
    """This process's writer for the settings' database; its commits feed the settings' Redis."""
    key = (os.getpid(), cfg.database_url, cfg.redis_url)
    writer = _writers.get(key)
    if writer is None:
        enqueuer = enqueuer_for(cfg.redis_url)
        with _lock:
            writer = _writers.setdefault(key, InboxWriter(cfg.database_url, after_commit=enqueuer.submit))
    return writer


def flush_enqueues(timeout: float = 10.0) -> bool:
    """Queue every job this process still holds (tests, and before a process exits)."""
    pid = os.getpid()
    with _lock:
        mine = [e for (p, _), e in _enqueuers.items() if p == pid]
    return all([e.flush(timeout) for e in mine])


def shutdown(timeout: float = 10.0) -> bool:
    """Commit what the writers hold, stop them, then queue every pending job (gunicorn ``worker_exit``,
    ``atexit``)."""
    pid = os.getpid()
    with _lock:
        writers = [w for (p, _, _), w in _writers.items() if p == pid]
        for key in [k for k in _writers if k[0] == pid]:
            del _writers[key]
    for writer in writers:
        writer.close(timeout)
    return flush_enqueues(timeout)


atexit.register(shutdown)
