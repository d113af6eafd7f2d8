"""The topics declared in shopify.app.toml and the handler registry are the same set."""

from __future__ import annotations

import tomllib
from pathlib import Path

from webhooks.handlers import COMPLIANCE_TOPICS, HANDLERS, resolve

TOML = Path(__file__).resolve().parent.parent / "shopify.app.toml"


def _declared() -> tuple[set[str], set[str]]:
    config = tomllib.loads(TOML.read_text())
    topics, compliance = set(), set()
    for sub in config["webhooks"]["subscriptions"]:
        assert sub["uri"] == "/webhooks"
        topics |= set(sub.get("topics", []))
        compliance |= set(sub.get("compliance_topics", []))
    return topics, compliance


def test_every_declared_topic_has_a_handler_and_every_handler_is_declared():
    topics, compliance = _declared()
    declared = topics | compliance
    assert sorted(declared - set(HANDLERS)) == [], "declared topics without a handler"
    assert sorted(set(HANDLERS) - declared) == [], (
        "handlers for topics shopify.app.toml does not subscribe to"
    )
    assert compliance == COMPLIANCE_TOPICS


def test_every_handler_resolves_to_a_function():
    for topic in HANDLERS:
        assert callable(resolve(topic)), topic


def test_periodic_jobs_of_this_pipeline_exist():
    import importlib

    from app.worker import PERIODIC_JOBS

    paths = {path for path, *_ in PERIODIC_JOBS}
    for path in ("webhooks.inbox_jobs.sweep_inbox", "app.jobs.sync.reconcile_all_shops"):
        assert path in paths
        module, func = path.rsplit(".", 1)
        assert callable(getattr(importlib.import_module(module), func))


def test_the_queued_job_name_is_the_batch_job():
    from rq.utils import import_attribute

    from webhooks.inbox_jobs import process_inbox_batch
    from webhooks.inbox_queue import PROCESS_BATCH

    assert import_attribute(PROCESS_BATCH) is process_inbox_batch
