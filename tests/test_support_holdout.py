"""The support assistant's holdout: a signed-in customer in the shop's global holdout or the assistant's own gets
support as it was before the agent (their question goes to a person, and the shop is e-mailed), everyone else
the assistant; the AI resolution rate leaves the held-out conversations out (the assistant never had them), and
the control room's support-deflection row compares the two arms: the assistant's deflection against none."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from app.jobs.catalog import embed_shop_products
from app.measurement.control_room import success_table
from app.measurement.holdout import GLOBAL, in_global_holdout, in_holdout
from app.models.base import utcnow
from app.models.commerce import Customer
from app.models.feedback import SupportMessage
from app.models.serving import HoldoutPolicy
from app.stores.control_room import customer_facts
from app.stores.support import HOLDOUT, held_out
from app.stores.support_stats import support_resolution
from tests.test_support import ask as ask_proxy
from tests.test_support import shops  # noqa: F401  (the fixture)

GLOBAL_SHARE, SUPPORT_SHARE = 0.2, 0.3
CUSTOMERS = range(700, 760)


def _held(shop_id: int, cid: int) -> bool:
    return in_global_holdout(shop_id, "customer", str(cid), GLOBAL_SHARE) or in_holdout(
        shop_id, "support", "customer", str(cid), SUPPORT_SHARE
    )


def test_held_out_customers_get_a_person_and_the_deflection_row_compares_the_arms(
    client,
    session: Session,
    shops,  # noqa: F811
    jobs_env,
    app,
):
    shop_id = shops[0].shop_id
    app.extensions["attune.settings"] = app.extensions["attune.settings"].model_copy(
        update={"support_rate_ip_per_min": 1000}  # sixty customers ask from the test's one address
    )
    session.add(HoldoutPolicy(shop_id=shop_id, agent=GLOBAL, share=GLOBAL_SHARE))
    session.add(HoldoutPolicy(shop_id=shop_id, agent="support", share=SUPPORT_SHARE))
    now = utcnow()
    for cid in CUSTOMERS:
        session.add(Customer(shop_id=shop_id, shopify_id=cid, shopify_created_at=now - timedelta(days=90)))
    session.commit()
    embed_shop_products(shop_id, jobs_env)  # the assistant's product search
    held = [c for c in CUSTOMERS if _held(shop_id, c)]
    treated = [c for c in CUSTOMERS if not _held(shop_id, c)]
    assert len(held) >= 20 and len(treated) >= 20
    assert all(held_out(session, shop_id, c) for c in held) and not any(
        held_out(session, shop_id, c) for c in treated
    )
    assert not held_out(session, shop_id, None)  # anonymous visitors always get the assistant

    r = ask_proxy(client, "merino wool hiking socks", customer=held[0]).json
    assert r["escalated"] is True and r["handoff"] == HOLDOUT and "a person from the shop" in r["answer"]
    r = ask_proxy(client, "merino wool hiking socks", customer=treated[0]).json
    assert r["handoff"] != HOLDOUT and not r["escalated"], r
    r = ask_proxy(client, "merino wool hiking socks", client_id="anon-1").json
    assert r["handoff"] != HOLDOUT

    for cid in held[1:] + treated[1:]:  # the rest ask too: the same question, answered or handed on
        ask_proxy(client, "merino wool hiking socks", customer=cid)
    rows = session.exec(select(SupportMessage).where(SupportMessage.shop_id == shop_id)).all()
    assert {r.customer_shopify_id for r in rows if r.handoff == HOLDOUT} == set(held)

    facts = customer_facts(
        session, shop_id, now - timedelta(days=30), now + timedelta(minutes=1), GLOBAL_SHARE, ""
    )
    deflection = next(
        r for r in success_table(facts, 1 - GLOBAL_SHARE)["rows"] if r["metric"] == "support_deflection"
    )
    globally_held = [c for c in CUSTOMERS if in_global_holdout(shop_id, "customer", str(c), GLOBAL_SHARE)]
    assert deflection["holdout"]["customers"] == len(globally_held)
    assert deflection["holdout"]["value"] == 0.0  # support without the assistant deflects nothing
    assert deflection["treated"]["value"] > 0  # the assistant answered some of them

    figures = support_resolution(session, shop_id, now=utcnow() + timedelta(days=4))
    assert figures["conversations"] == len(treated) + 1  # the anonymous visitor's, not the held-out ones
