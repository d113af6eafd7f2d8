"""A job's inbox events are applied ``TOGETHER`` to a transaction, never all of a 200-event job at once (SQLite's
one write lock would stall the ingress's commits), and a failing event costs only its own group a second pass:
it is marked failed, every other event is applied, and the job raises for RQ's retry."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from app.models.inbox import WebhookInbox
from app.storefront.demo_data import seed_demo_shop
from webhooks import inbox_jobs

SHOP = "inbox-groups.myshopify.com"


def _cart(n: int) -> str:
    return json.dumps(
        {"id": f"cart-{n}", "token": f"cart-{n}", "line_items": [], "updated_at": "2026-12-01T10:00:00Z"}
    )


def test_a_job_applies_its_events_in_bounded_groups_and_a_failure_stays_in_its_group(
    jobs_env, session, monkeypatch
):
    shop = seed_demo_shop(session, SHOP)
    rows = [
        WebhookInbox(
            shop_id=shop.shop_id, shop_domain=SHOP, event_id=f"e{n}", topic="carts/update", payload=_cart(n)
        )
        for n in range(46)
    ]
    rows[30].payload = "[]"  # a body no handler can read: its effect raises
    session.add_all(rows)
    session.commit()
    ids = [r.id for r in rows]
    groups: list[int] = []
    together = inbox_jobs._apply_together
    monkeypatch.setattr(inbox_jobs, "_apply_together", lambda g: (groups.append(len(g)), together(g))[1])

    with pytest.raises(inbox_jobs.InboxEventsFailed, match="1 of 46"):
        inbox_jobs.process_inbox_batch(ids)

    assert inbox_jobs.TOGETHER == 20 and groups == [20, 20, 6]  # the second group failed and went one by one
    session.expire_all()
    status = {
        r.id: r.status for r in session.exec(select(WebhookInbox).where(WebhookInbox.id.in_(ids))).all()
    }
    assert status.pop(rows[30].id) == "failed"
    assert set(status.values()) == {"done"} and len(status) == 45
    # a retry of the job skips what is done and fails the bad event again, alone
    with pytest.raises(inbox_jobs.InboxEventsFailed, match="1 of 46"):
        inbox_jobs.process_inbox_batch(ids)
