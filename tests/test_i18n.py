"""Messages in the recipient's language: every msgid Attune sends is in each catalogue, translated; the locale is
the customer's own (Shopify's ``customer.locale``) else the shop's primary one (``shopLocales``, with
``read_locales``) else English; a browse reminder in German arrives at the loopback SMTP server and the
loopback Twilio in German (subject, body, footer, prices and the opt-out line), an unknown language in English;
the Channels page's test e-mail is in the shop's language with its date written by Babel."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from sqlmodel import select
from writeback_support import install

from app.agents.browse_abandonment import BrowseHistory, propose
from app.channels import copy
from app.channels.email_loopback import LoopbackSmtp
from app.channels.i18n import LOCALES, day, languages, money, negotiate
from app.channels.sms_loopback import LoopbackTwilio
from app.commerce.bulk import customer as bulk_customer
from app.commerce.upserts import upsert_customer
from app.config import get_settings
from app.crypto import TokenCipher
from app.db import session_scope
from app.jobs import outbox as relay
from app.jobs.channel_test import send_test_message
from app.jobs.message_locale import ensure_shop_locale, localized
from app.jobs.orchestrate import submit
from app.models.commerce import Customer
from app.models.messaging import ContactConsent, OutboxMessage
from app.models.shop import Shop
from app.orchestrator.content import Card
from app.orchestrator.proposal import Shopper
from app.stores import channel_tests
from app.stores.channels import save_email_settings
from app.stores.sms import save_sms_settings
from tests.conftest import ROOT

NOW = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
ACCOUNT, TOKEN = "AC" + "c3" * 16, "twilio-token-for-i18n-tests-4455"


def _source_msgids() -> set[str]:
    with (ROOT / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    found = extract_from_dir(ROOT, method_map, options_map, keywords={"_": None, "N_": None, "gettext": None})
    return {msgid for _file, _line, msgid, _comments, _context in found}


def test_every_message_string_is_translated_in_every_catalogue():
    ids = _source_msgids()
    assert len(ids) >= 15 and "Reply STOP to opt out." in ids and "Visit the shop" in ids
    with (LOCALES / "messages.pot").open("rb") as f:
        assert {m.id for m in read_po(f) if m.id} == ids, "run make i18n"
    assert {"en", "de"} <= languages()
    for po in LOCALES.glob("*/LC_MESSAGES/messages.po"):
        with po.open("rb") as f:
            catalog = read_po(f)
        entries = {m.id: m for m in catalog if m.id}
        assert set(entries) == ids, f"{po}: run make i18n"
        untranslated = [i for i, m in entries.items() if not m.string or m.fuzzy]
        assert untranslated == [], f"{po}: untranslated {untranslated}"
        assert list(catalog.check()) == []  # placeholders match the msgid's


def test_the_locale_is_negotiated_with_english_as_the_fallback():
    assert negotiate("de-CH", "en") == "de_CH"  # the customer's own first
    assert negotiate(None, "de") == "de"  # else the shop's
    assert negotiate("ja", "fr-CA") == "en"  # no catalogue for either: English
    assert negotiate("not a locale", "") == "en" and negotiate() == "en"
    assert money(Decimal("1234.5"), "EUR", "de") == "1.234,50\xa0€"
    assert money(4.5, "usd", "en") == "$4.50"
    assert (
        day(date(2026, 12, 6), "de") == "6. Dezember 2026"
        and day(date(2026, 12, 6), "ja") == "December 6, 2026"
    )
    with pytest.raises(ValueError, match="no message copy"):
        copy.localize({"copy": "nonsense"}, "de")


def test_customer_locale_is_mirrored_from_shopify(session):
    shop = Shop(domain="loc.myshopify.com")
    session.add(shop)
    session.flush()
    node = {
        "id": "gid://shopify/Customer/5",
        "firstName": "Jo",
        "locale": "de-AT",
        "updatedAt": "2026-12-01T00:00:00Z",
    }
    upsert_customer(session, shop.id, bulk_customer(node))
    # a later webhook payload without a locale keeps it
    upsert_customer(session, shop.id, {"id": 5, "first_name": "Jo", "updated_at": "2026-12-02T00:00:00Z"})
    session.flush()
    row = session.exec(select(Customer).where(Customer.shop_id == shop.id)).one()
    assert row.locale == "de-AT" and row.first_name == "Jo"


def _shop(settings, smtp_url: str, *, primary: str | None = None) -> int:
    with session_scope(settings.database_url) as s:
        shop = Shop(domain="mugs.myshopify.com", access_token_enc="x", primary_locale=primary)
        s.add(shop)
        s.flush()
        for cid, locale in ((7, "de"), (8, "ja"), (9, None)):
            s.add(Customer(shop_id=shop.id, shopify_id=cid, email=f"c{cid}@example.com", phone="+14155552671",
                           locale=locale, default_address={"country_code": "US", "province_code": "NY"}))  # fmt: skip
            for channel in ("email", "sms"):
                s.add(ContactConsent(shop_id=shop.id, customer_shopify_id=cid, channel=channel,
                                     state="SUBSCRIBED", consent_updated_at=NOW - timedelta(days=9)))  # fmt: skip
        cipher = TokenCipher(settings.encryption_keys)
        sender = {"from_name": "Mugs", "from_address": "hello@mugs.test", "postal_address": "1 Harbour St"}
        save_email_settings(s, cipher, shop.id, {**sender, "shop_name": "Mugs"}, smtp_url)
        save_sms_settings(s, cipher, shop.id, {"account_sid": ACCOUNT, "from_number": "+15005550006"}, TOKEN)
        return shop.id


def _reminder(shop_id: int, customer: int, channel: str):
    cards = {
        42: Card(42, "Blaue Tasse", "https://mugs.test/products/blue", "12.00 EUR", 12.0, currency="EUR"),
        43: Card(43, "Untertasse", "https://mugs.test/products/saucer", "4.50 EUR", 4.5, currency="EUR"),
    }
    views = (NOW - timedelta(days=2), NOW - timedelta(days=1))
    history = BrowseHistory(Shopper(customer_id=customer), {42: list(views)}, time_zone="America/New_York")
    proposal = propose(shop_id, "Mugs", history, NOW, cards, {42: [43]})
    assert proposal is not None
    # sent now on one channel (the stock mirror is not what this test is about)
    return replace(
        proposal, channels=(channel,), earliest=NOW, latest=NOW + timedelta(days=1), product_ids=()
    )


def _send(settings, shop_id: int, proposals) -> list[OutboxMessage]:
    with session_scope(settings.database_url) as s:
        submit(s, shop_id, localized(s, shop_id, proposals), now=NOW)
    with session_scope(settings.database_url) as s:
        rows = s.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    for row in rows:
        assert relay.relay_message(row.id, now=NOW) == "sent", row.last_error
    return rows


@pytest.fixture(autouse=True)
def _no_holdout(monkeypatch):
    monkeypatch.setattr("app.stores.contact_policy.DEFAULT_MESSAGE_HOLDOUT", 0.0)


def test_a_reminder_email_in_the_customers_language(jobs_env):
    with LoopbackSmtp() as smtp:
        shop_id = _shop(jobs_env, smtp.url, primary="fr")  # a shop language with no catalogue
        _send(jobs_env, shop_id, [_reminder(shop_id, c, "email") for c in (7, 8, 9)])
        by_to = {m.rcpt_tos[0]: m.message for m in smtp.messages}
    german = by_to["c7@example.com"]
    assert german["Subject"] == "Denkst du noch an Blaue Tasse?"
    text = german.get_body(("plain",)).get_content()
    assert (
        "Du hast dir Blaue Tasse diese Woche mehrmals angesehen. Es ist bei Mugs weiterhin erhältlich."
        in text
    )
    assert "Dazu passt auch:" in text and "Blaue Tasse ansehen: https://mugs.test/products/blue" in text
    assert "(12,00\xa0€)" in text and "(4,50\xa0€)" in text  # Babel's German money
    assert "Abmelden: https://" in text and "Unsubscribe" not in text
    html = german.get_body(("html",)).get_content()
    assert '<html lang="de">' in html and ">Abmelden</a> von den Marketing-E-Mails von Mugs." in html
    for english in (
        by_to["c8@example.com"],
        by_to["c9@example.com"],
    ):  # ja: no catalogue; none, shop fr: none
        assert english["Subject"] == "Still thinking about Blaue Tasse?"
        body = english.get_body(("plain",)).get_content()
        assert "You looked at Blaue Tasse a few times this week" in body and "(€12.00)" in body
        assert "Unsubscribe: https://" in body


def test_the_shops_language_when_the_customers_is_unknown_and_sms_in_german(jobs_env, monkeypatch):
    with LoopbackTwilio({ACCOUNT: TOKEN}) as twilio, LoopbackSmtp() as smtp:
        monkeypatch.setenv("ATTUNE_TWILIO_API_URL", twilio.url)
        get_settings.cache_clear()
        shop_id = _shop(jobs_env, smtp.url, primary="de-DE")
        rows = _send(jobs_env, shop_id, [_reminder(shop_id, c, "sms") for c in (8, 9)])
    # 9 has no locale and 8's Japanese has no catalogue: both get the shop's German
    assert len(rows) == 2 and len(twilio.messages) == 2
    for sms in twilio.messages:
        assert sms.body.startswith("mugs: Denkst du noch an Blaue Tasse? Du hast dir Blaue Tasse diese Woche")
        assert sms.body.endswith("\nAntworte STOP, um keine Nachrichten mehr zu erhalten.")


def test_the_shops_primary_locale_is_read_once_with_read_locales(live_app, jobs_env, monkeypatch):
    live_app.fake.store("mugs.myshopify.com").locales = ["de", "en"]
    shop = install(live_app, monkeypatch, write_customers=False)
    calls = live_app.fake.calls["graphql"]
    assert ensure_shop_locale(get_settings(), shop.id) is None  # read_locales not granted: no call, English
    assert live_app.fake.calls["graphql"] == calls
    live_app.fake.grant_scopes(shop.domain, shop.scopes() + ",read_locales")
    with session_scope(jobs_env.database_url) as s:
        row = s.get(Shop, shop.id)
        row.scopes = shop.scopes() + ",read_locales"
        s.add(row)
    assert ensure_shop_locale(get_settings(), shop.id) == "de"
    calls = live_app.fake.calls["graphql"]
    assert ensure_shop_locale(get_settings(), shop.id) == "de" and live_app.fake.calls["graphql"] == calls
    with session_scope(jobs_env.database_url) as s:
        assert s.get(Shop, shop.id).primary_locale == "de"


def test_the_channels_test_email_is_in_the_shops_language(jobs_env):
    with LoopbackSmtp() as smtp:
        shop_id = _shop(jobs_env, smtp.url, primary="de")
        test = channel_tests.create(jobs_env.redis_url, shop_id, "email", "owner@mugs.test")
        assert send_test_message(shop_id, test["test_id"]) == "sent"
        (got,) = smtp.messages
    message = got.message
    assert message["Subject"] == "Test-E-Mail von Mugs"
    text = message.get_body(("plain",)).get_content()
    assert "Deine Einstellungen für E-Mail funktionieren." in text
    assert f"Gesendet am {day(datetime.now(UTC).date(), 'de')} als Mugs <hello@mugs.test>." in text
    assert "Zum Shop" not in text  # no link in a test: the default label is not shown


def test_push_and_onsite_text_follow_the_localized_words():
    from app.channels.base import OutgoingMessage, Sender
    from app.channels.onsite import nudge_text
    from app.channels.push import notification

    data = copy.localize(
        {"copy": "browse_reminder", "product_title": "Blaue Tasse", "shop_name": "Mugs", "products": [{}],
         "cta_url": "https://mugs.test/products/blue"},
        "de",
    )  # fmt: skip
    message = OutgoingMessage(1, 1, "marketing", "message", data, "customer:7", Sender("Mugs", "Mugs", ""))
    shown = notification(message)
    assert shown["title"] == "Denkst du noch an Blaue Tasse?"
    assert shown["body"].startswith("Du hast dir Blaue Tasse diese Woche mehrmals angesehen.")
    assert nudge_text(message) == "Denkst du noch an Blaue Tasse?"
