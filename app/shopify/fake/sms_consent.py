"""The fake's ``customerSmsMarketingConsentUpdate``: sets the customer's phone marketing state as Shopify does,
with Shopify's user errors for an unknown customer and a customer without a phone number."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.shopify.fake.store import ShopStore, iso


def _error(field: list[str], message: str, code: str) -> dict[str, Any]:
    return {"customer": None, "userErrors": [{"field": field, "message": message, "code": code}]}


def sms_consent_update(store: ShopStore, data: dict[str, Any]) -> dict[str, Any]:
    consent = data.get("smsMarketingConsent") or {}
    state = consent.get("marketingState")
    with store.lock:
        customer = store.customers.get(data.get("customerId") or "")
        if customer is None:
            return _error(["input", "customerId"], "Customer not found", "INVALID")
        phone = customer.get("defaultPhoneNumber")
        if not phone:
            return _error(
                ["input", "smsMarketingConsent"],
                "A phone number is required to set the SMS consent",
                "INCLUSION",
            )
        if state not in ("SUBSCRIBED", "UNSUBSCRIBED", "PENDING", "NOT_SUBSCRIBED"):
            return _error(
                ["input", "smsMarketingConsent", "marketingState"], "Marketing state is invalid", "INVALID"
            )
        now = iso(datetime.now(UTC))
        phone["marketingState"] = state
        phone["marketingOptInLevel"] = consent.get("marketingOptInLevel") or phone.get("marketingOptInLevel")
        phone["marketingUpdatedAt"] = iso(consent.get("consentUpdatedAt")) or now
        phone["marketingCollectedFrom"] = "OTHER"
        customer["updatedAt"] = now
    return {"customer": customer, "userErrors": []}
