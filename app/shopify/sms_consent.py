"""Writing a customer's SMS marketing consent back to Shopify (``customerSmsMarketingConsentUpdate``, which
needs the ``write_customers`` scope)."""

from __future__ import annotations

from datetime import datetime

from app.shopify.admin import AdminClient, AdminUserError

SCOPE = "write_customers"
MUTATION = """
mutation SmsConsent($input: CustomerSmsMarketingConsentUpdateInput!) {
  customerSmsMarketingConsentUpdate(input: $input) {
    customer { id defaultPhoneNumber { marketingState marketingUpdatedAt } }
    userErrors { field message code }
  }
}
"""
WRITABLE = frozenset({"SUBSCRIBED", "UNSUBSCRIBED"})


def update_sms_marketing_consent(
    client: AdminClient, customer_id: int, state: str, consent_updated_at: datetime | None = None
) -> str:
    """Set the customer's SMS marketing state (SUBSCRIBED or UNSUBSCRIBED); returns the state Shopify now holds.
    Raises ``AdminUserError`` when Shopify refuses it (no phone number, for example)."""
    if state not in WRITABLE:
        raise ValueError(f"SMS consent written back must be one of {sorted(WRITABLE)}, not {state!r}")
    consent: dict[str, str] = {"marketingState": state}
    if state == "SUBSCRIBED":
        consent["marketingOptInLevel"] = "SINGLE_OPT_IN"
    if consent_updated_at is not None:
        consent["consentUpdatedAt"] = consent_updated_at.isoformat()
    variables = {
        "input": {"customerId": f"gid://shopify/Customer/{customer_id}", "smsMarketingConsent": consent}
    }
    payload = client.graphql(MUTATION, variables).get("customerSmsMarketingConsentUpdate") or {}
    errors = payload.get("userErrors") or []
    if errors:
        text = "; ".join(str(e.get("message")) for e in errors)
        raise AdminUserError(f"customerSmsMarketingConsentUpdate: {text}", errors)
    phone = ((payload.get("customer") or {}).get("defaultPhoneNumber")) or {}
    return phone.get("marketingState") or state
