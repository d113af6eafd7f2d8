"""Shopify Flow as a channel: an outbox row on channel ``flow`` fires one of Attune's Flow triggers
(``extensions/attune-flow-*``) with ``flowTriggerReceive``, and the merchant's own workflows take it from there.

The row's ``template`` is the trigger's handle and its ``data`` the trigger's fields by their data names
(``TRIGGERS``); the recipient is the Shopify customer id (the trigger's customer reference). The payload is
built and checked here (known handle, declared fields only, at most 50 KB) before anything is sent; the
call itself goes through ``fire``, which the relay builds from the Admin API client and which raises the
channel errors (``TransientError`` when throttled, ``PermanentError`` when refused …).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from app.channels.base import Accepted, OutgoingMessage, PermanentError

PAYLOAD_LIMIT = 50_000  # bytes of compact JSON; Shopify refuses a larger trigger payload


@dataclass(frozen=True)
class TriggerField:
    data_name: str  # the name in the outbox row's data
    key: str  # the field's key in the trigger (shopify.extension.toml)
    type: str  # single_line_text_field, number_decimal, url, date …


@dataclass(frozen=True)
class Trigger:
    handle: str
    name: str
    references: tuple[str, ...]  # customer_reference, product_reference …
    fields: tuple[TriggerField, ...]


_REASON = TriggerField("reason", "Reason", "single_line_text_field")
TRIGGERS: Mapping[str, Trigger] = {
    t.handle: t
    for t in (
        Trigger(
            "attune-browse-abandonment",
            "Browse abandonment detected",
            ("customer_reference", "product_reference"),
            (
                TriggerField("product_title", "Product title", "single_line_text_field"),
                TriggerField("product_url", "Product URL", "url"),
                TriggerField("views", "Views", "number_decimal"),
                _REASON,
            ),
        ),
        Trigger(
            "attune-cart-at-risk",
            "Cart at risk",
            ("customer_reference",),
            (
                TriggerField("cart_value", "Cart value", "number_decimal"),
                TriggerField("risk", "Risk", "number_decimal"),
                _REASON,
            ),
        ),
        Trigger(
            "attune-replenishment-due",
            "Replenishment due",
            ("customer_reference", "product_reference"),
            (
                TriggerField("product_title", "Product title", "single_line_text_field"),
                TriggerField("due_date", "Due date", "date"),
                _REASON,
            ),
        ),
        Trigger(
            "attune-churn-risk-rose",
            "Churn risk rose",
            ("customer_reference",),
            (
                TriggerField("churn_risk", "Churn risk", "number_decimal"),
                TriggerField("previous_churn_risk", "Previous churn risk", "number_decimal"),
                TriggerField("segment", "Segment", "single_line_text_field"),
                _REASON,
            ),
        ),
        Trigger(
            "attune-stockout-predicted",
            "Stock-out predicted",
            ("product_reference",),
            (
                TriggerField("product_title", "Product title", "single_line_text_field"),
                TriggerField("sku", "SKU", "single_line_text_field"),
                TriggerField("days_of_cover", "Days of cover", "number_decimal"),
                TriggerField("stockout_date", "Stock-out date", "date"),
                TriggerField("suggested_order", "Suggested order", "number_decimal"),
                _REASON,
            ),
        ),
    )
}
REFERENCE_DATA = {"product_reference": "product_id", "order_reference": "order_id"}
TEST_REASON = "A test from Attune's Channels page: your workflow starts with this trigger."
SAMPLES: Mapping[str, Any] = {  # the sample value of each field data name, for the Channels page's test
    "product_title": "Sample product",
    "product_url": "https://example.com/products/sample",
    "views": 3,
    "cart_value": 42.5,
    "risk": 0.6,
    "churn_risk": 0.55,
    "previous_churn_risk": 0.3,
    "segment": "At risk",
    "sku": "SAMPLE-1",
    "days_of_cover": 5,
    "suggested_order": 24,
    "reason": TEST_REASON,
}


def sample_data(handle: str, today: date, product: tuple[int, str] | None = None) -> dict[str, Any]:
    """The data of a test firing of trigger ``handle`` (its sample values, a due date a week after ``today``):
    ``product`` (a real product's id and title) fills the product reference a trigger may need."""
    trigger = TRIGGERS.get(handle)
    if trigger is None:
        raise PermanentError(f"no Flow trigger {handle!r}")
    data: dict[str, Any] = {
        f.data_name: SAMPLES[f.data_name] for f in trigger.fields if f.data_name in SAMPLES
    }
    for name in ("due_date", "stockout_date"):
        if any(f.data_name == name for f in trigger.fields):
            data[name] = date.fromordinal(today.toordinal() + 7)
    if product is not None:
        data["product_id"], title = product
        if "product_title" in data and title:
            data["product_title"] = title
    return data


def needs_product(handle: str) -> bool:
    trigger = TRIGGERS.get(handle)
    return trigger is not None and "product_reference" in trigger.references


def _value(field: TriggerField, raw: Any) -> Any:
    if field.type == "number_decimal":
        try:
            return float(raw)
        except (TypeError, ValueError) as exc:
            raise PermanentError(f"flow field {field.data_name!r} must be a number") from exc
    if field.type == "date":
        return raw.isoformat()[:10] if isinstance(raw, date | datetime) else str(raw)[:10]
    return str(raw)[:1000] if field.type != "url" else str(raw)


def build_payload(handle: str, customer_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """The ``flowTriggerReceive`` payload for trigger ``handle`` (``PermanentError`` when it cannot be had)."""
    trigger = TRIGGERS.get(handle)
    if trigger is None:
        raise PermanentError(f"no Flow trigger {handle!r}")
    payload: dict[str, Any] = {}
    if "customer_reference" in trigger.references:
        if not str(customer_id).isdigit():
            raise PermanentError("a Flow trigger needs a known Shopify customer")
        payload["customer_id"] = int(customer_id)
    for ref in trigger.references:
        if ref in REFERENCE_DATA:
            name = REFERENCE_DATA[ref]
            if data.get(name) is None or not str(data[name]).isdigit():
                raise PermanentError(f"flow trigger {handle} needs {name}")
            payload[name] = int(data[name])
    for field in trigger.fields:
        if data.get(field.data_name) is not None:
            payload[field.key] = _value(field, data[field.data_name])
    size = len(json.dumps(payload, separators=(",", ":")).encode())
    if size > PAYLOAD_LIMIT:
        raise PermanentError(f"flow payload is {size} bytes, over Shopify's {PAYLOAD_LIMIT}-byte limit")
    return payload


class FlowChannel:
    """Fires Flow triggers through ``fire(handle, payload)`` (the Admin API's ``flowTriggerReceive``)."""

    name = "flow"

    def __init__(self, fire: Callable[[str, dict[str, Any]], None]):
        self.fire = fire

    def send(self, message: OutgoingMessage) -> Accepted:
        payload = build_payload(message.template, message.recipient, message.data)
        self.fire(message.template, payload)
        return Accepted(provider_id=f"flow:{message.template}:{message.outbox_id}")
