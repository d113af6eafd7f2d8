"""Customer metafield definitions for Attune's scores (``metafieldDefinitionCreate``) against the fake Shopify:
made once per shop before the first values are written (owner CUSTOMER, the ``$app:attune`` namespace, names,
descriptions, Shopify types, pinned, merchant read-only), idempotent (a definition the shop has is ``TAKEN``,
which counts as made), not attempted without ``write_customers``, and made once the scope is granted. The
fake refuses what Shopify refuses, and holds values to their definition's type."""

from __future__ import annotations

import pytest
from sqlmodel import select
from writeback_support import CUSTOMER, add_profile, install

from app.config import get_settings
from app.db import session_scope
from app.jobs.metafields import DEFINITIONS_KIND, ensure_definitions, sync_metafields
from app.jobs.writeback import replay_skipped
from app.models.shop import Shop
from app.models.writeback import ShopifyWriteback
from app.profiles.metafields import DEFINITIONS, score_fields
from app.shopify.admin import AdminClient, AdminUserError
from app.shopify.writes import (
    MetafieldDefinition,
    MetafieldValue,
    ScopeDenied,
    create_metafield_definition,
    set_customer_metafields,
)


def _definitions(shop) -> dict:
    return shop.live.fake.store(shop.domain).metafield_definitions


def test_definitions_describe_every_score_with_its_type():
    from datetime import UTC, datetime

    derived = {
        "churn_risk": {
            "signals": [
                {"name": "weeks_since_last_purchase", "value": 2.0},
                {"name": "typical_gap_weeks", "value": 5.0},
            ]
        }
    }
    fields = score_fields(0.5, 0.5, "Champions", derived, datetime(2026, 12, 7, tzinfo=UTC))
    replenishment = {("next_replenishment_due", "date")}  # from the replenishment forecasts, not the profile
    assert {(f.key, f.type) for f in fields} | replenishment == {(d.key, d.type) for d in DEFINITIONS}
    # segments filter on dates, numbers, text and true/false only
    assert {d.type for d in DEFINITIONS} <= {"date", "number_decimal", "single_line_text_field", "boolean"}
    assert all(d.name.startswith("Attune ") and d.description for d in DEFINITIONS)


def test_made_once_before_the_first_values(live_app, jobs_env, monkeypatch):
    shop = install(live_app, monkeypatch, write_customers=True)
    add_profile(jobs_env, shop.id)
    assert sync_metafields(shop.id) == {"written": 1, "failed": 0}
    namespace = f"app--{jobs_env.shopify_api_key}--attune"
    made = _definitions(shop)
    assert set(made) == {("CUSTOMER", namespace, d.key) for d in DEFINITIONS}
    for d in DEFINITIONS:
        got = made[("CUSTOMER", namespace, d.key)]
        assert (got["name"], got["description"], got["type"]["name"]) == (d.name, d.description, d.type)
        assert got["access"]["admin"] == "MERCHANT_READ" and got["pinnedPosition"] is not None
    # the values written are of their definition's type
    stored = shop.fake_customer["_metafields"]
    assert {key: m["type"] for (ns, key), m in stored.items() if ns == namespace} == {
        "intent": "number_decimal",
        "churn_risk": "number_decimal",
        "predicted_next_order": "date",
        "segment": "single_line_text_field",
    }
    calls = shop.live.fake.calls["graphql"]
    assert ensure_definitions(get_settings(), AdminClient.for_shop(get_settings(), shop.id), shop.id) == []
    assert shop.live.fake.calls["graphql"] == calls  # recorded as made: no call at all
    with session_scope(jobs_env.database_url) as s:
        row = s.exec(select(ShopifyWriteback).where(ShopifyWriteback.kind == DEFINITIONS_KIND)).one()
        assert row.status == "done" and set(row.detail.split(",")) == {d.key for d in DEFINITIONS}


def test_a_definition_the_shop_has_counts_as_made(live_app, jobs_env, monkeypatch):
    shop = install(live_app, monkeypatch, write_customers=True)
    client = AdminClient.for_shop(get_settings(), shop.id)
    first = DEFINITIONS[0]
    d = MetafieldDefinition("CUSTOMER", first.key, first.type, first.name, first.description)
    assert create_metafield_definition(client, d) is True
    assert create_metafield_definition(client, d) is False  # TAKEN
    # the record is lost (say, a restored database): made again, every TAKEN one is fine
    made = ensure_definitions(get_settings(), client, shop.id)
    assert made == [x.key for x in DEFINITIONS] and len(_definitions(shop)) == len(DEFINITIONS)


def test_without_write_customers_nothing_is_defined_until_granted(live_app, jobs_env, monkeypatch):
    shop = install(live_app, monkeypatch, write_customers=False)
    add_profile(jobs_env, shop.id)
    assert sync_metafields(shop.id)["skipped"] == "the shop has not granted write_customers"
    assert _definitions(shop) == {}
    with pytest.raises(ScopeDenied):  # the fake enforces the scope too
        create_metafield_definition(
            AdminClient.for_shop(get_settings(), shop.id),
            MetafieldDefinition("CUSTOMER", "intent", "number_decimal", "Intent", ""),
        )
    # the merchant grants write_customers: the replayed sync defines, then writes
    live_app.fake.granted_scopes += ",write_customers"
    assert live_app.install(shop.domain).status_code == 200
    with session_scope(jobs_env.database_url) as s:
        assert "write_customers" in s.get(Shop, shop.id).scopes
    replay_skipped(shop.id)
    assert sync_metafields(shop.id)["written"] == 1
    assert len(_definitions(shop)) == len(DEFINITIONS)


def test_a_refusal_is_recorded_and_the_values_still_written(live_app, jobs_env, monkeypatch):
    shop = install(live_app, monkeypatch, write_customers=True)
    add_profile(jobs_env, shop.id)
    bad = DEFINITIONS[0].__class__("x", "number_decimal", "Broken", "a key Shopify refuses")
    monkeypatch.setattr("app.jobs.metafields.DEFINITIONS", (bad, *DEFINITIONS))
    assert sync_metafields(shop.id)["written"] == 1
    with session_scope(jobs_env.database_url) as s:
        row = s.exec(select(ShopifyWriteback).where(ShopifyWriteback.kind == DEFINITIONS_KIND)).one()
        assert row.status == "failed" and "x: Shopify refused" in row.detail and "2-64" in row.detail


def test_the_fake_refuses_what_shopify_refuses(live_app, jobs_env, monkeypatch):
    shop = install(live_app, monkeypatch, write_customers=True)
    client = AdminClient.for_shop(get_settings(), shop.id)
    ok = MetafieldDefinition("CUSTOMER", "score", "number_decimal", "Score", "")
    cases = [
        (ok.__class__("CUSTOMER", "score", "colour", "Score", ""), "INCLUSION"),
        (ok.__class__("CUSTOMER", "score", "number_decimal", " ", ""), "BLANK"),
        (ok.__class__("CUSTOMER", "a b", "number_decimal", "Score", ""), "INVALID"),
    ]
    for definition, code in cases:
        with pytest.raises(AdminUserError) as info:
            create_metafield_definition(client, definition)
        assert info.value.codes == {code}
    with pytest.raises(AdminUserError) as info:  # admin access on a namespace the app does not own
        client._mutate(
            "mutation($d: MetafieldDefinitionInput!) { metafieldDefinitionCreate(definition: $d) {"
            " userErrors { field message code } } }",
            {
                "d": {
                    "ownerType": "CUSTOMER",
                    "namespace": "custom",
                    "key": "score",
                    "name": "Score",
                    "type": "number_decimal",
                    "access": {"admin": "MERCHANT_READ"},
                }
            },
            "metafieldDefinitionCreate",
        )
    assert info.value.codes == {"ADMIN_ACCESS_INPUT_NOT_ALLOWED"}
    assert create_metafield_definition(client, ok, namespace="custom") is True  # ours sends none there
    assert _definitions(shop)[("CUSTOMER", "custom", "score")]["access"]["admin"] == "MERCHANT_READ_WRITE"
    assert create_metafield_definition(client, ok) is True
    with pytest.raises(AdminUserError, match="definition says"):  # values keep to the definition's type
        set_customer_metafields(client, {CUSTOMER: [MetafieldValue("score", "single_line_text_field", "hi")]})


def test_past_the_pinned_limit_a_definition_is_made_unpinned(live_app, jobs_env, monkeypatch):
    shop = install(live_app, monkeypatch, write_customers=True)
    client = AdminClient.for_shop(get_settings(), shop.id)
    for i in range(20):
        assert create_metafield_definition(
            client, MetafieldDefinition("CUSTOMER", f"other_{i}", "boolean", f"Other {i}", "")
        )
    assert create_metafield_definition(
        client, MetafieldDefinition("CUSTOMER", "intent", "number_decimal", "Attune purchase intent", "")
    )
    namespace = f"app--{jobs_env.shopify_api_key}--attune"
    assert _definitions(shop)[("CUSTOMER", namespace, "intent")]["pinnedPosition"] is None
