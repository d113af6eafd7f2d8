"""Shared column types and helpers for every table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use UTC-aware values")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def ts_field(*, nullable: bool = True, default_now: bool = False, index: bool = False) -> Any:
    """A UTC timestamp column."""
    kwargs: dict[str, Any] = {"sa_type": UTCDateTime, "nullable": nullable, "index": index}
    if default_now:
        kwargs["default_factory"] = utcnow
    return Field(**kwargs)


def shop_fk(*, index: bool = True) -> Any:
    """The ``shop_id`` column every table carries; rows go when their shop is erased. ``index=False`` where the
    table's composite indexes all start with ``shop_id`` and serve every lookup by shop (a write-heavy table
    then keeps one index fewer to update on every write)."""
    return Field(foreign_key="shop.id", index=index, ondelete="CASCADE", nullable=False)


def shopify_id_field(*, nullable: bool = False, index: bool = True) -> Any:
    """Shopify resource ids exceed 2**31 (and 2**53): always 64-bit."""
    return Field(sa_type=BigInteger, nullable=nullable, index=index)
