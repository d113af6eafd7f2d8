"""Parsing of the loose values Shopify sends: timestamps, money, ids (numeric or ``gid://``)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ts(value: Any) -> datetime | None:
    """An aware UTC datetime from Shopify's ISO-8601 strings (``Z``, offsets, fractions); None if absent."""
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def money(value: Any) -> Decimal | None:
    """A Decimal amount from ``"19.99"``, ``19.99`` or a ``{"amount": ...}`` / ``*_set`` object."""
    if isinstance(value, dict):
        value = value.get("amount", (value.get("shop_money") or {}).get("amount"))
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        return None


def shop_money(data: dict[str, Any], field: str) -> Decimal | None:
    """``field`` in the shop's currency: ``<field>_set.shop_money`` when Shopify sends it (the plain field
    can be in another currency on some resources), else the plain ``field`` (documented in shop currency)."""
    bag = data.get(f"{field}_set")
    if isinstance(bag, dict) and isinstance(bag.get("shop_money"), dict):
        amount = money(bag["shop_money"].get("amount"))
        if amount is not None:
            return amount
    return money(data.get(field))


def shopify_id(value: Any) -> int | None:
    """An integer id from ``123``, ``"123"`` or ``"gid://shopify/Customer/123"`` (query strings ignored)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = str(value).split("?", 1)[0].rstrip("/")
    tail = text.rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else None


def text(value: Any, limit: int) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    return str(value)[:limit]


def content_hash(fields: dict[str, Any]) -> str:
    """A stable digest of a resource version: breaks ties between versions with the same ``updated_at``."""
    blob = json.dumps(fields, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.md5(blob.encode(), usedforsecurity=False).hexdigest()


def version_key(updated_at: datetime | None, digest: str | None) -> tuple[datetime, str]:
    """The total order versions are compared by: newer ``updated_at`` wins, then the larger digest."""
    return (updated_at or EPOCH, digest or "")


def _bag(value: Any) -> tuple[Decimal, str | None, Decimal, str | None] | None:
    """(shop amount, shop currency, presentment amount, presentment currency) of a ``*_set`` money bag."""
    if not isinstance(value, dict):
        return None
    shop, shown = value.get("shop_money"), value.get("presentment_money")
    if not isinstance(shop, dict) or not isinstance(shown, dict):
        return None
    amount, other = money(shop.get("amount")), money(shown.get("amount"))
    if amount is None or other is None:
        return None
    return amount, shop.get("currency_code"), other, shown.get("currency_code")


def _refund_bags(data: dict[str, Any]) -> list[tuple[Decimal, str | None, Decimal, str | None]]:
    """Every money bag of a refund (lines, shipping, adjustments, duties): both currencies side by side."""
    found = [data.get("total_duties_set")]
    for ln in data.get("refund_line_items") or []:
        if isinstance(ln, dict):
            found += [ln.get("subtotal_set"), ln.get("total_tax_set")]
    for ln in data.get("refund_shipping_lines") or []:
        if isinstance(ln, dict):
            found += [ln.get("subtotal_amount_set"), ln.get("tax_amount_set")]
    for adj in data.get("order_adjustments") or []:
        if isinstance(adj, dict):
            found += [adj.get("amount_set"), adj.get("tax_amount_set")]
    return [bag for bag in map(_bag, found) if bag is not None]


def refund_money(data: dict[str, Any]) -> tuple[Decimal | None, str | None]:
    """The money a refund gave back, in the shop's currency: (amount, currency code or None if not said).

    The money is the refund's successful ``refund`` transactions (``kind == "refund"``, ``status ==
    "success"``; pending, failed or errored ones returned nothing), not its lines: lines say which products
    came back, and their subtotals ignore shipping, restocking fees, store credit and partial refunds.
    A transaction's ``amount`` is in its own ``currency`` (the presentment currency of a multi-currency
    order); it is converted to the shop's with the rate of the refund's own money bags (``*_set``: shop
    and presentment side by side). ``amount_set.shop_money`` is used as it is where a transaction carries
    it. A bulk refund has no transactions but ``total_refunded_set`` (Shopify's sum of them, shop money).
    (None, None): nothing to tell the money from (no transactions in the payload), or an amount in a
    currency that cannot be converted (never added to amounts in another currency).
    """
    bags = _refund_bags(data)
    shop_currency = next((b[1] for b in bags if b[1]), None)
    shown_currency = next((b[3] for b in bags if b[3]), None)
    shown_total = sum((abs(b[2]) for b in bags), start=Decimal(0))
    rate = sum((abs(b[0]) for b in bags), start=Decimal(0)) / shown_total if shown_total else None
    transactions = data.get("transactions")
    if not isinstance(transactions, list):
        total = data.get("total_refunded_set")
        shop = total.get("shop_money") if isinstance(total, dict) else None
        if isinstance(shop, dict) and money(shop.get("amount")) is not None:
            return money(shop.get("amount")), shop.get("currency_code") or shop_currency
        return None, None
    amount, currency = Decimal("0.00"), shop_currency
    for t in transactions:
        if not isinstance(t, dict) or t.get("kind") != "refund" or t.get("status") != "success":
            continue
        bag = t.get("amount_set") if isinstance(t.get("amount_set"), dict) else {}
        shop = bag.get("shop_money") if isinstance(bag.get("shop_money"), dict) else None
        if shop is not None and money(shop.get("amount")) is not None:
            value, unit = money(shop.get("amount")), shop.get("currency_code") or shop_currency
        else:
            value, unit = money(t.get("amount")), t.get("currency") or shop_currency
            if value is None:
                continue
            if unit and shop_currency and unit != shop_currency:
                if unit != shown_currency or rate is None:
                    return None, None
                value, unit = (value * rate).quantize(Decimal("0.01")), shop_currency
        if currency and unit and unit != currency:
            return None, None
        amount += value  # type: ignore[operator]
        currency = currency or unit
    return amount, currency
