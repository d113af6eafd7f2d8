"""The outbox bench's world: a scratch database (a SQLite file, or a private schema on PostgreSQL) with one
shop whose e-mail and SMS channels point at the loopback sinks, one marketing-subscribed customer per message
(the contact budget allows one marketing message a day per shopper), the proposals an agent would make for
them, and the same messages ready-made for the peer, which sends them straight through the same client."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, make_url, text

from app.channels.base import Channel, OutgoingMessage, Sender
from app.channels.email import EmailChannel, SmtpTarget
from app.channels.sms import SmsChannel
from app.channels.unsubscribe import make_token, unsubscribe_url
from app.config import Settings
from app.crypto import TokenCipher
from app.db import normalize_url, session_scope
from app.jobs.sms import status_callback_url
from app.measurement.holdout import GLOBAL
from app.models.commerce import Customer
from app.models.messaging import ContactConsent
from app.models.shop import Shop
from app.orchestrator.proposal import Content, Proposal, Purpose, Shopper
from app.orchestrator.timezones import address_timezone
from app.stores.channels import email_setup, save_email_settings
from app.stores.contact_policy import save_holdouts
from app.stores.sms import save_sms_settings, sms_setup

AGENT = "browse_abandonment"
ACCOUNT = "AC" + "be" * 16
AUTH_TOKEN = "bench-twilio-auth-token-0123456789"
SENDER_NUMBER = "+15005550006"
# Where the shoppers live: the first of these whose clock is between 9:00 and 19:00 now, so no message waits
# for the end of quiet hours.
PLACES = [("US", "NY"), ("US", "CA"), ("GB", None), ("DE", None), ("IN", None), ("JP", None), ("AU", "NSW")]


def awake_place(now: datetime) -> tuple[str, str | None]:
    for country, province in PLACES:
        zone = address_timezone(country, province)
        if zone and 9 <= now.astimezone(ZoneInfo(zone)).hour < 19:
            return country, province
    raise RuntimeError("no listed place is awake now")  # cannot happen: the places span the day


@contextmanager
def scratch_database(url: str | None, workdir: str) -> Iterator[str]:
    """A migrated, empty database: a SQLite file in ``workdir``, or a new schema in the PostgreSQL database
    ``url`` (dropped afterwards)."""
    from app.migrate import upgrade

    if url is None or not url.startswith("postgresql"):
        url = url or f"sqlite:///{workdir}/outbox.sqlite3"
        upgrade(url)
        yield url
        return
    url = normalize_url(url)
    schema = f"attune_bench_outbox_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    scoped_url = scoped.render_as_string(hide_password=False)
    try:
        upgrade(scoped_url)
        yield scoped_url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@dataclass(frozen=True)
class World:
    shop_id: int
    place: tuple[str, str | None]


def phone(i: int) -> str:
    return f"+1415555{i:04d}"


def build_world(settings: Settings, smtp_url: str, customers: int, now: datetime) -> World:
    """The shop, its channels, no holdout for the bench's agent, and ``customers`` subscribed customers
    (ids 1…n, each with an e-mail address and a phone number)."""
    if customers > 9999:
        raise ValueError("at most 9,999 customers (one phone number each)")
    place = awake_place(now)
    cipher = TokenCipher(settings.encryption_keys)
    with session_scope(settings.database_url) as s:
        shop = Shop(domain=f"bench-{uuid.uuid4().hex[:8]}.myshopify.com", installed_at=now)
        s.add(shop)
        s.flush()
        assert shop.id is not None
        shop_id = shop.id
        save_email_settings(
            s,
            cipher,
            shop_id,
            {
                "shop_name": "Mugs & Co",
                "from_name": "Mugs & Co",
                "from_address": "hello@mugs.test",
                "postal_address": "1 Harbour St, Portland ME 04101",
            },
            smtp_url,
        )
        save_sms_settings(
            s,
            cipher,
            shop_id,
            {"account_sid": ACCOUNT, "from_number": SENDER_NUMBER, "shop_name": "Mugs & Co"},
            AUTH_TOKEN,
        )
        save_holdouts(s, shop_id, {AGENT: 0.0, GLOBAL: 0.0})  # the relay is measured: everyone is treated
        address = {"country_code": place[0], "province_code": place[1]}
        for i in range(1, customers + 1):
            s.add(
                Customer(
                    shop_id=shop_id,
                    shopify_id=i,
                    email=f"shopper{i}@example.com",
                    phone=phone(i),
                    first_name=f"Shopper {i}",
                    default_address=address,
                )
            )
            for channel in ("email", "sms"):
                s.add(
                    ContactConsent(
                        shop_id=shop_id,
                        customer_shopify_id=i,
                        channel=channel,
                        state="SUBSCRIBED",
                        consent_updated_at=now - timedelta(days=30),
                    )
                )
    if settings.database_url.startswith("postgresql"):  # the statistics a live database has (autovacuum)
        with session_scope(settings.database_url) as s:  # the scratch schema's tables: it is the search path
            s.exec(text("ANALYZE shop, customer, contact_consent, channel_config, holdout_policy"))
    return World(shop_id, place)


def content(channel: str, i: int) -> Content:
    """What the browse-abandonment agent would say to customer ``i``."""
    if channel == "sms":
        return Content(
            "message", {"sms_text": f"The Blue mug no. {i} is still here: https://mugs.test/p/{i}"}
        )
    return Content(
        "message",
        {
            "subject": "Still thinking about the Blue mug?",
            "heading": "Your mug is waiting",
            "paragraphs": ["You looked at it twice this week.", "It is still in stock, in every size."],
            "products": [
                {"title": f"Blue mug no. {i}", "url": f"https://mugs.test/products/{i}", "price": "$12"},
                {"title": "Red mug", "url": "https://mugs.test/products/red", "price": "$14"},
                {"title": "Teapot", "url": "https://mugs.test/products/teapot", "price": "$30"},
            ],
            "cta_url": "https://mugs.test/cart",
        },
    )


def proposal(shop_id: int, channel: str, i: int, now: datetime) -> Proposal:
    return Proposal(
        agent=AGENT,
        shop_id=shop_id,
        shopper=Shopper(customer_id=i),
        purpose=Purpose.MARKETING,
        content=content(channel, i),
        channels=(channel,),
        earliest=now - timedelta(minutes=1),
        latest=now + timedelta(days=2),
        dedupe_key=f"browse:{i}:{channel}",
        reason="viewed the Blue mug twice this week",
        expected_value=1.0,
        product_ids=(),
    )


def peer_messages(
    settings: Settings, world: World, channel: str, customers: range, first_id: int
) -> tuple[Channel, list[OutgoingMessage]]:
    """The client and the messages the relay would hand it for ``customers`` (the same sender, recipient,
    content, unsubscribe link or status callback), numbered from ``first_id`` instead of by outbox rows."""
    cipher = TokenCipher(settings.encryption_keys)
    with session_scope(settings.database_url) as s:
        if channel == "email":
            sender, smtp_url = email_setup(s, cipher, world.shop_id, settings.attune_smtp_url)
            client: Channel = EmailChannel(SmtpTarget.parse(smtp_url))
        else:
            setup = sms_setup(s, cipher, world.shop_id)
            sender = Sender(shop_name=setup.shop_name, from_name=setup.shop_name, from_address="")
            client = SmsChannel(
                setup.account_sid,
                setup.auth_token,
                from_number=setup.from_number,
                default_region=setup.default_region,
                api_base_url=settings.attune_twilio_api_url,
            )
    messages = []
    for n, i in enumerate(customers):
        outbox_id = first_id + n
        link, extra = None, {}
        if channel == "email":
            token = make_token(settings.shopify_api_secret, world.shop_id, i, channel)
            link = unsubscribe_url(settings.app_url, token)
        else:
            shop_domain = setup.shop_domain
            extra = {"status_callback": status_callback_url(settings.app_url, shop_domain, outbox_id)}
        messages.append(
            OutgoingMessage(
                outbox_id=outbox_id,
                shop_id=world.shop_id,
                purpose=Purpose.MARKETING.value,
                template="message",
                data=content(channel, i).data,
                recipient=f"shopper{i}@example.com" if channel == "email" else phone(i),
                sender=sender,
                unsubscribe_url=link,
                extra=extra,
            )
        )
    return client, messages


def utc_now() -> datetime:
    return datetime.now(UTC)
