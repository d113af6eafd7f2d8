"""Questions shoppers ask about a product, offered before they ask (issue 18): candidates from the product's
description and variants, what shoppers asked on its page, and the shop-wide ones; only those the shop's
knowledge answers are offered, through the app proxy."""

from __future__ import annotations

from app.db import session_scope
from app.jobs.knowledge import sync_shop_knowledge
from app.knowledge.product_questions import SHOP_WIDE, candidates
from app.models.feedback import SupportMessage
from app.stores.product_questions import product_questions
from tests import test_support_knowledge
from tests.test_support import signed

minilm_numpy = test_support_knowledge.minilm_numpy  # fixtures
knowledge_shop = test_support_knowledge.knowledge_shop


def test_candidates_come_from_what_was_asked_the_text_and_the_variants():
    got = candidates(
        "A waterproof shell in merino wool. Machine washable; 450 g.",
        ["S / Blue", "M / Blue", "L / Blue"],
        asked_before=["Does it have a hood?", "does it have a hood?"],
    )
    assert got[:2] == ["Does it have a hood?", "What sizes does it come in?"]
    assert {
        "Is it waterproof?",
        "What is it made of?",
        "How do I care for it?",
        "How much does it weigh?",
    } <= set(got)
    assert got[-2:] == list(SHOP_WIDE) and len(got) == len({q.lower() for q in got})
    assert candidates(None, ["Default Title"]) == list(SHOP_WIDE)


def test_only_answered_questions_are_offered_and_past_questions_come_first(knowledge_shop, live_app):
    cfg = live_app.settings
    sync_shop_knowledge(knowledge_shop.id, cfg)
    with session_scope(cfg.database_url) as s:
        for n in range(2):  # shoppers asked on the jacket's page before
            s.add(SupportMessage(shop_id=knowledge_shop.id, conversation=f"c{n}", client_id=f"x{n}", role="shopper",
                                 text="Is the Alpine jacket waterproof?", product_shopify_id=7))  # fmt: skip
    with session_scope(cfg.database_url) as s:
        offered = product_questions(s, knowledge_shop.id, 7)
        assert product_questions(s, knowledge_shop.id, 999) == []  # not a product of this shop
    questions = [q["question"] for q in offered]
    assert (
        questions[0] == "Is the Alpine jacket waterproof?"
    )  # asked before, and the template's twin is not repeated
    assert "How long does delivery take?" in questions and len(questions) <= 4
    assert all(q["source"] for q in offered)

    client = live_app.client()
    shop = knowledge_shop.domain
    r = client.get(signed("/product-questions", {"product_id": "7"}, shop=shop))
    assert r.status_code == 200 and [q["question"] for q in r.json["questions"]] == questions
    assert "public" in r.headers["Cache-Control"]
    assert client.get(signed("/product-questions", shop=shop)).status_code == 400
    assert client.get(signed("/product-questions", {"product_id": "x"}, shop=shop)).status_code == 400
    assert client.get(f"/proxy/product-questions?product_id=7&shop={shop}").status_code == 401
