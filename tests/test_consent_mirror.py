"""The consent mirror (``contact_consent``): filled from Shopify's consent webhooks (the shared samples) and
customer records, versioned by ``consent_updated_at``, kept by Attune's own newer writes, and backfilled by the
migration from the consent already stored on customer rows."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text
from sqlmodel import Session, select

from app.commerce.upserts import upsert_customer
from app.db import get_engine
from app.migrate import downgrade, upgrade
from app.models.messaging import ContactConsent
from app.models.shop import Shop
from app.stores.consent import consents_for, record_consent
from tests.conftest import FIXTURES, PG_BASE, SLOT, needs_shared
from webhooks.handlers import HANDLERS

SAMPLES = FIXTURES / "webhooks"
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _shop(session: Session) -> int:
    shop = Shop(domain="consent.myshopify.com")
    session.add(shop)
    session.flush()
    return shop.id


def _mirror(session: Session, shop_id: int) -> dict[tuple[int, str], ContactConsent]:
    rows = session.exec(select(ContactConsent).where(ContactConsent.shop_id == shop_id)).all()
    return {(r.customer_shopify_id, r.channel): r for r in rows}


@needs_shared(SAMPLES)
def test_shopify_consent_webhook_samples_fill_the_mirror(session):
    shop_id = _shop(session)
    shop = session.get(Shop, shop_id)
    email = json.loads((SAMPLES / "customers_email_marketing_consent__update.json").read_text())
    sms = json.loads((SAMPLES / "customers_marketing_consent__update.json").read_text())
    HANDLERS["customers_email_marketing_consent/update"](session, shop, email, None)
    HANDLERS["customers_marketing_consent/update"](session, shop, sms, None)
    session.commit()
    mirror = _mirror(session, shop_id)
    cid = int(email["customer_id"])
    assert mirror[(cid, "email")].state == "NOT_SUBSCRIBED"  # the sample says not_subscribed
    assert (cid, "sms") not in mirror  # the SMS sample carries no state: nothing to mirror
    assert consents_for(session, shop_id, [cid]) == {cid: {"email": "NOT_SUBSCRIBED"}}


def _customer(cid: int, state: str, at: datetime) -> dict:
    return {
        "id": cid,
        "email": "ann@example.com",
        "updated_at": at.isoformat(),
        "email_marketing_consent": {
            "state": state,
            "opt_in_level": "single_opt_in",
            "consent_updated_at": at.isoformat(),
        },
        "sms_marketing_consent": {"state": "subscribed", "consent_updated_at": at.isoformat()},
    }


def test_customer_records_fill_the_mirror_and_the_newest_consent_wins(session):
    shop_id = _shop(session)
    upsert_customer(session, shop_id, _customer(7, "subscribed", T0))
    session.commit()
    mirror = _mirror(session, shop_id)
    assert (mirror[(7, "email")].state, mirror[(7, "sms")].state) == ("SUBSCRIBED", "SUBSCRIBED")
    assert mirror[(7, "email")].opt_in_level == "single_opt_in"
    # an older delivery arriving late changes nothing
    upsert_customer(session, shop_id, _customer(7, "unsubscribed", T0 - timedelta(days=1)))
    session.commit()
    assert _mirror(session, shop_id)[(7, "email")].state == "SUBSCRIBED"
    # Attune's own unsubscribe (newer) outlives a late Shopify record from before it
    assert record_consent(
        session, shop_id, 7, "email", "unsubscribed", updated_at=T0 + timedelta(hours=1), source="attune"
    )
    session.commit()
    upsert_customer(session, shop_id, {**_customer(7, "subscribed", T0 + timedelta(minutes=30)), "id": 7})
    session.commit()
    row = _mirror(session, shop_id)[(7, "email")]
    assert (row.state, row.source) == ("UNSUBSCRIBED", "attune")
    with pytest.raises(ValueError, match="consent channel"):
        record_consent(session, shop_id, 7, "fax", "subscribed", updated_at=T0)


@pytest.fixture
def scratch_url(tmp_path):
    """An empty database of the backend under test, for migrating down and up."""
    if os.environ.get("ATTUNE_TEST_DATABASE", "sqlite") not in ("postgresql", "postgres"):
        yield f"sqlite:///{tmp_path / 'scratch.sqlite3'}"
        return
    schema = f"attune_scratch_s{SLOT}"
    admin = create_engine(PG_BASE, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield f"{PG_BASE}?options=-csearch_path%3D{schema}"
    get_engine.cache_clear()
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


def test_the_migration_backfills_the_mirror_from_customer_rows(db_url, scratch_url):
    upgrade(scratch_url, "0012")
    engine = get_engine(scratch_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO shop (domain, scopes, pixel_key, created_at, updated_at) "
                "VALUES ('m.myshopify.com', '', 'k', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        shop_id = conn.execute(text("SELECT id FROM shop")).scalar_one()
        conn.execute(
            text(
                "INSERT INTO customer (shop_id, shopify_id, email_consent_state, email_consent_updated_at, "
                "sms_consent_state) VALUES (:s, 7, 'subscribed', :t, NULL), (:s, 8, 'UNSUBSCRIBED', NULL, "
                "'subscribed')"
            ),
            {"s": shop_id, "t": T0.replace(tzinfo=None) if engine.dialect.name == "sqlite" else T0},
        )
    upgrade(scratch_url)
    with Session(engine) as s:
        mirror = _mirror(s, shop_id)
    assert {k: v.state for k, v in mirror.items()} == {
        (7, "email"): "SUBSCRIBED",
        (8, "email"): "UNSUBSCRIBED",
        (8, "sms"): "SUBSCRIBED",
    }
    assert mirror[(7, "email")].consent_updated_at == T0
    downgrade(scratch_url, "0012")
    upgrade(scratch_url)
