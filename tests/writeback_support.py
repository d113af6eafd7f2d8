"""Shared set-up for the write-back, scopes and Flow tests: the app on loopback wired to the fake Shopify,
jobs reading the same settings from the environment, and a shop installed through OAuth with one customer
(id 7, SUBSCRIBED to e-mail) both in the fake and in Attune's mirror."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fixtures_shopify import LiveApp
from sqlmodel import select

from app.config import get_settings
from app.db import session_scope
from app.models.commerce import Customer
from app.models.messaging import ContactConsent
from app.models.profiles import CustomerProfile
from app.models.shop import Shop

CUSTOMER = 7
DOMAIN = "mugs.myshopify.com"
REQUIRED = "read_products,read_customers,read_orders,read_inventory,write_pixels,read_customer_events"


@dataclass
class Installed:
    live: LiveApp
    id: int
    domain: str = DOMAIN

    @property
    def fake_customer(self) -> dict:
        return self.live.fake.store(self.domain).customers[f"gid://shopify/Customer/{CUSTOMER}"]

    def consent(self, customer: int = CUSTOMER) -> ContactConsent | None:
        with session_scope(self.live.settings.database_url) as s:
            return s.exec(
                select(ContactConsent).where(
                    ContactConsent.shop_id == self.id,
                    ContactConsent.customer_shopify_id == customer,
                    ContactConsent.channel == "email",
                )
            ).first()

    def scopes(self) -> str:
        with session_scope(self.live.settings.database_url) as s:
            return s.get(Shop, self.id).scopes


def point_jobs_at(live: LiveApp, monkeypatch) -> None:
    """Jobs build their settings from the environment: make them talk to this fake Shopify."""
    monkeypatch.setenv("SHOPIFY_ADMIN_ORIGIN_TEMPLATE", live.fake.origin_template)
    monkeypatch.setenv("APP_URL", live.url)
    get_settings.cache_clear()


def install(live: LiveApp, monkeypatch, *, write_customers: bool) -> Installed:
    live.fake.granted_scopes = REQUIRED + (",write_customers" if write_customers else "")
    live.fake.seed(
        DOMAIN, customers=[{"id": CUSTOMER, "email": "ann@example.com", "email_marketing": "SUBSCRIBED"}]
    )
    response = live.install(DOMAIN)
    assert response.status_code == 200, response.text
    shop = live.shop_row(DOMAIN)
    assert shop is not None and shop.id is not None
    with session_scope(live.settings.database_url) as s:
        s.add(Customer(shop_id=shop.id, shopify_id=CUSTOMER, email="ann@example.com", first_name="Ann"))
        s.add(
            ContactConsent(
                shop_id=shop.id,
                customer_shopify_id=CUSTOMER,
                channel="email",
                state="SUBSCRIBED",
                consent_updated_at=datetime.now(UTC) - timedelta(days=30),
            )
        )
    point_jobs_at(live, monkeypatch)
    return Installed(live=live, id=shop.id)


def add_profile(settings, shop_id: int) -> None:
    """Customer 7's profile: intent, churn risk (two weeks since the last purchase, every five weeks), segment."""
    derived = {
        "computed_at": "2026-12-01T00:00:00+00:00",
        "churn_risk": {
            "value": 0.31,
            "signals": [
                {"name": "weeks_since_last_purchase", "value": 2.0, "contribution": 0.1, "text": ""},
                {"name": "typical_gap_weeks", "value": 5.0, "contribution": 0.0, "text": ""},
            ],
        },
    }
    with session_scope(settings.database_url) as s:
        s.add(
            CustomerProfile(
                shop_id=shop_id,
                customer_key=f"customer:{CUSTOMER}",
                customer_shopify_id=CUSTOMER,
                intent=0.4219,
                churn_risk=0.31,
                rfm_segment="Champions",
                derived=derived,
            )
        )
