"""Nothing is *sent* on the strength of a pixel batch's ``customerId``: browsing posted from the attacker's
browser under a customer's id never becomes a browse-abandonment e-mail to that customer (the shop, its
subscribed customers with verified browsers, and the loopback SMTP server are those of the agent's end-to-end
test)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from app.db import session_scope
from app.jobs import outbox as relay
from app.jobs.browse_abandonment import run_browse_abandonment
from app.models.messaging import MessageDecision, OutboxMessage
from app.stores.identity import members_of
from tests.test_browse_abandonment import DOMAIN, SHOPPERS, _event, _zone_at_noon, shop, smtp  # noqa: F401
from tests.webhook_support import run_jobs

VICTIM = SHOPPERS[0]  # subscribed to e-mail, signed in once on their own browser (web-<id>)


def test_a_spoofed_customer_id_sends_the_customer_nothing(client, jobs_env, shop, smtp):  # noqa: F811
    now = datetime.now(UTC).replace(microsecond=0)
    zone = _zone_at_noon(now)
    for n, customer in enumerate((VICTIM, f"gid://shopify/Customer/{VICTIM}")):
        events = [_event(10 * n, "product_viewed", now - timedelta(days=2), 42),
                  _event(10 * n + 1, "product_viewed", now - timedelta(days=1), 42)]  # fmt: skip
        body = {"shop": DOMAIN, "pixelKey": shop.pixel_key, "clientId": "attacker", "customerId": customer,
                "timeZone": zone, "events": events}  # fmt: skip
        assert (
            client.post("/pixel/events", data=json.dumps(body), content_type="text/plain").status_code == 200
        )
    run_jobs(jobs_env.redis_url, ("default",))

    run_browse_abandonment(shop.id, now=now)
    with session_scope(jobs_env.database_url) as s:
        decisions = s.exec(select(MessageDecision)).all()
        rows = s.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    for row in rows:
        relay.relay_message(row.id, now=now)
    # the attacker's browsing is an anonymous browser's: never the customer's decision, never an e-mail
    assert [m.rcpt_tos for m in smtp.messages] == []
    assert decisions and all(d.customer_shopify_id is None and d.client_id == "attacker" for d in decisions)
    assert all(d.channel != "email" for d in decisions)
    with session_scope(jobs_env.database_url) as s:
        assert "client:attacker" not in members_of(s, shop.id, f"customer:{VICTIM}")
