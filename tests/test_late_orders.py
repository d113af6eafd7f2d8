"""Late orders, before the shopper asks (issue 18): a shipped order past the shipping policy's longest promise
gets one transactional update with an apology and its tracking link, through the orchestrator and the outbox to
a real SMTP server; orders on time, delivered, cancelled, or in a shop whose policy promises nothing get none."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlmodel import select

from app import tasks
from app.agents.late_orders import ShippedOrder, propose
from app.commerce.upserts import upsert_order
from app.db import session_scope
from app.jobs import outbox as relay
from app.jobs.late_orders import run_late_orders
from app.knowledge.order_status import Shipment
from app.models.knowledge import KnowledgePassage
from app.models.messaging import MessageDecision, OutboxMessage
from app.orchestrator.proposal import Purpose, Shopper
from app.worker import PERIODIC_JOBS
from tests import email_support
from tests.conftest import FIXTURES, needs_shared
from tests.email_support import NOW

smtp, shop_id, no_holdout = email_support.smtp, email_support.shop_id, email_support.no_holdout  # fixtures
ORDER_SAMPLE = FIXTURES / "webhooks" / "orders__updated.json"  # Shopify's own sample payload
needs_sample = needs_shared(ORDER_SAMPLE)


def order(
    oid: int, *, shipped_days_ago: float | None, delivered: bool = False, cancelled: bool = False
) -> dict:
    data = json.loads(ORDER_SAMPLE.read_text())
    for n, line in enumerate(data["line_items"]):
        line["id"] = oid * 10 + n
    data.update(id=oid, name=f"#{oid}", test=False, customer={"id": 7, "email": "ann@example.com"}, updated_at=NOW.isoformat(),
                processed_at=(NOW - timedelta(days=(shipped_days_ago or 0) + 1)).isoformat(),
                cancelled_at=NOW.isoformat() if cancelled else None, refunds=[])  # fmt: skip
    data["fulfillments"] = [] if shipped_days_ago is None else [
        {"status": "success", "shipment_status": "delivered" if delivered else "in_transit", "tracking_company": "UPS",
         "tracking_number": f"1Z{oid}", "tracking_url": f"https://ups.test/track/1Z{oid}",
         "created_at": (NOW - timedelta(days=shipped_days_ago)).isoformat()}
    ]  # fmt: skip
    return data


def policy(session, shop: int, text: str = "Standard delivery takes 3-5 business days.") -> None:
    session.add(KnowledgePassage(shop_id=shop, source_key="policy:SHIPPING_POLICY", position=0, kind="policy",
                                 title="Shipping policy", text=text, digest="d", model="m", dim=1, vector=b"\0" * 4))  # fmt: skip


def test_one_update_per_late_order_and_never_a_promise():
    late_one = ShippedOrder(1, "#1", Shopper(customer_id=7), NOW - timedelta(days=12),
                            (Shipment("UPS", "1Z1", "https://ups.test/1Z1", "success", "in_transit", NOW - timedelta(days=10)),),
                            "https://s.test/status")  # fmt: skip
    on_time = ShippedOrder(2, "#2", Shopper(customer_id=8), NOW - timedelta(days=3),
                           (Shipment("UPS", "1Z2", None, "success", "in_transit", NOW - timedelta(days=2)),), None)  # fmt: skip
    (p,) = propose(1, "Mugs & Co", [late_one, on_time], (5, 7), NOW)
    assert p.purpose == Purpose.TRANSACTIONAL and p.dedupe_key == "late-order:1" and p.agent == "support"
    assert p.content.data["cta_url"] == "https://ups.test/1Z1" and "sorry" in p.content.data["paragraphs"][0]
    assert not any(
        w in " ".join(p.content.data["paragraphs"]).lower() for w in ("refund", "discount", "free")
    )
    assert propose(1, "Mugs & Co", [late_one], None, NOW) == []  # no promise: never late


@needs_sample
@pytest.mark.usefixtures("no_holdout")
def test_a_late_order_gets_one_email_with_its_tracking(jobs_env, shop_id, smtp):
    with session_scope(jobs_env.database_url) as s:
        policy(s, shop_id)
        upsert_order(
            s, shop_id, order(9101, shipped_days_ago=10)
        )  # late: 3-5 business days = 7 calendar days
        upsert_order(s, shop_id, order(9102, shipped_days_ago=2))  # on time
        upsert_order(s, shop_id, order(9103, shipped_days_ago=10, delivered=True))
        upsert_order(s, shop_id, order(9104, shipped_days_ago=10, cancelled=True))
    result = run_late_orders(shop_id, now=NOW)
    assert result["proposals"] == 1
    assert run_late_orders(shop_id, now=NOW)["proposals"] == 0  # decided once
    with session_scope(jobs_env.database_url) as s:
        (row,) = s.exec(select(OutboxMessage).where(OutboxMessage.shop_id == shop_id)).all()
        decision = s.exec(select(MessageDecision).where(MessageDecision.shop_id == shop_id)).one()
    assert decision.purpose == "transactional" and decision.dedupe_key == "late-order:9101"
    assert row.channel == "email" and relay.relay_message(row.id, now=NOW) == "sent"
    (mail,) = smtp.messages
    assert mail.message["Subject"] == "Your order #9101 is taking longer than expected"
    text = mail.message.get_body(("plain",)).get_content()
    assert "https://ups.test/track/1Z9101" in text and "UPS" in text


@needs_sample
def test_no_policy_promise_no_updates(jobs_env, shop_id):
    with session_scope(jobs_env.database_url) as s:
        policy(s, shop_id, "We ship worldwide with tracked couriers.")
        upsert_order(s, shop_id, order(9201, shipped_days_ago=30))
    assert run_late_orders(shop_id, now=NOW) == {"shop_id": shop_id, "proposals": 0, "promise": None}


def test_it_runs_hourly():
    assert (tasks.RUN_ALL_LATE_ORDERS, "low", None, "23 * * * *") in PERIODIC_JOBS
