"""The weekly digest: the success table e-mailed to the merchant through the shop's e-mail channel (a real SMTP
server on loopback), in the shop's language, once per week; a shop without e-mail is skipped with the reason;
the cron queues it weekly."""

from __future__ import annotations

from datetime import UTC, datetime

from control_room_support import seed_shop
from sqlmodel import select

from app import tasks
from app.db import session_scope
from app.demo.control_room_seed import seed_control_room
from app.jobs.digest import send_weekly_digest
from app.models.commerce import Customer
from app.models.shop import Shop
from app.worker import PERIODIC_JOBS
from tests import email_support

smtp = email_support.smtp  # fixtures
shop_id = email_support.shop_id
NOW = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)


def _only_seeded(s, shop_id: int) -> None:
    """The e-mail shop's own customer 7 goes: the seeded customers are the whole population."""
    for row in s.exec(select(Customer).where(Customer.shop_id == shop_id)).all():
        s.delete(row)
    s.flush()


def _body(received) -> tuple[str, str]:
    msg = received.message
    return msg.get_body(("plain",)).get_content(), msg.get_body(("html",)).get_content()


def test_the_digest_carries_the_table_to_the_merchant(jobs_env, smtp, shop_id):
    with session_scope(jobs_env.database_url) as s:
        _only_seeded(s, shop_id)
        seeded = seed_shop(s, shop_id, NOW, n=300)
        seed_control_room(s, shop_id)  # as in the demo: the agents' lifts simulated, the table the shop's own
    assert send_weekly_digest(shop_id, NOW) == "sent"
    (received,) = smtp.messages
    assert received.rcpt_tos == ["hello@mugs.test"] and received.message["Subject"] == (
        "Your week with Attune: mugs.myshopify.com"
    )
    text, html = _body(received)
    treated = sum(c in seeded.bought for c in seeded.treated) / len(seeded.treated)
    assert f"Conversion rate: {100 * treated:.1f} %" in text
    for label in ("Abandoned-cart recovery", "Cross-sell rate", "Repeat purchase rate", "Support deflection"):
        assert label in text and label in html
    assert "Incremental revenue, net of discounts:" in text and "20–30 % · 50–60 %" in text
    assert "<table" in html and '<th scope="row"' in html
    assert "Simulated" not in text  # the digest has no agent lift to label; its table is measured
    assert send_weekly_digest(shop_id, NOW) == "already sent" and len(smtp.messages) == 1


def test_in_french_and_skipped_without_email(jobs_env, smtp, shop_id):
    with session_scope(jobs_env.database_url) as s:
        s.get(Shop, shop_id).primary_locale = "fr"
        _only_seeded(s, shop_id)
        seed_shop(s, shop_id, NOW, n=120)
        other = Shop(domain="no-mail.myshopify.com")
        s.add(other)
        s.flush()
        other_id = other.id
    assert send_weekly_digest(shop_id, NOW) == "sent"
    text, _ = _body(smtp.messages[0])
    assert smtp.messages[0].message["Subject"].startswith("Votre semaine avec Attune")
    assert "Taux de conversion" in text and "Chiffre d'affaires incrémental" in text
    assert send_weekly_digest(other_id, NOW) == "skipped: e-mail is not set up for this shop"
    assert len(smtp.messages) == 1


def test_the_cron_sends_it_weekly():
    assert (tasks.SEND_ALL_DIGESTS, "low", None, "0 7 * * 1") in PERIODIC_JOBS
