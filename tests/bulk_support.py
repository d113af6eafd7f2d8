"""What the ``app.stores.bulk`` tests share: a decision row's values, and the SQL statements a block ran."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import event

from app.db import get_engine

NOW = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)


def decision_row(n: int, shop_id: int, **extra: object) -> dict:
    """The values of a sent browse-abandonment decision for ``customer:n`` (``extra`` on top)."""
    return dict(
        shop_id=shop_id,
        agent="browse_abandonment",
        shopper_key=f"customer:{n}",
        purpose="marketing",
        action="send",
        arm="treated",
        reason="fits the budget",
        proposal_reason="viewed twice",
        expected_value=1.0,
        dedupe_key=f"browse:{n}",
        template="message",
        decided_at=NOW,
        **extra,
    )


@contextmanager
def statements(database_url: str, wanted: Callable[[str], bool]) -> Iterator[list[str]]:
    """The text of every statement the block sent to the database for which ``wanted`` holds, in order."""
    seen: list[str] = []

    def record(conn, cursor, statement, params, context, executemany) -> None:  # noqa: ANN001
        if wanted(statement):
            seen.append(statement)

    engine = get_engine(database_url)
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
