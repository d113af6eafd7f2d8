"""One proposal factory for the action layer's tests: the same shopper (customer 7), agent and reason, each test
module naming only what it is about (channel, content, times)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from app.orchestrator.proposal import Content, Proposal, Purpose, Shopper


def make_proposal(shop_id: int, now: datetime, **kw: Any) -> Proposal:
    """A marketing browse reminder for customer 7 from ``now`` to two days later; ``kw`` overrides any field."""
    base: dict[str, Any] = dict(
        agent="browse_abandonment",
        shop_id=shop_id,
        shopper=Shopper(customer_id=7),
        purpose=Purpose.MARKETING,
        content=Content("message", {"subject": "Still thinking about the Blue mug?"}),
        channels=("email",),
        earliest=now,
        latest=now + timedelta(days=2),
        dedupe_key="browse:7:42",
        reason="viewed the Blue mug twice this week",
        expected_value=1.0,
        product_ids=(),
    )
    base.update(kw)
    return Proposal(**base)


@pytest.fixture
def no_holdout(monkeypatch):
    """Every proposal in the treated arm (for tests about sending, not about the holdout)."""
    monkeypatch.setattr("app.stores.contact_policy.DEFAULT_MESSAGE_HOLDOUT", 0.0)
    monkeypatch.setattr("app.stores.contact_policy.GLOBAL_DEFAULT_SHARE", 0.0)


def add_subscribed_customer(
    session: Any, shop_id: int, channel: str, since: datetime, customer_id: int = 7, **fields: Any
) -> None:
    """A customer (by default Ann, in New York) and their SUBSCRIBED marketing consent on ``channel`` since
    ``since``; ``fields`` are the customer's contact details (``email``, ``phone``) and any other column."""
    from app.models.commerce import Customer
    from app.models.messaging import ContactConsent

    defaults: dict[str, Any] = {
        "first_name": "Ann",
        "default_address": {"country_code": "US", "province_code": "NY"},
    }
    session.add(Customer(shop_id=shop_id, shopify_id=customer_id, **{**defaults, **fields}))
    session.add(
        ContactConsent(
            shop_id=shop_id,
            customer_shopify_id=customer_id,
            channel=channel,
            state="SUBSCRIBED",
            consent_updated_at=since,
        )
    )


def decide_all(settings: Any, proposals: list[Proposal], now: datetime) -> tuple[list[Any], list[Any]]:
    """Submit ``proposals`` (one shop) as an agent job does, committed; the decisions, and every outbox row of
    the database in id order."""
    from sqlmodel import select

    from app.db import session_scope
    from app.jobs.orchestrate import submit
    from app.models.messaging import OutboxMessage

    with session_scope(settings.database_url) as s:
        decisions = submit(s, proposals[0].shop_id, list(proposals), now=now)
    with session_scope(settings.database_url) as s:
        rows = s.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    return decisions, list(rows)
