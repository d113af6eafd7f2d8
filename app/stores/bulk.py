"""Many rows of one table in one ``INSERT``, with ``RETURNING`` on SQLite and PostgreSQL alike, for the write
paths where building an ORM object per row costs more than the insert itself. PostgreSQL: ``INSERT ... SELECT``
from the rows in one JSON parameter, in their order, so the statement's text does not follow the row count (psycopg
parses a statement of over 50 parameters again at every run, and the server cannot reuse a plan for a new text);
the ids are drawn in that order. SQLite: SQLAlchemy cannot promise the order there and would insert row by row, so
one multi-row ``INSERT ... VALUES`` is used instead: SQLite inserts its rows in order, each taking the next rowid
(one more than the largest, under the write lock), so the ids sorted are the rows' ids in order (checked: they
must be consecutive, else it raises and the transaction rolls back).

Invariant: a row inserted here is the row ``Model(**values)`` would have added: every field the caller leaves
out takes the model's own default (its value, or a fresh call of its default factory). No commits.

``update_rows`` is the same idea for updates: many rows' different new values in one statement; ``one_of`` for
lookups: ``IN`` a list, in one parameter on PostgreSQL.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from functools import cache, partial
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    ColumnElement,
    Connection,
    String,
    Table,
    Text,
    any_,
    bindparam,
    cast,
    column,
    func,
    insert,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Session, SQLModel

from app.models.base import UTCDateTime

T = TypeVar("T")


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
    (``returning=False``: no ids wanted, ``[]`` comes back; SQLite then runs one ``executemany``)."""
    if not rows:
        return []
    table = model.__table__  # type: ignore[attr-defined]
    values = [_with_defaults(model, r) for r in rows]
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        return _insert_json(connection, table, values, returning)
    if not returning:
        connection.execute(insert(table), values)
        return []
    if len(values) > 1:  # SQLite
        # insertmanyvalues without the order promise: one multi-row INSERT per batch of rows
        result = connection.execute(insert(table).returning(table.c.id), values)
        ids = sorted(int(r[0]) for r in result)
        if ids != list(range(ids[0], ids[0] + len(values))):  # never seen: SQLite's new rowids are max + 1
            raise RuntimeError(f"{table.name}: a multi-row insert took non-consecutive ids {ids}")
        return ids
    return [int(connection.execute(insert(table).returning(table.c.id), values[0]).scalar_one())]


def _insert_json(
    connection: Connection, table: Table, values: list[dict[str, Any]], returning: bool
) -> list[int]:
    """PostgreSQL: ``INSERT ... SELECT`` from the rows in one JSON parameter, in their order (``WITH
    ORDINALITY``, ``ORDER BY``), so the statement is the same however many rows there are (built once per table
    and columns). The serial ids are drawn in that order, so the returned ids sorted are the rows' ids in order
    (what SQLAlchemy's own "insert many values" relies on)."""
    columns = tuple(dict.fromkeys(c for row in values for c in row))
    payload = _json_rows(values, columns)
    stmt = _insert_from_json(table, columns, returning)
    if not returning:
        connection.execute(stmt, {"new_rows": payload})
        return []
    ids = sorted(int(r[0]) for r in connection.execute(stmt, {"new_rows": payload}))
    if len(ids) != len(values):
        raise RuntimeError(f"{table.name}: {len(values)} rows inserted, {len(ids)} ids returned")
    return ids


_POSTGRESQL = postgresql.dialect()
_UTC_DATETIME = UTCDateTime()


@cache
def _insert_from_json(table: Table, columns: tuple[str, ...], returning: bool) -> Any:  # noqa: ANN401
    """The statement: ``json_to_recordset`` reads each row into its columns' types in one pass (``->>`` per
    column would parse a row's JSON once per column), under ``ROWS FROM ... WITH ORDINALITY`` for the order."""
    quote = _POSTGRESQL.identifier_preparer.quote
    names = [quote(c) for c in columns]
    types = [table.c[c].type.compile(dialect=_POSTGRESQL) for c in columns]
    source = text(
        "ROWS FROM (json_to_recordset(CAST(:new_rows AS JSON)) AS ("
        + ", ".join(f"{n} {t}" for n, t in zip(names, types, strict=True))
        + f")) WITH ORDINALITY AS new_rows({', '.join(names)}, ord)"
    ).bindparams(bindparam("new_rows", type_=Text()))
    rows = select(*(literal_column(f"new_rows.{n}") for n in names)).select_from(source)
    stmt = insert(table).from_select(columns, rows.order_by(literal_column("new_rows.ord")))
    return stmt.returning(table.c.id) if returning else stmt


def update_rows(
    session: Session,
    table: Table,
    key: str,
    rows: Sequence[Mapping[str, Any]],
    *,
    where: Mapping[str, Any] | None = None,
    also: Mapping[str, Any] | None = None,
) -> int:
    """Write each of ``rows`` (its ``key`` and its new values by column name, the same columns in every row; None:
    the row keeps its own) to the row of ``table`` with that ``key`` where each column of ``where`` equals its
    value too, and ``also`` (the same for every row, such as ``updated_at``). Returns how many rows changed.

    PostgreSQL: one ``UPDATE ... FROM json_to_recordset(...)`` whose rows come in one JSON parameter, so the
    statement's text is the same however many rows there are: the driver and the server reuse its parsed and
    prepared form. (A ``CASE`` per column with two parameters per row was a new text at every size, compiled
    afresh, and psycopg parses any statement of more than 50 parameters again at every run.) SQLite: an
    ``executemany`` of one cached ``UPDATE``, which sqlite3 runs in C; SQLite's ``UPDATE ... FROM`` would scan the
    table once per new row. Either statement is built once per table and columns (``_update_statement``)."""
    if not rows:
        return 0
    where, also = where or {}, also or {}
    columns = tuple(c for c in rows[0] if c != key)
    connection = session.connection()
    dialect = connection.dialect.name
    stmt = _update_statement(dialect, table, key, columns, tuple(where), tuple(also))
    fixed = {**{f"where_{c}": v for c, v in where.items()}, **{f"also_{c}": v for c, v in also.items()}}
    if dialect == "postgresql":
        payload = _json_rows(rows, (key, *columns))
        return connection.execute(
            stmt, {**fixed, "new_rows": payload, "new_keys": [r[key] for r in rows]}
        ).rowcount
    params = [{**fixed, **{f"new_{c}": r[c] for c in (key, *columns)}} for r in rows]
    return connection.execute(stmt, params).rowcount


@cache
def _update_statement(
    dialect: str,
    table: Table,
    key: str,
    columns: tuple[str, ...],
    where: tuple[str, ...],
    also: tuple[str, ...],
) -> Any:  # noqa: ANN401
    """``update_rows``'s statement, its values all named parameters: ``new_rows`` and ``new_keys`` (PostgreSQL) or
    ``new_<column>`` per row (SQLite), ``where_<column>`` and ``also_<column>``."""
    conditions = [table.c[c] == bindparam(f"where_{c}", type_=table.c[c].type) for c in where]
    fixed = {c: bindparam(f"also_{c}", type_=table.c[c].type) for c in also}
    if dialect == "postgresql":
        new = (
            func.json_to_recordset(cast(bindparam("new_rows", type_=String()), JSON))
            .table_valued(*(column(c, table.c[c].type) for c in (key, *columns)))
            .render_derived(name="new_rows", with_types=True)
        )
        keys = any_of(dialect, table.c[key], "new_keys")  # the rows by their index, then the join
        values: dict[str, Any] = {c: func.coalesce(new.c[c], table.c[c]) for c in columns}
        return update(table).where(keys, table.c[key] == new.c[key], *conditions).values({**values, **fixed})
    stmt = update(table).where(table.c[key] == bindparam(f"new_{key}", type_=table.c[key].type), *conditions)
    values = {c: func.coalesce(bindparam(f"new_{c}", type_=table.c[c].type), table.c[c]) for c in columns}
    return stmt.values({**values, **fixed})


def _json_rows(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """``rows`` as the one JSON parameter PostgreSQL's ``json_to_recordset`` reads (a column a row lacks: null)."""
    return json.dumps([{c: _plain(row.get(c)) for c in columns} for row in rows], default=_json_value)


def _plain(value: Any) -> Any:  # noqa: ANN401
    """A float JSON cannot hold (NaN, infinities) as the text PostgreSQL reads back into its column's type."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def _json_value(value: Any) -> Any:  # noqa: ANN401
    """A datetime as ``UTCDateTime`` stores it on PostgreSQL (aware, in UTC; a naive one is refused), written as
    ISO 8601 with its offset, which PostgreSQL reads into ``timestamptz``."""
    if isinstance(value, datetime):
        return _UTC_DATETIME.process_bind_param(value, _POSTGRESQL).isoformat()
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def one_of(session: Session, column: Any, values: Iterable[Any]) -> ColumnElement[bool]:  # noqa: ANN401
    """``column IN values``. On PostgreSQL ``column = ANY(:values)``: one array parameter however many values, so
    the statement's text stays the same (the driver and the server reuse its parsed form; an ``IN`` list takes a
    parameter per value, and psycopg parses a statement of over 50 parameters again at every run)."""
    values = list(values)
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(_array_item(column))))
    return column.in_(values)


def any_of(dialect: str, column: Any, name: str) -> ColumnElement[bool]:  # noqa: ANN401
    """``one_of`` for a statement built once (``prebuilt``): ``column`` among the values of the parameter
    ``name``, a list given at each execution (one array on PostgreSQL, an expanding ``IN`` elsewhere)."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(_array_item(column))))
    return column.in_(bindparam(name, expanding=True))


def _array_item(column: Any) -> Any:  # noqa: ANN401
    kind = getattr(column.type, "impl", column.type)  # a TypeDecorator's own (sqlmodel's AutoString)
    return String() if isinstance(kind, String) else column.type  # no length: a cast to one cuts values


def execute(session: Session, statement: Any, params: Mapping[str, Any]) -> Any:  # noqa: ANN401
    """Run a Core statement (a ``prebuilt`` one) on the session's connection with ``params``, after flushing what
    the session holds, as the ORM's own queries do (autoflush; skipped inside ``no_autoflush``), so objects a
    caller added or changed in this transaction are seen. The ORM's per-statement work is skipped."""
    if session.autoflush:
        session.flush()
    return session.connection().execute(statement, params)


def prebuilt(build: Callable[[str], T]) -> Callable[[Session], T]:
    """A statement built once per SQL dialect by ``build(dialect_name)``, every value in it a named parameter
    given at execution. SQLAlchemy builds a statement's objects and works out its cache key afresh each time the
    code that builds it runs (0.2-0.6 ms for the relay's and the orchestrator's queries) before it finds the
    compiled form in its cache; a statement built once keeps its key."""
    built = cache(build)

    def get(session: Session) -> T:
        return built(session.get_bind().dialect.name)

    return get
