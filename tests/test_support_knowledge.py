"""The support agent's knowledge per shop, end to end: policies and pages read from the (fake) Admin GraphQL
API, products and the merchant's FAQ from the mirror, an idempotent sync, the admin's FAQ editor, and the
storefront assistant answering a policy question with its source link, or abstaining and handing off."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from redis import Redis
from rq import Queue
from sqlmodel import Session, select

from app.commerce.privacy import erase_customer
from app.db import get_engine
from app.jobs.knowledge import sync_local_knowledge, sync_shop_knowledge
from app.models.commerce import Product
from app.models.feedback import ProductReview
from app.models.knowledge import KnowledgePassage
from app.models.shop import Shop
from app.shopify.fake.content import add_page, set_policy, set_product_metafield
from app.stores.product_questions import product_questions
from tests.fixtures_shopify import make_session_token
from tests.test_support import signed

SHIPPING = (
    "<p>We ship to the United States, Canada and the United Kingdom. Orders over $75 ship free within the "
    "United States.</p><p>Standard delivery takes 3-5 business days.</p>"
)
REFUNDS = "<p>You can return unworn items within 30 days of delivery for a full refund.</p>"


@pytest.fixture(scope="module")
def minilm_numpy():
    from app.embedding import make_embedder

    return make_embedder("minilm-numpy")


@pytest.fixture
def knowledge_shop(installed_shop, live_app, jobs_env, minilm_numpy, monkeypatch):
    """The installed shop with two policies, a published and a draft page, and one product in the mirror;
    MiniLM (NumPy) embeds passages in the job and questions in the web process."""
    import app.jobs.knowledge
    import app.stores.knowledge

    monkeypatch.setattr(app.jobs.knowledge, "get_embedder", lambda: minilm_numpy)
    monkeypatch.setattr(app.stores.knowledge, "get_query_embedder", lambda: minilm_numpy)
    granted = f"{live_app.settings.scopes},read_legal_policies,read_online_store_pages"  # the optional two
    live_app.fake.grant_scopes(installed_shop.domain, granted)
    store = live_app.fake.store(installed_shop.domain)
    set_policy(store, "SHIPPING_POLICY", SHIPPING, "Shipping policy")
    set_policy(store, "REFUND_POLICY", REFUNDS, "Refund policy")
    add_page(store, {"id": 501, "title": "Size guide", "handle": "size-guide",
                     "body": "<p>Our jackets run true to size. Between sizes, take the larger one.</p>"})  # fmt: skip
    add_page(store, {"id": 502, "title": "Draft", "body": "<p>Not public yet.</p>", "published": False})
    with Session(get_engine(live_app.settings.database_url)) as session:
        row = session.get(Shop, installed_shop.id)
        row.scopes = granted  # as the app/scopes_update webhook records it
        session.add(row)
        session.add(
            Product(
                shop_id=installed_shop.id,
                shopify_id=7,
                title="Alpine jacket",
                handle="alpine-jacket",
                status="active",
                body_html="<p>The Alpine jacket is a waterproof shell with a 10,000 mm rating.</p>",
                shopify_updated_at=datetime.now(UTC),
            )  # fmt: skip
        )
        session.commit()
    return installed_shop


def passages(settings, shop_id: int) -> list[KnowledgePassage]:
    with Session(get_engine(settings.database_url)) as session:
        return list(session.exec(select(KnowledgePassage).where(KnowledgePassage.shop_id == shop_id)).all())


def admin(shop: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_session_token(shop)}"}


def test_sync_reads_policies_pages_and_products_and_is_idempotent(knowledge_shop, live_app):
    cfg = live_app.settings
    first = sync_shop_knowledge(knowledge_shop.id, cfg)
    assert first["skipped"] == {}
    rows = passages(cfg, knowledge_shop.id)
    keys = {r.source_key for r in rows}
    assert {"policy:SHIPPING_POLICY", "policy:REFUND_POLICY", "page:501", "product:7:description"} <= keys
    assert "page:502" not in keys  # unpublished
    shipping = [r for r in rows if r.source_key == "policy:SHIPPING_POLICY"]
    assert all(r.url.endswith("/policies/shipping-policy") and r.kind == "policy" for r in shipping)
    assert next(r for r in rows if r.source_key == "page:501").url.endswith("/pages/size-guide")

    again = sync_shop_knowledge(knowledge_shop.id, cfg)
    assert again["online_store"]["embedded"] == 0 and again["local"]["embedded"] == 0
    assert len(passages(cfg, knowledge_shop.id)) == len(rows)

    store = live_app.fake.store(knowledge_shop.domain)
    set_policy(store, "REFUND_POLICY", "<p>Returns are accepted within 14 days.</p>", "Refund policy")
    del store.pages[next(k for k in store.pages if k.endswith("/501"))]
    changed = sync_shop_knowledge(knowledge_shop.id, cfg)["online_store"]
    assert changed["embedded"] == 1 and changed["deleted"] == 1  # the page's one window
    now = passages(cfg, knowledge_shop.id)
    assert "page:501" not in {r.source_key for r in now}
    assert [r.text for r in now if r.source_key == "policy:REFUND_POLICY"] == [
        "Returns are accepted within 14 days."
    ]


def test_a_missing_scope_skips_its_family_and_keeps_what_it_had(knowledge_shop, live_app):
    cfg = live_app.settings
    sync_shop_knowledge(knowledge_shop.id, cfg)
    with Session(get_engine(cfg.database_url)) as session:
        shop = session.get(Shop, knowledge_shop.id)
        shop.scopes = "read_products,read_orders,read_online_store_pages"
        session.add(shop)
        session.commit()
    report = sync_shop_knowledge(knowledge_shop.id, cfg)
    assert "read_legal_policies" in report["skipped"]["policy"]
    assert "policy:SHIPPING_POLICY" in {r.source_key for r in passages(cfg, knowledge_shop.id)}


def test_shopify_denying_a_scope_keeps_the_familys_passages(knowledge_shop, live_app):
    """The shop row says the scope is granted but Shopify's token no longer carries it: ACCESS_DENIED."""
    cfg = live_app.settings
    sync_shop_knowledge(knowledge_shop.id, cfg)
    before = {r.source_key for r in passages(cfg, knowledge_shop.id)}
    live_app.fake.grant_scopes(knowledge_shop.domain, "read_products,read_orders,read_online_store_pages")
    report = sync_shop_knowledge(knowledge_shop.id, cfg)
    assert "Access denied" in report["skipped"]["policy"] and "page" not in report["skipped"]
    assert {r.source_key for r in passages(cfg, knowledge_shop.id)} == before


def test_the_faq_editor_validates_scopes_and_feeds_the_knowledge(knowledge_shop, live_app):
    cfg, client, shop = live_app.settings, live_app.client(), knowledge_shop.domain
    url = "/api/admin/support/faq"
    made = client.post(
        url, headers=admin(shop), json={"question": "Do you gift wrap?", "answer": "Yes, for $5."}
    )
    assert made.status_code == 201, made.get_json()
    faq_id = made.get_json()["faq"]["id"]
    bad = client.post(url, headers=admin(shop), json={"question": "  ", "answer": "x"})
    assert bad.status_code == 400 and bad.get_json()["field"] == "question"
    assert (
        client.post(url, headers=admin(shop), json={"question": "q", "answer": "a" * 5000}).get_json()[
            "field"
        ]
        == "answer"
    )
    assert client.post(url, headers=admin(shop), data="nope").status_code == 400
    assert client.post(url, json={"question": "q", "answer": "a"}).status_code == 401
    other = "other-shop.myshopify.com"
    assert client.put(
        f"{url}/{faq_id}", headers=admin(other), json={"question": "q", "answer": "a"}
    ).status_code in (401, 404)
    queued = Queue("low", connection=Redis.from_url(cfg.redis_url)).get_job_ids()
    assert f"knowledge-{knowledge_shop.id}" in queued

    sync_local_knowledge(knowledge_shop.id, cfg)
    faq_rows = [r for r in passages(cfg, knowledge_shop.id) if r.source_key == f"faq:{faq_id}"]
    assert [(r.text, r.question, r.kind) for r in faq_rows] == [("Yes, for $5.", "Do you gift wrap?", "faq")]
    assert faq_rows[0].question_vector is not None

    changed = client.put(
        f"{url}/{faq_id}",
        headers=admin(shop),
        json={"question": "Do you gift wrap?", "answer": "Yes, for $6."},
    )
    assert changed.status_code == 200 and changed.get_json()["faq"]["answer"] == "Yes, for $6."
    assert client.get(url, headers=admin(shop)).get_json()["faq"][0]["answer"] == "Yes, for $6."
    assert client.delete(f"{url}/{faq_id}", headers=admin(shop)).status_code == 200
    assert client.delete(f"{url}/{faq_id}", headers=admin(shop)).status_code == 404
    assert not [r for r in passages(cfg, knowledge_shop.id) if r.source_key.startswith("faq:")]

    summary = client.get("/api/admin/support/knowledge", headers=admin(shop)).get_json()
    assert summary["by_kind"].get("description", 0) >= 1
    assert client.post("/api/admin/support/knowledge/sync", headers=admin(shop)).status_code == 202
    assert (
        f"knowledge-full-{knowledge_shop.id}"
        in Queue("low", connection=Redis.from_url(cfg.redis_url)).get_job_ids()
    )


def test_the_assistant_answers_from_a_policy_with_its_link_or_abstains_and_hands_off(
    knowledge_shop, live_app
):
    cfg, client, shop = live_app.settings, live_app.client(), knowledge_shop.domain
    sync_shop_knowledge(knowledge_shop.id, cfg)
    path = signed("/support", {"client_id": "c-knowledge-1"}, shop=shop)
    answered = client.post(path, json={"question": "Do you ship to Canada?"}).get_json()
    assert answered["escalated"] is False and answered["abstained"] is False, answered
    assert "Canada" in answered["answer"]
    assert answered["source"]["url"].endswith("/policies/shipping-policy")
    stored = {r.text for r in passages(cfg, knowledge_shop.id)}
    assert answered["answer"] in stored  # word for word

    path = signed("/support", {"client_id": "c-knowledge-2"}, shop=shop)
    unsure = client.post(path, json={"question": "Can I pay with a cow?"}).get_json()
    assert unsure["escalated"] is True and unsure["abstained"] is True and unsure["source"] is None
    waiting = client.get("/api/admin/support/escalations", headers=admin(shop)).get_json()
    assert any(e["question"] == "Can I pay with a cow?" for e in waiting["escalations"])

    scoped = client.post(
        signed("/support", {"client_id": "c-knowledge-3"}, shop=shop),
        json={"question": "Is the Alpine jacket waterproof?", "product_id": "7"},
    ).get_json()
    assert scoped["source"] is not None and scoped["source"]["url"] == "/products/alpine-jacket", scoped
    bad = client.post(
        signed("/support", {"client_id": "c-4"}, shop=shop), json={"question": "hi", "product_id": "x"}
    )
    assert bad.status_code == 400


def test_reviews_answer_too_and_go_with_their_author(knowledge_shop, live_app):
    cfg = live_app.settings
    engine = get_engine(cfg.database_url)
    with Session(engine) as session:
        session.add(
            ProductReview(
                shop_id=knowledge_shop.id,
                review_key="r-1",
                customer_shopify_id=4242,
                product_shopify_id=7,
                rating=5,
                title="Dry all week",
                body="Kept me dry through a week of rain. Runs a size small.",
            )  # fmt: skip
        )
        session.commit()
    sync_local_knowledge(knowledge_shop.id, cfg)
    review = [r for r in passages(cfg, knowledge_shop.id) if r.source_key == "review:r-1"]
    assert review and all(r.customer_shopify_id == 4242 and r.product_shopify_id == 7 for r in review)
    assert review[0].url == "/products/alpine-jacket" and review[0].kind == "review"
    with Session(engine) as session:
        erase_customer(session, knowledge_shop.id, 4242)  # customers/redact
        session.commit()
    assert not [r for r in passages(cfg, knowledge_shop.id) if r.source_key == "review:r-1"]


def test_product_specifications_come_from_metafields_and_raise_questions(
    knowledge_shop, live_app, minilm_numpy
):
    """A product's metafields (Admin GraphQL) are its specifications: text types read as sentences named by their
    definition, an app's own and non-text ones left out, a draft product's too; they answer a shopper and raise
    the product page's questions."""
    cfg, shop = live_app.settings, knowledge_shop.domain
    store = live_app.fake.store(shop)
    store.add_product({"id": 7, "title": "Alpine jacket", "handle": "alpine-jacket"})
    store.add_product({"id": 8, "title": "Prototype", "status": "draft"})
    set_product_metafield(store, 7, "custom", "material", "Recycled nylon shell with a merino wool lining",
                          "single_line_text_field", name="Material")  # fmt: skip
    set_product_metafield(store, 7, "custom", "weight", '{"value": 1.2, "unit": "KILOGRAMS"}', "weight")
    set_product_metafield(store, 7, "custom", "sizes", '["S", "M", "L"]', "list.single_line_text_field")
    set_product_metafield(store, 7, "$app:attune", "score", "0.93", "number_decimal")
    set_product_metafield(store, 7, "custom", "swatch", "gid://shopify/MediaImage/1", "file_reference")
    set_product_metafield(store, 8, "custom", "material", "Unreleased fabric", "single_line_text_field")
    report = sync_shop_knowledge(knowledge_shop.id, cfg)
    assert "spec" not in report["skipped"]
    specs = [r for r in passages(cfg, knowledge_shop.id) if r.source_key.startswith("spec:")]
    assert {r.source_key for r in specs} == {"spec:7"}
    assert all(r.kind == "metafield" and r.product_shopify_id == 7 and r.url == "/products/alpine-jacket"
               for r in specs)  # fmt: skip
    text = " ".join(r.text for r in specs)
    assert "Alpine jacket, material: Recycled nylon shell with a merino wool lining." in text
    assert "Alpine jacket, weight: 1.2 kg." in text and "Alpine jacket, sizes: S, M, L." in text
    assert "0.93" not in text and "MediaImage" not in text

    client = live_app.client()
    made_of = client.post(
        signed("/support", {"client_id": "c-spec-1"}, shop=shop),
        json={"question": "What is the Alpine jacket made of?", "product_id": "7"},
    ).get_json()
    assert made_of["abstained"] is False and "merino wool" in made_of["answer"], made_of

    with Session(get_engine(cfg.database_url)) as session:
        offered = [q["question"] for q in product_questions(session, knowledge_shop.id, 7, minilm_numpy)]
    assert "What is the Alpine jacket made of?" in offered, (
        offered
    )  # raised by the metafield, not the description


def test_a_product_webhook_updates_the_knowledge(knowledge_shop, live_app):
    """Shopify's signed products/update reaches the index through the real ingress and worker: the job queued
    after the mirror's upsert re-splits the changed description (issue 18 §1, "from webhooks")."""
    from tests.webhook_support import deliver, run_jobs

    cfg = live_app.settings
    sync_shop_knowledge(knowledge_shop.id, cfg)
    Queue("low", connection=Redis.from_url(cfg.redis_url)).empty()  # not the install's own sync
    newer = {
        "id": 7, "title": "Alpine jacket", "handle": "alpine-jacket", "status": "active",
        "body_html": "<p>The Alpine jacket now has a detachable hood.</p>",
        "updated_at": "2099-01-01T00:00:00Z", "variants": [{"id": 71, "title": "M", "price": "180.00"}],
    }  # fmt: skip
    accepted = deliver(live_app.client(), "products/update", newer, shop=knowledge_shop.domain)
    assert accepted.status_code == 200
    run_jobs(cfg.redis_url, ("webhooks", "low"))  # the inbox, then the knowledge (and catalogue) jobs
    texts = {r.source_key: r.text for r in passages(cfg, knowledge_shop.id)}
    assert texts["product:7:description"] == "The Alpine jacket now has a detachable hood."
    assert texts["product:7:options"] == "Alpine jacket comes in: M."
    assert "policy:SHIPPING_POLICY" in texts  # the local sync leaves the online store's passages alone
