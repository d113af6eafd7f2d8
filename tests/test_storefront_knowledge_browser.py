"""The assistant answering from the shop's knowledge in headless Chromium: a policy answer with its source link,
an abstention that hands off, and a product page's question answered from that product (``product_id`` sent)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.catalog import search as catalog_search
from app.config import get_settings
from app.knowledge.passages import Source
from app.models.serving import HoldoutPolicy
from app.storefront.demo_data import seed_demo_shop
from app.stores.knowledge import product_sources, replace_families
from tests.browser_support import BROWSER_MARKS
from tests.test_storefront_support_browser import (  # noqa: F401  (browser, page: the fixtures)
    SHOP,
    STOVE,
    ask,
    browser,
    open_assistant,
    page,
    storefront,
)

pytestmark = BROWSER_MARKS
SHIPPING = (
    "<p>We ship to the United States, Canada and the United Kingdom. Orders over $75 ship free within the "
    "United States.</p><p>Standard delivery takes 3-5 business days.</p>"
)


@pytest.fixture(scope="module")
def minilm_numpy():
    from app.embedding import make_embedder

    return make_embedder("minilm-numpy")


@pytest.fixture
def shop(session, settings, monkeypatch, minilm_numpy) -> Iterator[object]:
    import app.stores.knowledge

    monkeypatch.setenv("ATTUNE_EMBEDDER", "hashing")  # product search, without the model
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REDIS_URL", settings.redis_url or "")
    monkeypatch.setattr(app.stores.knowledge, "get_query_embedder", lambda: minilm_numpy)
    get_settings.cache_clear()
    catalog_search.clear_cache()
    demo = seed_demo_shop(session, SHOP)
    session.add(HoldoutPolicy(shop_id=demo.shop_id, agent="recommendations", share=0.0))
    policy = Source(
        "policy:SHIPPING_POLICY",
        "policy",
        "Shipping policy",
        SHIPPING,
        "https://shop.test/policies/shipping-policy",
    )
    replace_families(session, demo.shop_id, ["policy"], [policy], minilm_numpy)
    replace_families(session, demo.shop_id, ["product"], product_sources(session, demo.shop_id), minilm_numpy)
    session.commit()
    yield demo
    get_settings.cache_clear()
    catalog_search.clear_cache()


def test_policy_answer_with_link_abstention_and_product_question(app, settings, shop, page):  # noqa: F811
    with storefront(app, settings) as sf:
        sent: list[str] = []
        page.on(
            "request", lambda r: sent.append(r.post_data or "") if "/apps/attune/support" in r.url else None
        )
        page.goto(sf.url + STOVE)
        open_assistant(page)

        ask(page, "Do you ship to Canada?")
        first = page.locator(".attune-chat .attune-answer").first
        first.wait_for(timeout=8000)
        assert "We ship to the United States, Canada" in first.inner_text()
        link = first.locator(".attune-source a")
        assert link.inner_text() == "Shipping policy"
        assert link.get_attribute("href") == "https://shop.test/policies/shipping-policy"
        assert first.locator(".attune-escalated").count() == 0

        ask(page, "Can I pay with a cow?")
        second = page.locator(".attune-chat .attune-answer").nth(1)
        second.wait_for(timeout=8000)
        assert second.locator(".attune-escalated").count() == 1
        assert second.locator(".attune-source").count() == 0

        ask(page, "How quickly does this stove boil water?")
        third = page.locator(".attune-chat .attune-answer").nth(2)
        third.wait_for(timeout=8000)
        assert "boils water in three minutes" in third.inner_text()
        assert third.locator(".attune-source a").get_attribute("href") == STOVE
        assert all('"product_id"' in body for body in sent) and len(sent) == 3


def test_a_product_page_offers_questions_that_have_answers(app, settings, shop, page):  # noqa: F811
    with storefront(app, settings) as sf:
        page.goto(sf.url + STOVE)
        with page.expect_response(lambda r: "/apps/attune/product-questions" in r.url) as offered:
            open_assistant(page)
        questions = [q["question"] for q in offered.value.json()["questions"]]
        assert "How long does delivery take?" in questions  # the shipping policy answers it
        assert (
            "Can I return it?" not in questions
        )  # this shop has no returns policy: never offered unanswered
        chip = page.locator(".attune-questions .attune-chip", has_text="How long does delivery take?")
        chip.wait_for(timeout=5000)
        assert page.locator(".attune-questions").is_visible()
        chip.click()
        answer = page.locator(".attune-chat .attune-answer").first
        answer.wait_for(timeout=8000)
        assert "3-5 business days" in answer.inner_text()
        assert (
            page.locator(".attune-chat .attune-you").first.inner_text() == "You: How long does delivery take?"
        )


def test_html_in_a_question_is_shown_as_text_and_never_run(app, settings, shop, page):  # noqa: F811
    planted = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>Can I pay with a cow?'
    with storefront(app, settings) as sf:
        page.goto(sf.url + STOVE)
        open_assistant(page)
        ask(page, planted)
        answer = page.locator(".attune-chat .attune-answer").first
        answer.wait_for(timeout=8000)
        assert answer.locator(".attune-escalated").count() == 1  # abstained: handed to a person
        assert page.locator(".attune-chat .attune-you").first.inner_text() == f"You: {planted}"
        assert page.locator(".attune-chat img, .attune-chat script").count() == 0
        assert page.evaluate("window.__pwned") is None
