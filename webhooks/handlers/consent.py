"""customers_email_marketing_consent/update and customers_marketing_consent/update (SMS).

Consent is versioned by ``consent_updated_at`` on its own, apart from the customer's ``updated_at``.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from app.commerce.upserts import update_email_consent, update_sms_consent
from app.models.inbox import WebhookInbox
from app.models.shop import Shop


def email_consent(session: Session, shop: Shop, payload: dict[str, Any], event: WebhookInbox) -> None:
    update_email_consent(session, shop.id, payload)


def sms_consent(session: Session, shop: Shop, payload: dict[str, Any], event: WebhookInbox) -> None:
    update_sms_consent(session, shop.id, payload)
