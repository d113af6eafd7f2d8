"""Product reviews from a CSV export (Judge.me, Shopify Product Reviews, or any file with these columns).

Columns (header names are case-insensitive; the first name of each row is the documented one):

| column | aliases | required | meaning |
|---|---|---|---|
| ``product_id`` | ``product_shopify_id`` | one of the two | Shopify product id (number or ``gid://shopify/Product/…``) |
| ``product_handle`` | ``handle`` | | the product's handle in this shop |
| ``rating`` | ``stars``, ``score`` | yes | 1 to 5 (``4`` or ``4.0``) |
| ``title`` | ``review_title`` | no | review title (up to 255 characters kept) |
| ``body`` | ``review``, ``content``, ``review_body`` | no | review text (up to 5,000 characters kept) |
| ``reviewer_email`` | ``email``, ``author_email`` | one of the two | matched to a customer of this shop |
| ``customer_id`` | ``reviewer_id`` | | Shopify customer id (number or gid) |
| ``created_at`` | ``review_date``, ``date`` | no | ISO 8601, ``YYYY-MM-DD HH:MM:SS UTC`` or a date; UTC when no zone |
| ``id`` | ``review_id`` | no | the review app's id: makes re-imports update the same review |

Other columns (``reviewer_name``, ``source``, ``reply``, pictures …) are ignored and not stored.

Every review is tied to one customer of the shop (by ``customer_id`` when given, else by email, compared
case-insensitively) and one live product of the shop: rows that name neither are rejected with a reason,
the others are kept. Re-importing is idempotent: each review has a key (the ``id`` column, else product +
customer + created at), so a second import updates rows instead of adding them. No commits here.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from app.models.base import utcnow
from app.models.commerce import Customer, Product
from app.models.feedback import ProductReview

COLUMNS: dict[str, tuple[str, ...]] = {
    "product_id": ("product_id", "product_shopify_id"),
    "product_handle": ("product_handle", "handle"),
    "rating": ("rating", "stars", "score"),
    "title": ("title", "review_title"),
    "body": ("body", "review", "content", "review_body"),
    "reviewer_email": ("reviewer_email", "email", "author_email"),
    "customer_id": ("customer_id", "reviewer_id"),
    "created_at": ("created_at", "review_date", "date"),
    "id": ("id", "review_id"),
}
MAX_TITLE = 255
MAX_BODY = 5000
MAX_FIELD = 100_000  # csv module's per-field limit, raised from its 128 KiB default only slightly
_GID = re.compile(r"^(?:gid://shopify/\w+/)?(\d{1,19})$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ReviewFileError(ValueError):
    """The file as a whole cannot be read (not CSV, no header, required columns missing)."""


@dataclass(frozen=True)
class ReviewRow:
    row: int  # 1 = the first review after the header
    review_id: str | None
    product_id: int | None
    product_handle: str | None
    rating: int
    title: str | None
    body: str | None
    email: str | None
    customer_id: int | None
    at: datetime | None


@dataclass
class ImportResult:
    stored: int = 0
    updated: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    customers: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "stored": self.stored,
            "updated": self.updated,
            "rejected": self.rejected,
            "customers": len(self.customers),
        }


def _shopify_id(text: str) -> int | None:
    m = _GID.match(text.strip())
    if not m:
        return None
    value = int(m.group(1))
    return value if 0 < value < 2**63 else None


def parse_time(text: str) -> datetime | None:
    """ISO 8601 (``Z`` or offset), ``YYYY-MM-DD HH:MM:SS UTC``, ``… +0000`` or a bare date; None if unreadable."""
    text = text.strip()
    if text.upper().endswith(" UTC"):
        text = text[:-4].strip()
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        try:
            ts = datetime.strptime(text, "%Y-%m-%d %H:%M:%S %z")
        except ValueError:
            return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _rating(text: str) -> int | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return int(value) if value.is_integer() and 1 <= value <= 5 else None


def parse_reviews_csv(text: str) -> tuple[list[ReviewRow], list[dict[str, Any]]]:
    """(readable rows, rejected rows with their reasons). Raises ReviewFileError for an unusable file."""
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise ReviewFileError("the file is empty")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    csv.field_size_limit(max(csv.field_size_limit(), MAX_FIELD))
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except (StopIteration, csv.Error) as exc:
        raise ReviewFileError("the file has no CSV header") from exc
    where: dict[str, int] = {}
    for name, aliases in COLUMNS.items():
        for alias in aliases:
            if alias in header:
                where[name] = header.index(alias)
                break
    missing = []
    if "rating" not in where:
        missing.append("rating")
    if "product_id" not in where and "product_handle" not in where:
        missing.append("product_id or product_handle")
    if "reviewer_email" not in where and "customer_id" not in where:
        missing.append("reviewer_email or customer_id")
    if missing:
        raise ReviewFileError("missing column(s): " + ", ".join(missing))

    rows: list[ReviewRow] = []
    rejected: list[dict[str, Any]] = []
    n = 0
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise ReviewFileError(f"unreadable CSV after review {n}: {exc}") from exc
        if not any(cell.strip() for cell in record):
            continue
        n += 1

        def cell(name: str, record: list[str] = record) -> str:
            i = where.get(name)
            return record[i].strip() if i is not None and i < len(record) else ""

        reason = None
        rating = _rating(cell("rating"))
        product_id = _shopify_id(cell("product_id")) if cell("product_id") else None
        handle = cell("product_handle") or None
        email = cell("reviewer_email").lower() or None
        customer_id = _shopify_id(cell("customer_id")) if cell("customer_id") else None
        at = parse_time(cell("created_at")) if cell("created_at") else None
        if rating is None:
            reason = "rating must be a whole number from 1 to 5"
        elif cell("product_id") and product_id is None:
            reason = "product_id is not a Shopify product id"
        elif product_id is None and handle is None:
            reason = "no product_id or product_handle"
        elif cell("customer_id") and customer_id is None:
            reason = "customer_id is not a Shopify customer id"
        elif email is not None and not _EMAIL.match(email):
            reason = "reviewer_email is not an email address"
        elif customer_id is None and email is None:
            reason = "no reviewer_email or customer_id"
        elif cell("created_at") and at is None:
            reason = "created_at is not a date"
        if reason:
            rejected.append({"row": n, "reason": reason})
            continue
        assert rating is not None
        rows.append(
            ReviewRow(
                row=n,
                review_id=cell("id")[:200] or None,
                product_id=product_id,
                product_handle=handle,
                rating=rating,
                title=cell("title")[:MAX_TITLE] or None,
                body=cell("body")[:MAX_BODY] or None,
                email=email,
                customer_id=customer_id,
                at=at,
            )
        )
    return rows, rejected


def review_key(source: str, row: ReviewRow, product_id: int, customer_id: int) -> str:
    """The idempotency key: the review app's id when the file has one, else product + customer + time."""
    if row.review_id:
        basis = f"{source}|id|{row.review_id}"
    else:
        basis = f"{product_id}|{customer_id}|{row.at.isoformat() if row.at else ''}"
    return hashlib.sha256(basis.encode()).hexdigest()[:40]


def _chunks(values: list[Any], size: int = 500) -> list[list[Any]]:
    return [values[i : i + size] for i in range(0, len(values), size)]


def store_reviews(
    session: Session, shop_id: int, rows: list[ReviewRow], *, source: str = "csv"
) -> ImportResult:
    """Match each row to a customer and a product of this shop and upsert it. No commit."""
    result = ImportResult()
    emails = sorted({r.email for r in rows if r.email and r.customer_id is None})
    ids = sorted({r.customer_id for r in rows if r.customer_id is not None})
    by_email: dict[str, int] = {}
    known_ids: set[int] = set()
    present = Customer.deleted_at.is_(None)  # type: ignore[union-attr]
    for chunk in _chunks(emails):
        for email, cid in session.exec(
            select(func.lower(Customer.email), Customer.shopify_id)
            .where(Customer.shop_id == shop_id, func.lower(Customer.email).in_(chunk), present)
            .order_by(Customer.shopify_id)
        ).all():
            by_email.setdefault(email, cid)
    for chunk in _chunks(ids):
        known_ids |= set(
            session.exec(
                select(Customer.shopify_id).where(
                    Customer.shop_id == shop_id,
                    Customer.shopify_id.in_(chunk),  # type: ignore[attr-defined]
                    present,
                )
            ).all()
        )
    handles = sorted({r.product_handle for r in rows if r.product_handle and r.product_id is None})
    pids = sorted({r.product_id for r in rows if r.product_id is not None})
    by_handle: dict[str, int] = {}
    known_pids: set[int] = set()
    live = Product.deleted_at.is_(None)  # type: ignore[union-attr]
    for chunk in _chunks(handles):
        for handle, pid in session.exec(
            select(Product.handle, Product.shopify_id).where(
                Product.shop_id == shop_id,
                Product.handle.in_(chunk),  # type: ignore[union-attr]
                live,
            )
        ).all():
            by_handle[handle] = pid
    for chunk in _chunks(pids):
        known_pids |= set(
            session.exec(
                select(Product.shopify_id).where(
                    Product.shop_id == shop_id,
                    Product.shopify_id.in_(chunk),  # type: ignore[attr-defined]
                    live,
                )
            ).all()
        )

    now = utcnow()
    values: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r.customer_id is not None:
            customer = r.customer_id if r.customer_id in known_ids else None
            miss = "no customer with this customer_id in this shop"
        else:
            customer = by_email.get(r.email or "")
            miss = "no customer with this reviewer_email in this shop"
        if r.product_id is not None:
            product = r.product_id if r.product_id in known_pids else None
        else:
            product = by_handle.get(r.product_handle or "")
        if product is None:
            result.rejected.append({"row": r.row, "reason": "no such product in this shop"})
            continue
        if customer is None:
            result.rejected.append({"row": r.row, "reason": miss})
            continue
        key = review_key(source, r, product, customer)
        values[key] = {  # a key repeated in one file: the later row wins
            "shop_id": shop_id,
            "review_key": key,
            "source": source[:32],
            "customer_shopify_id": customer,
            "product_shopify_id": product,
            "rating": r.rating,
            "title": r.title,
            "body": r.body,
            "reviewed_at": r.at,
            "imported_at": now,
        }
    keys = sorted(values)
    existing: set[str] = set()
    for chunk in _chunks(keys):
        existing |= set(
            session.exec(
                select(ProductReview.review_key).where(
                    ProductReview.shop_id == shop_id,
                    ProductReview.review_key.in_(chunk),  # type: ignore[attr-defined]
                )
            ).all()
        )
    table = ProductReview.__table__  # type: ignore[attr-defined]
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    for chunk in _chunks(keys, 200):
        stmt = insert(table).values([values[k] for k in chunk])
        changed = ("customer_shopify_id", "product_shopify_id", "rating", "title", "body", "reviewed_at")
        stmt = stmt.on_conflict_do_update(
            index_elements=["shop_id", "review_key"],
            set_={name: stmt.excluded[name] for name in (*changed, "imported_at")},
        )
        session.execute(stmt)
    result.updated = len(existing)
    result.stored = len(keys) - len(existing)
    result.customers = sorted({v["customer_shopify_id"] for v in values.values()})
    result.rejected.sort(key=lambda r: r["row"])
    return result
