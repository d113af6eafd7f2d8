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
