"""The on-site channel: a message that waits for the shopper's next visit, shown by the storefront assistant.

Sending writes one ``Nudge`` row for the shopper (the customer when known, else the browser's client id),
live until the proposal's latest send time; the provider id is the nudge's id. The row is unique per outbox
message, so sending the same message again (a retry after a lost database answer) finds the row it wrote
instead of writing another: on-site delivery is idempotent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, select

from app.channels.base import Accepted, OutgoingMessage, PermanentError, TransientError
from app.db import session_scope
from app.models.serving import Nudge

MAX_TEXT, MAX_REASON, MAX_URL = 280, 280, 512


def same_site_path(url: Any) -> str | None:
    """The link as a path on the shop's own site (``/products/x?y``): a nudge never sends the shopper off the
    shop, so an absolute URL keeps only its path and query."""
    if not isinstance(url, str) or not url.strip() or "\\" in url:  # browsers read "/\\x" as "//x"
        return None
    parts = urlsplit(url.strip())
    if parts.scheme not in ("", "http", "https"):
        return None
    path = urlunsplit(("", "", parts.path or "/", parts.query, parts.fragment))
    if not path.startswith("/") or path.startswith("//") or len(path) > MAX_URL:
        return None
    return path


def nudge_text(message: OutgoingMessage) -> str:
    data = message.data
    text = (
        data.get("onsite_text")
        or data.get("subject")
        or data.get("heading")
        or message.template.replace("_", " ")
    )
    return " ".join(str(text).split())[:MAX_TEXT]


class OnsiteChannel:
    """Writes the shopper's nudge in its own transaction."""

    name = "onsite"

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    def _existing(self, session: Session, message: OutgoingMessage) -> Nudge | None:
        return session.exec(
            select(Nudge).where(Nudge.shop_id == message.shop_id, Nudge.outbox_id == message.outbox_id)
        ).first()

    def send(self, message: OutgoingMessage) -> Accepted:
        extra = message.extra
        customer_id, client_id = extra.get("customer_id"), extra.get("client_id")
        if customer_id is None and not client_id:
            raise PermanentError("an on-site message needs a customer or a client id")
        expires_at: datetime | None = extra.get("expires_at")
        try:
            with session_scope(self.database_url) as session:
                found = self._existing(session, message)
                if found is None:
                    found = Nudge(
                        shop_id=message.shop_id,
                        customer_id=customer_id,
                        client_id=None if customer_id is not None else client_id,
                        agent=str(extra.get("agent") or "attune")[:32],
                        kind="offer" if message.data.get("onsite_kind") == "offer" else "message",
                        text=nudge_text(message),
                        url=same_site_path(message.data.get("cta_url") or message.data.get("url")),
                        reason=str(extra.get("reason") or "")[:MAX_REASON],
                        priority=int(extra.get("priority") or 0),
                        expires_at=expires_at,
                        outbox_id=message.outbox_id,
                    )
                    session.add(found)
                    session.flush()
                nudge_id = found.id
        except IntegrityError:  # a concurrent send of the same message wrote it first
            with session_scope(self.database_url) as session:
                found = self._existing(session, message)
                if found is None:
                    raise TransientError("the on-site message could not be written") from None
                nudge_id = found.id
        except SQLAlchemyError as exc:
            raise TransientError(f"the on-site message could not be written: {type(exc).__name__}") from exc
        return Accepted(provider_id=str(nudge_id))
