"""The shop (tenant) and its installation state."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlmodel import Field, SQLModel

from app.models.base import ts_field, utcnow


def new_pixel_key() -> str:
    return secrets.token_urlsafe(24)


class Shop(SQLModel, table=True):
    """One installed (or once installed) store. ``id`` is the ``shop_id`` every other table carries."""

    id: int | None = Field(default=None, primary_key=True)
    domain: str = Field(max_length=255, unique=True, index=True)
    access_token_enc: str | None = Field(default=None, max_length=2048)
    refresh_token_enc: str | None = Field(default=None, max_length=2048)
    access_token_expires_at: datetime | None = ts_field()
    refresh_token_expires_at: datetime | None = ts_field()
    scopes: str = Field(default="", max_length=2048)
    pixel_key: str = Field(default_factory=new_pixel_key, max_length=64)
    web_pixel_id: str | None = Field(default=None, max_length=255)  # gid of our web pixel, once created
    primary_locale: str | None = Field(default=None, max_length=16)  # shopLocales' primary one (de, pt-BR …)
    installed_at: datetime | None = ts_field()
    uninstalled_at: datetime | None = ts_field()
    created_at: datetime = ts_field(nullable=False, default_now=True)
    updated_at: datetime = ts_field(nullable=False, default_now=True)

    @property
    def is_installed(self) -> bool:
        return self.access_token_enc is not None and self.uninstalled_at is None

    def touch(self) -> None:
        self.updated_at = utcnow()
