"""Where the upserts of ``app.commerce.upserts`` find a resource's stored row: ``Rows``.

A webhook writes one resource: ``Rows.get`` reads its row with one ``SELECT … FOR UPDATE`` by key. The bulk
backfill writes a page of resources in one transaction: ``Rows.preload`` first reads every row the page may
touch, one ``SELECT … WHERE key IN (…) FOR UPDATE`` per table, and ``get`` then answers from memory (a key not
loaded is not stored). Either way the same upsert code compares versions against the same stored row, so a
page is written exactly as its resources would be one by one, in order. New rows are registered with
``added`` so that a later resource of the same page (a duplicate, a second order of the same customer) finds
them. Order lines are the one child written in bulk: a page keeps each order's lines in ``lines`` (the stored
rows, and plain dicts for the new ones), and ``flush_lines`` inserts the new ones in one statement at the end.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session, SQLModel, select

IN_CHUNK = 500  # keys per IN (…) list: well under SQLite's and PostgreSQL's parameter limits


class Rows:
    """The stored rows of one shop, by key: queried one at a time, or preloaded for a page."""

    def __init__(self, session: Session, shop_id: int) -> None:
        self.session, self.shop_id = session, shop_id
        self._cache: dict[tuple[type[SQLModel], str], dict[Any, Any]] = {}
        # order id -> line id -> the stored OrderLine, or the dict of a line to insert (pages only)
        self.lines: dict[int, dict[int, Any]] | None = None

    @property
    def paged(self) -> bool:
        return self.lines is not None

    def get(self, model: type[SQLModel], column: str, value: Any) -> Any:
        """The stored row of ``model`` whose ``column`` is ``value`` in this shop, or None."""
        cache = self._cache.get((model, column))
        if cache is not None:
            return cache.get(value)
        stmt = select(model).where(model.shop_id == self.shop_id, getattr(model, column) == value)  # type: ignore[attr-defined]
        return self.session.exec(stmt.with_for_update()).first()

    def added(self, model: type[SQLModel], column: str, row: Any) -> Any:
        """``row`` (new) is added to the session, and found by later ``get`` calls of a preloaded page."""
        self.session.add(row)
        cache = self._cache.get((model, column))
        if cache is not None:
            cache[getattr(row, column)] = row
        return row

    def preload(self, model: type[SQLModel], column: str, values: Iterable[Any]) -> None:
        """Read the rows of ``model`` whose ``column`` is one of ``values``; ``get`` answers from them."""
        cache = self._cache.setdefault((model, column), {})
        for row in self._select(model, column, {v for v in values if v is not None}):
            cache[getattr(row, column)] = row

    def preload_lines(self, model: type[SQLModel], order_ids: Iterable[int]) -> None:
        """Read the stored lines of these orders (``order_shopify_id``); pages then insert lines in bulk."""
        self.lines = {oid: {} for oid in order_ids}
        for row in self._select(model, "order_shopify_id", set(self.lines)):
            self.lines[row.order_shopify_id][row.shopify_id] = row

    def _select(self, model: type[SQLModel], column: str, values: set[Any]) -> list[Any]:
        rows: list[Any] = []
        ordered = sorted(values)
        for lo in range(0, len(ordered), IN_CHUNK):
            stmt = select(
                model
            ).where(
                model.shop_id == self.shop_id,  # type: ignore[attr-defined]
                getattr(model, column).in_(ordered[lo : lo + IN_CHUNK]),
            )
            rows += self.session.exec(stmt.with_for_update()).all()
        return rows

    def flush_lines(self, model: type[SQLModel]) -> int:
        """Write the page: the ORM's changes first (deleted lines go before a re-inserted one), then the new
        lines in one multi-row ``INSERT``. Returns how many lines were inserted."""
        self.session.flush()
        new = [
            line for lines in (self.lines or {}).values() for line in lines.values() if isinstance(line, dict)
        ]
        if new:
            self.session.execute(insert(model), new)
        self.lines = None
        return len(new)
