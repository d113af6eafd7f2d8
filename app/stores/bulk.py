"""Many rows of one table in one ``INSERT`` (SQLAlchemy's "insert many values", with ``RETURNING`` on SQLite and
PostgreSQL alike), for the write paths where building an ORM object per row costs more than the insert itself.

Invariant: a row inserted here is the row ``Model(**values)`` would have added: every field the caller leaves
out takes the model's own default (its value, or a fresh call of its default factory). No commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session, SQLModel


def _with_defaults(model: type[SQLModel], values: dict[str, Any]) -> dict[str, Any]:
    row = dict(values)
    for name, field in model.model_fields.items():
        if name not in row and name != "id" and not field.is_required():
            row[name] = field.get_default(call_default_factory=True)
    return row


def insert_rows(session: Session, model: type[SQLModel], rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert ``rows`` of ``model``'s table in one statement; their new ids, in the order of ``rows``."""
    if not rows:
        return []
    table = model.__table__  # type: ignore[attr-defined]
    stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    result = session.connection().execute(stmt, [_with_defaults(model, r) for r in rows])
    return [int(r[0]) for r in result]
