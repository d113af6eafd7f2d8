"""The topics declared in shopify.app.toml, ``webhooks.topics`` and the handler table are the same set;
the table holds the handler functions themselves; the web process imports no handler."""

from __future__ import annotations

import importlib
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import ROOT
from rq.utils import import_attribute

from app.worker import PERIODIC_JOBS
from webhooks.handlers import HANDLERS, resolve
from webhooks.inbox_jobs import process_inbox_batch
from webhooks.inbox_queue import PROCESS_BATCH
from webhooks.topics import COMPLIANCE_TOPICS, TOPICS

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


def test_the_handler_table_covers_exactly_the_topics_the_web_process_accepts():
    assert set(HANDLERS) == TOPICS
    assert COMPLIANCE_TOPICS <= TOPICS


def test_every_handler_is_a_function_of_a_handler_module():
    for topic, handler in HANDLERS.items():
        assert callable(handler), topic
        assert handler.__module__.startswith("webhooks.handlers."), topic
        module = importlib.import_module(handler.__module__)
        assert getattr(module, handler.__name__) is handler, topic
        assert resolve(topic) is handler


def test_an_unknown_topic_has_no_handler():
    with pytest.raises(KeyError):
        resolve("no/such-topic")


WEB_IMPORTS = """
import sys
from app import create_app
create_app()
print(" ".join(sorted(m for m in sys.modules if m.startswith("webhooks"))))
"""


@pytest.mark.usefixtures("jobs_env")
def test_the_web_process_imports_no_handler_and_not_the_worker_jobs():
    out = subprocess.run(
        [sys.executable, "-c", WEB_IMPORTS], cwd=ROOT, check=True, capture_output=True, text=True, timeout=120
    ).stdout.split()
    assert "webhooks.ingest" in out and "webhooks.topics" in out  # the web app was built
    assert [m for m in out if m.startswith("webhooks.handlers") or m == "webhooks.inbox_jobs"] == []


def test_periodic_jobs_of_this_pipeline_exist():
    paths = {path for path, *_ in PERIODIC_JOBS}
    for path in ("webhooks.inbox_jobs.sweep_inbox", "app.jobs.sync.reconcile_all_shops"):
        assert path in paths
        module, func = path.rsplit(".", 1)
        assert callable(getattr(importlib.import_module(module), func))


def test_the_queued_job_name_is_the_batch_job():
    assert import_attribute(PROCESS_BATCH) is process_inbox_batch
