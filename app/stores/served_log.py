"""The served-list log's table (``served_list``): the Redis list key the storefront appends to, and the
deduplicated insert of its entries. No commits.

Invariant: a ``serve_id`` is stored at most once, so a retried or concurrent flush, or the storefront's direct
write while Redis is down, never counts one answer twice in lift.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from app.models.serving import ServedList

SERVED_LOG_KEY = "attune:served_log"


def insert_entries(session: Session, entries: list[dict[str, Any]]) -> int:
    """Add log entries whose serve id is not stored yet; returns how many were new."""
    if not entries:
        return 0
    ids = [e["serve_id"] for e in entries]
    known = set(session.exec(select(ServedList.serve_id).where(ServedList.serve_id.in_(ids))).all())  # type: ignore[attr-defined]
    fresh = {e["serve_id"]: e for e in entries if e["serve_id"] not in known}
    for e in fresh.values():
        session.add(ServedList(**{**e, "served_at": datetime.fromisoformat(e["served_at"])}))
    return len(fresh)
