"""Many rows of one table in one ``INSERT``, with ``RETURNING`` on SQLite and PostgreSQL alike, for the write
paths where building an ORM object per row costs more than the insert itself. PostgreSQL: SQLAlchemy's "insert
many values", which returns the ids in the rows' order. SQLite: SQLAlchemy cannot promise that order there and
would insert row by row, so one multi-row ``INSERT ... VALUES`` is used instead: SQLite inserts its rows in
order, each taking the next rowid (one more than the largest, under the write lock), so the ids sorted are the
rows' ids in order (checked: they must be consecutive, else it raises and the transaction rolls back).

Invariant: a row inserted here is the row ``Model(**values)`` would have added: every field the caller leaves
out takes the model's own default (its value, or a fresh call of its default factory). No commits.

``per_row`` is the same idea for updates: many rows' different new values in one ``UPDATE``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from functools import cache, partial
from typing import Any

from sqlalchemy import case, insert, literal
from sqlmodel import Session, SQLModel


@cache
def _defaults(model: type[SQLModel]) -> tuple[dict[str, Any], tuple[tuple[str, Callable[[], Any]], ...]]:
    """The model's optional fields: those with a plain default (name → value, the same for every row) and
    those with a default factory (called afresh for every row, as the model would)."""
    plain: dict[str, Any] = {}
    factories: list[tuple[str, Callable[[], Any]]] = []
    for name, field in model.model_fields.items():
        if name == "id" or field.is_required():
            continue
        if field.default_factory is not None:
            factories.append((name, field.default_factory))  # type: ignore[arg-type]
        elif isinstance(field.default, list | dict | set):  # a mutable default: a copy per row
            factories.append((name, partial(copy.deepcopy, field.default)))
        else:
            plain[name] = field.default
    return plain, tuple(factories)


def _with_defaults(model: type[SQLModel], values: dict[str, Any]) -> dict[str, Any]:
    plain, factories = _defaults(model)
    row = {**plain, **values}
    for name, factory in factories:
        if name not in values:
            row[name] = factory()
    return row


def insert_rows(
    session: Session, model: type[SQLModel], rows: Sequence[dict[str, Any]], *, returning: bool = True
) -> list[int]:
    """Insert ``rows`` of ``model``'s table in one statement; their new ids, in the order of ``rows``
    (``returning=False``: no ids wanted, the rows go in one ``executemany`` and ``[]`` comes back)."""
    if not rows:
        return []
    table = model.__table__  # type: ignore[attr-defined]
    values = [_with_defaults(model, r) for r in rows]
    connection = session.connection()
    if not returning:
        connection.execute(insert(table), values)
        return []
    if connection.dialect.name == "sqlite" and len(values) > 1:
        # insertmanyvalues without the order promise: one multi-row INSERT per batch of rows
        result = connection.execute(insert(table).returning(table.c.id), values)
        ids = sorted(int(r[0]) for r in result)
        if ids != list(range(ids[0], ids[0] + len(values))):  # never seen: SQLite's new rowids are max + 1
            raise RuntimeError(f"{table.name}: a multi-row insert took non-consecutive ids {ids}")
        return ids
    stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    result = connection.execute(stmt, values)
    return [int(r[0]) for r in result]


def per_row(key: Any, column: Any, values: Mapping[Any, Any]) -> Any:  # noqa: ANN401 - SQL expressions
    """The ``SET`` value of ``column`` for rows told apart by ``key`` (a column of the same table), each row's
    new value in ``values`` (key → value; None: the row keeps its own). One plain value when every row takes
    the same one, else a ``CASE`` on the key; the column itself (no change) when no row has a value. So many
    rows' changes go in one ``UPDATE ... WHERE key IN (...)``: one statement for the database to run, where
    an ``executemany`` runs one per row."""
    given = {k: v for k, v in values.items() if v is not None}
    if not given:
        return column
    distinct = set(given.values())
    if len(distinct) == 1 and len(given) == len(values):
        return literal(next(iter(distinct)), column.type)
    whens = {k: literal(v, column.type) for k, v in given.items()}
    return case(whens, value=key, else_=column)
