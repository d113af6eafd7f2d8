"""Shopify Flow and customer metafields against the fake Shopify: the trigger extensions match the channel's
catalogue, a Flow decision goes through the outbox relay and ``flowTriggerReceive`` with the right handle and
payload (an oversized or unknown one is refused, by us and by the fake), and Attune's scores land on customer
metafields with Shopify's types (skipped without ``write_customers``)."""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select
from writeback_support import CUSTOMER, add_profile, install

from app.channels.base import PermanentError
from app.channels.flow import PAYLOAD_LIMIT, TRIGGERS, build_payload
from app.config import get_settings
from app.db import session_scope
from app.jobs import outbox as relay
from app.jobs.metafields import sync_all_metafields, sync_metafields
from app.jobs.orchestrate import submit
from app.models.messaging import OutboxMessage
from app.models.replenishment import ReplenishmentForecast
from app.models.writeback import ShopifyWriteback
from app.orchestrator.proposal import Content, Proposal, Purpose, Shopper
from app.profiles.metafields import score_fields
from app.shopify.admin import AdminClient, AdminUserError
from app.shopify.writes import MetafieldValue, flow_trigger_receive, set_customer_metafields
from tests.conftest import ROOT

NOW = datetime.now(UTC).replace(hour=15, minute=0, second=0, microsecond=0)  # 15:00 UTC: not quiet hours


@pytest.fixture(autouse=True)
def _no_holdout(monkeypatch):
    monkeypatch.setattr("app.stores.contact_policy.DEFAULT_MESSAGE_HOLDOUT", 0.0)


@pytest.fixture
def shop(live_app, jobs_env, monkeypatch):
    return install(live_app, monkeypatch, write_customers=True)


def test_trigger_extensions_match_the_channel_catalogue():
    found = {}
    for path in sorted((ROOT / "extensions").glob("attune-flow-*/shopify.extension.toml")):
        conf = tomllib.loads(path.read_text())
        (ext,) = conf["extensions"]
        assert ext["type"] == "flow_trigger" and ext["name"] and ext["description"]
        assert len(ext["handle"]) <= 30 and re.fullmatch(r"[a-z0-9-]+", ext["handle"])
        found[ext["handle"]] = conf["settings"]["fields"]
    assert set(found) == set(TRIGGERS) and len(found) >= 4
    names = {t.name for t in TRIGGERS.values()}
    assert {"Browse abandonment detected", "Cart at risk", "Replenishment due", "Churn risk rose"} <= names
    for handle, trigger in TRIGGERS.items():
        refs = [f["type"] for f in found[handle] if "key" not in f]
        custom = {f["key"]: f["type"] for f in found[handle] if "key" in f}
        assert refs == list(trigger.references)
        assert custom == {f.key: f.type for f in trigger.fields}


def flow_proposal(shop_id: int, handle: str, data: dict, key: str = "flow:1") -> Proposal:
    return Proposal(
        agent="browse_abandonment",
        shop_id=shop_id,
        shopper=Shopper(customer_id=CUSTOMER),
        purpose=Purpose.MARKETING,
        content=Content(handle, data),
        channels=("flow",),
        earliest=NOW,
        latest=NOW + timedelta(days=1),
        dedupe_key=key,
        reason="viewed the Blue mug three times",
        expected_value=1.0,
        product_ids=(),
    )


def decide(settings, proposal) -> OutboxMessage:
    with session_scope(settings.database_url) as s:
        submit(s, proposal.shop_id, [proposal], now=NOW)
    with session_scope(settings.database_url) as s:
        return s.exec(select(OutboxMessage).where(OutboxMessage.dedupe_key == proposal.dedupe_key)).one()


def test_a_flow_trigger_goes_through_the_relay_to_shopify(shop, jobs_env):
    data = {
        "product_id": 42,
        "product_title": "Blue mug",
        "product_url": "https://mugs.test/products/blue",
        "views": 3,
        "reason": "viewed the Blue mug three times",
        "not_in_the_trigger": "dropped",
    }
    row = decide(jobs_env, flow_proposal(shop.id, "attune-browse-abandonment", data))
    assert row.channel == "flow" and row.status == "pending"
    assert relay.relay_message(row.id, now=NOW) == "sent"
    (fired,) = shop.live.fake.store(shop.domain).flow_triggers
    assert fired["handle"] == "attune-browse-abandonment"
    assert fired["payload"] == {
        "customer_id": CUSTOMER,
        "product_id": 42,
        "Product title": "Blue mug",
        "Product URL": "https://mugs.test/products/blue",
        "Views": 3.0,
        "Reason": "viewed the Blue mug three times",
    }
    with session_scope(jobs_env.database_url) as s:
        sent = s.get(OutboxMessage, row.id)
        assert sent.provider_id == f"flow:attune-browse-abandonment:{row.id}"
    assert relay.relay_message(row.id, now=NOW) == "sent"  # a duplicate job fires nothing more
    assert len(shop.live.fake.store(shop.domain).flow_triggers) == 1


@pytest.mark.parametrize(
    "handle, data, error",
    [
        ("attune-no-such-trigger", {}, "no Flow trigger"),
        (
            "attune-browse-abandonment",
            {"product_id": 42, "product_url": "https://mugs.test/" + "x" * PAYLOAD_LIMIT},
            "over Shopify's 50000-byte limit",
        ),
    ],
)
def test_an_oversized_or_unknown_trigger_fails_without_reaching_shopify(shop, jobs_env, handle, data, error):
    row = decide(jobs_env, flow_proposal(shop.id, handle, data))
    assert relay.relay_message(row.id, now=NOW) == "failed"
    with session_scope(jobs_env.database_url) as s:
        assert error in s.get(OutboxMessage, row.id).last_error
    assert shop.live.fake.store(shop.domain).flow_triggers == []
    assert shop.live.fake.calls["graphql"] == 0  # refused before any call to Shopify


def test_the_payload_limit_is_checked_by_us_and_by_the_fake(shop, jobs_env):
    with pytest.raises(PermanentError, match="needs product_id"):
        build_payload("attune-replenishment-due", str(CUSTOMER), {"due_date": "2027-01-01"})
    with pytest.raises(PermanentError, match="known Shopify customer"):
        build_payload("attune-cart-at-risk", "client-abc", {})
    with pytest.raises(PermanentError, match="must be a number"):
        build_payload("attune-cart-at-risk", str(CUSTOMER), {"risk": "high"})
    client = AdminClient.for_shop(get_settings(), shop.id)
    huge = {"customer_id": CUSTOMER, "Reason": "x" * (PAYLOAD_LIMIT + 10)}
    with pytest.raises(AdminUserError, match="exceeds the limit"):
        flow_trigger_receive(client, "attune-cart-at-risk", huge)
    with pytest.raises(AdminUserError, match="Invalid handle"):
        flow_trigger_receive(client, "someone-elses-trigger", {"customer_id": CUSTOMER})
    with pytest.raises(AdminUserError, match="missing"):
        flow_trigger_receive(client, "attune-cart-at-risk", {"Risk": 0.5})
    with pytest.raises(AdminUserError, match="not in the trigger"):
        flow_trigger_receive(client, "attune-cart-at-risk", {"customer_id": CUSTOMER, "Coupon": "X"})
    assert shop.live.fake.store(shop.domain).flow_triggers == []


def test_scores_land_on_customer_metafields_with_shopify_types(shop, jobs_env):
    add_profile(jobs_env, shop.id)
    assert sync_metafields(shop.id) == {"written": 1, "failed": 0}
    stored = shop.fake_customer["_metafields"]
    namespace = f"app--{jobs_env.shopify_api_key}--attune"
    got = {key: (m["type"], m["value"]) for (ns, key), m in stored.items() if ns == namespace}
    assert got == {
        "intent": ("number_decimal", "0.4219"),
        "churn_risk": ("number_decimal", "0.3100"),
        "predicted_next_order": ("date", "2026-12-22"),  # last purchase 2 weeks before, every 5 weeks
        "segment": ("single_line_text_field", "Champions"),
    }
    assert sync_metafields(shop.id) == {"written": 0, "failed": 0}  # unchanged profiles are not rewritten
    assert sync_all_metafields() == 1


def test_the_next_replenishment_due_date_lands_on_a_metafield(shop, jobs_env):
    add_profile(jobs_env, shop.id)
    at = datetime(2026, 12, 1, tzinfo=UTC)
    with session_scope(jobs_env.database_url) as s:
        for pid, due, status in ((11, 9, "due"), (12, 4, "stopped"), (13, 20, "stocked")):
            s.add(ReplenishmentForecast(shop_id=shop.id, customer_shopify_id=CUSTOMER, product_shopify_id=pid,
                                        purchase_days=3, last_purchase_at=at, due_at=at + timedelta(days=due),
                                        due_low=at, due_high=at, predicted_next_at=at, status=status,
                                        basis="personal", consumable=True))  # fmt: skip
    assert sync_metafields(shop.id, [CUSTOMER]) == {"written": 1, "failed": 0}
    stored = shop.fake_customer["_metafields"]
    namespace = f"app--{jobs_env.shopify_api_key}--attune"
    assert stored[(namespace, "next_replenishment_due")]["type"] == "date"
    assert (
        stored[(namespace, "next_replenishment_due")]["value"] == "2026-12-10"
    )  # the stopped one is left out


def test_without_write_customers_metafields_are_skipped(live_app, jobs_env, monkeypatch):
    shop = install(live_app, monkeypatch, write_customers=False)
    add_profile(jobs_env, shop.id)
    assert sync_metafields(shop.id)["skipped"] == "the shop has not granted write_customers"
    assert sync_metafields(shop.id, [CUSTOMER])["written"] == 0
    assert "_metafields" not in shop.fake_customer
    with session_scope(jobs_env.database_url) as s:
        (row,) = s.exec(select(ShopifyWriteback).where(ShopifyWriteback.shop_id == shop.id)).all()
        assert row.status == "skipped" and row.kind == "metafields"
    assert sync_all_metafields() == 0
    # the fake enforces the scope too: Shopify answers ACCESS_DENIED
    from app.shopify.writes import ScopeDenied

    with pytest.raises(ScopeDenied):
        set_customer_metafields(
            AdminClient.for_shop(get_settings(), shop.id),
            {CUSTOMER: [MetafieldValue("intent", "number_decimal", "0.5")]},
        )


def test_the_fake_refuses_bad_metafield_values(shop, jobs_env):
    client = AdminClient.for_shop(get_settings(), shop.id)
    with pytest.raises(AdminUserError, match="not a valid date"):
        set_customer_metafields(client, {CUSTOMER: [MetafieldValue("predicted_next_order", "date", "soon")]})
    with pytest.raises(AdminUserError, match="Owner does not exist"):
        set_customer_metafields(client, {999: [MetafieldValue("intent", "number_decimal", "0.5")]})
    assert "_metafields" not in shop.fake_customer


def test_score_fields_leave_out_what_the_profile_lacks():
    now = datetime(2026, 12, 7, tzinfo=UTC)
    assert score_fields(None, None, None, None, now) == []
    fields = score_fields(float("nan"), 1.7, "  At   risk ", {}, now)
    assert [(f.key, f.value) for f in fields] == [("churn_risk", "1.0000"), ("segment", "At risk")]
