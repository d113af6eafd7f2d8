"""Per-shop fitted models: scoring parameters (CLV, RFM ranks, price medians, popularity, intent layer) and the
next-basket ranker of the personal recommendation lists."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import shop_fk, ts_field


class ShopModelParams(SQLModel, table=True):
    """One row per shop, rewritten by ``app.jobs.shop_models.fit_shop_models``.

    ``version`` increases on every fit whose parameters changed; workers cache the parsed parameters per
    process and reload only when the version they hold is not the stored one.
    """

    __tablename__ = "shop_model_params"
    __table_args__ = (UniqueConstraint("shop_id", name="uq_shop_model_params_shop"),)

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    version: int = 1
    params: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, nullable=False)
    customers: int = 0
    sessions: int = 0
    fitted_at: datetime = ts_field(nullable=False, default_now=True)


class RankerModel(SQLModel, table=True):
    """A shop's next-basket ranker (``app.recommend.nextbasket.Ranker``), one row per shop, rewritten by
    ``app.jobs.ranker.train_ranker`` (nightly, and when enough new orders arrived since ``last_order_at``).

    ``blob`` is ``app.recommend.ranker_io``'s bytes: the shop-wide signals and the boosters. ``version`` grows
    with every training; workers keep the loaded ranker per process and reload it only when the stored
    (version, trained_at) is not the one they hold. ``kind`` is ``ranker`` (trained), ``untrained`` (too little
    history: the same candidates scored by TIFU and popularity, ``why`` says so) or ``popularity`` (no orders).
    """

    __tablename__ = "ranker_model"
    __table_args__ = (UniqueConstraint("shop_id", name="uq_ranker_model_shop"),)

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    version: int = 1
    kind: str = Field(max_length=16)
    why: str = Field(default="", max_length=512)
    trained_at: datetime = ts_field(nullable=False, default_now=True)
    last_order_at: datetime | None = ts_field()  # the newest order it learned from
    orders: int = 0  # training data size
    customers: int = 0
    items: int = 0
    currency: str = Field(default="USD", max_length=8)  # the shop's currency when trained (list cards)
    params: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, nullable=False)
    size_bytes: int = 0
    blob: bytes = Field(default=b"", sa_type=LargeBinary, nullable=False)
