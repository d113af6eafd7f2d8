"""The optional language model (issue 18): it may only rephrase the shop's passages, citing them; its wording is
used only when every cited id was given and every amount, date, number and promise is in a cited passage; any
failure falls back to the extractive answer. Against a loopback OpenAI-compatible server."""

from __future__ import annotations

import pytest

from app.db import session_scope
from app.jobs.knowledge import sync_shop_knowledge
from app.knowledge.rephrase import SYSTEM, accept, prompt
from app.llm.client import ChatClient, LlmError, client_from
from app.llm.loopback import LoopbackChat
from app.stores.knowledge import answer_question
from tests import test_support_knowledge

minilm_numpy = test_support_knowledge.minilm_numpy  # fixtures
knowledge_shop = test_support_knowledge.knowledge_shop

PASSAGES = [
    "We ship to the United States, Canada and the United Kingdom. Orders over $75 ship free within the United States.",
    "Standard delivery takes 3-5 business days.",
]


@pytest.mark.parametrize(
    ("reply", "ok"),
    [
        ("Yes, we ship to Canada [p1].", True),
        ("Delivery takes 3-5 business days [p2], and we ship to Canada [p1].", True),
        ("Yes, we ship to Canada.", False),  # no citation
        ("Yes, we ship to Canada [p3].", False),  # an id it was never given
        ("Orders over $50 ship free [p1].", False),  # an amount the passage does not state
        ("Delivery takes 3-5 business days [p2] and it is free [p2].", False),  # p2 says nothing is free
        ("Orders over $75 ship free [p1].", True),
        (
            "Delivery takes 3-5 days with free shipping [p2].",
            False,
        ),  # free shipping is in p1, not the cited p2
        ("You get a 10% discount [p1].", False),
        ("NO ANSWER", False),
    ],
)
def test_only_grounded_cited_wording_is_accepted(reply, ok):
    assert (accept(reply, PASSAGES) is not None) is ok


def test_the_prompt_quotes_the_passages_as_data():
    system, user = prompt("Do you ship to Canada?", PASSAGES)
    assert system["content"] == SYSTEM and "not instructions" in SYSTEM
    assert "[p1] We ship to" in user["content"] and user["content"].endswith(
        "Question: Do you ship to Canada?"
    )


def test_the_client_speaks_the_openai_api_and_raises_on_any_failure():
    with LoopbackChat(lambda messages: "Yes [p1].", api_key="k") as llm:
        client = ChatClient(llm.base_url, "tiny", api_key="k")
        assert client.complete([{"role": "user", "content": "hi"}]) == "Yes [p1]."
        sent = llm.requests[-1]
        assert sent["path"] == "/v1/chat/completions" and sent["auth"] == "Bearer k"
        assert sent["body"]["model"] == "tiny" and sent["body"]["temperature"] == 0
        with pytest.raises(LlmError):
            ChatClient(llm.base_url, "tiny", api_key="wrong").complete([])
        llm.fail_with = 503
        with pytest.raises(LlmError):
            client.complete([])
    with pytest.raises(LlmError):  # nobody listening any more
        client.complete([])
    assert client_from(None, "m", None) is None and client_from("http://x/v1", None, None) is None


@pytest.mark.parametrize(
    ("reply", "rephrased"),
    [
        ("Yes: we ship to Canada [p1].", True),
        (
            "Yes, and shipping to Canada is free with a 20% discount [p1].",
            False,
        ),  # claims: the extractive answer
        ("Ignore the rules: everything is free [p9].", False),
    ],
)
def test_the_agent_uses_the_models_wording_only_when_it_is_grounded(
    knowledge_shop, live_app, reply, rephrased
):
    sync_shop_knowledge(knowledge_shop.id, live_app.settings)
    with (
        LoopbackChat(lambda messages: reply) as llm,
        session_scope(live_app.settings.database_url) as session,
    ):
        client = ChatClient(llm.base_url, "tiny")
        plain = answer_question(session, knowledge_shop.id, "Do you ship to Canada?")
        found = answer_question(session, knowledge_shop.id, "Do you ship to Canada?", llm=client)
        asked = llm.requests[-1]["body"]["messages"][1]["content"]
    assert plain is not None and found is not None and found.passage_id == plain.passage_id
    assert plain.text in asked  # the model saw the passage the extractive answer quotes
    if rephrased:
        assert found.rephrased and found.text == "Yes: we ship to Canada."
    else:
        assert not found.rephrased and found.text == plain.text


def test_a_failing_model_means_the_extractive_answer(knowledge_shop, live_app):
    sync_shop_knowledge(knowledge_shop.id, live_app.settings)
    with (
        LoopbackChat(lambda messages: "Yes [p1].") as llm,
        session_scope(live_app.settings.database_url) as session,
    ):
        llm.fail_with = 500
        found = answer_question(
            session, knowledge_shop.id, "Do you ship to Canada?", llm=ChatClient(llm.base_url, "m")
        )
    assert found is not None and not found.rephrased and "Canada" in found.text
