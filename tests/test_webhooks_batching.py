"""Group commit and background enqueue: deliveries that share a commit still get one answer each, only
after the commit; a failing commit answers 503 to every waiter and stores nothing; duplicates inside one
batch are one row; the fast path answers exactly as the Flask route; a process that exits queues the jobs
it still holds; the sweeper queues rows whose job was never sent."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from datetime import timedelta

import pytest
from conftest import ROOT
from redis import Redis
from rq import Queue
from sqlalchemy import text
from sqlmodel import select
from webhook_support import DATA_WEBHOOKS, Gate, client_for, deliver, make_shop, run_jobs

from app import create_app
from app.models.commerce import Order
from app.models.inbox import DONE, PENDING, WebhookInbox
from webhooks.inbox_jobs import SWEEP_AFTER_S, UNQUEUED_AFTER_S, sweep_inbox
from webhooks.inbox_queue import QUEUED_KEY
from webhooks.ingest import _INVALID, _parse_json, flush_enqueues, writer_for

ORDER = (DATA_WEBHOOKS / "orders__create.json").read_bytes()


def _rows(session) -> list[WebhookInbox]:
    """The inbox as committed now; the session's transaction is ended (PostgreSQL DDL waits on it)."""
    session.expire_all()
    rows = list(session.exec(select(WebhookInbox).order_by(WebhookInbox.id)))
    session.expunge_all()
    session.rollback()
    return rows


def _in_one_batch(app, settings, monkeypatch, sends: list[dict]) -> list:
    """Deliver ``sends`` (keyword arguments of ``deliver``) from concurrent threads while the writer's
    gate is closed, so they are all waiting before it commits; returns the responses in order."""
    writer = writer_for(settings)
    gate = Gate()
    monkeypatch.setattr(writer, "before_batch", gate)
    responses: list = [None] * len(sends)

    def one(i: int) -> None:
        responses[i] = deliver(app.test_client(), **sends[i])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(sends))]
    before = writer.batches
    with gate.closed():
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while writer.waiting() < len(sends):
            assert time.monotonic() < deadline, "deliveries never reached the writer"
            assert all(r is None for r in responses), "answered before the commit"
            time.sleep(0.01)
        assert all(r is None for r in responses), "answered before the commit"
    for t in threads:
        t.join(30)
    committed = writer.batches - before
    assert committed <= 1, "the held deliveries were not committed together"
    return responses, committed


def test_concurrent_duplicates_in_one_batch_are_one_row_and_one_200_each(app, settings, session, monkeypatch):
    make_shop(session)
    sends = [dict(topic="orders/create", payload=ORDER, event_id="same-event")] * 6
    sends += [dict(topic="orders/create", payload=ORDER, event_id=f"other-{i}") for i in range(3)]
    responses, commits = _in_one_batch(app, settings, monkeypatch, sends)
    assert commits == 1
    assert [r.status_code for r in responses] == [200] * 9
    same = [r.json["status"] for r in responses[:6]]
    assert sorted(same) == ["accepted"] + ["duplicate"] * 5
    assert [r.json["status"] for r in responses[6:]] == ["accepted"] * 3
    rows = _rows(session)
    assert sorted(r.event_id for r in rows) == ["other-0", "other-1", "other-2", "same-event"]
    accepted_ids = {r.json["id"] for r in responses if r.json["status"] == "accepted"}
    assert accepted_ids == {r.id for r in rows}


@pytest.mark.usefixtures("jobs_env")
def test_a_batch_mixing_stored_new_and_dropped_events(app, settings, session, monkeypatch):
    make_shop(session)
    assert deliver(app.test_client(), "orders/create", ORDER, event_id="stored").json["status"] == "accepted"
    responses, commits = _in_one_batch(
        app,
        settings,
        monkeypatch,
        [
            dict(topic="orders/create", payload=ORDER, event_id="stored"),
            dict(topic="orders/create", payload=ORDER, event_id="new"),
            dict(topic="orders/create", payload=ORDER, event_id="x", shop="nobody.myshopify.com"),
        ],
    )
    assert commits == 1
    assert [r.json["status"] for r in responses] == ["duplicate", "accepted", "dropped"]
    assert responses[2].json["reason"] == "unknown shop"
    assert len(_rows(session)) == 3
    run_jobs(settings.redis_url)
    assert [r.status for r in _rows(session) if r.event_id != "x"] == [DONE, DONE]
    assert len(session.exec(select(Order)).all()) == 1  # the same order twice: one order


@contextmanager
def _poisoned(session, event_id: str):
    """A trigger that makes any transaction inserting ``event_id`` fail: a real failing commit."""
    engine = session.get_bind()
    session.rollback()  # an open transaction of the test's session would block the DDL on PostgreSQL
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(
                text(
                    "CREATE TRIGGER poison BEFORE INSERT ON webhook_inbox "
                    f"WHEN NEW.event_id = '{event_id}' BEGIN SELECT RAISE(ABORT, 'poisoned'); END"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN "
                    f"IF NEW.event_id = '{event_id}' THEN RAISE EXCEPTION 'poisoned'; END IF; "
                    "RETURN NEW; END $$ LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER poison BEFORE INSERT ON webhook_inbox "
                    "FOR EACH ROW EXECUTE FUNCTION poison()"
                )
            )
    try:
        yield
    finally:
        session.rollback()
        with engine.begin() as conn:
            if engine.dialect.name == "sqlite":
                conn.execute(text("DROP TRIGGER IF EXISTS poison"))
            else:
                conn.execute(text("DROP TRIGGER IF EXISTS poison ON webhook_inbox"))
                conn.execute(text("DROP FUNCTION IF EXISTS poison()"))


@pytest.mark.usefixtures("jobs_env")
def test_a_failing_commit_is_503_for_every_waiter_and_loses_nothing(app, settings, session, monkeypatch):
    make_shop(session)
    sends = [dict(topic="orders/create", payload=ORDER, event_id=f"evt-{i}") for i in range(4)]
    sends.append(dict(topic="orders/create", payload=ORDER, event_id="poison"))
    with _poisoned(session, "poison"):
        responses, commits = _in_one_batch(app, settings, monkeypatch, sends)
        assert commits == 0
        assert [r.status_code for r in responses] == [503] * 5
        assert {r.json["error"] for r in responses} == {"unavailable"}
        assert _rows(session) == []  # no 200 was sent, and nothing was half-stored
        # The writer keeps working: the next delivery commits on its own.
        assert deliver(app.test_client(), "orders/create", ORDER, event_id="after").status_code == 200
    # Shopify retries what did not get a 200: every event arrives once.
    retried = [deliver(app.test_client(), **s) for s in sends]
    assert [r.json["status"] for r in retried] == ["accepted"] * 5
    assert sorted(r.event_id for r in _rows(session)) == sorted(
        ["after", "poison"] + [f"evt-{i}" for i in range(4)]
    )
    run_jobs(settings.redis_url)
    assert {r.status for r in _rows(session)} == {DONE}


CASES = {
    "accepted": dict(topic="orders/create", payload=ORDER),
    "dropped": dict(topic="orders/create", payload=ORDER, shop="nobody.myshopify.com"),
    "undeclared topic": dict(topic="app_subscriptions/update", payload=b'{"a": 1}'),
    "bad hmac": dict(topic="orders/create", payload=ORDER, secret="wrong"),
    "no hmac": dict(topic="orders/create", payload=ORDER, headers={"X-Shopify-Hmac-Sha256": None}),
    "no topic": dict(topic="orders/create", payload=ORDER, headers={"X-Shopify-Topic": None}),
    "no ids": dict(
        topic="orders/create",
        payload=ORDER,
        headers={"X-Shopify-Event-Id": None, "X-Shopify-Webhook-Id": None},
    ),
    "long topic": dict(topic="x" * 200, payload=ORDER),
    "bad shop": dict(topic="orders/create", payload=ORDER, shop="evil.example.com"),
    "not json": dict(topic="orders/create", payload=b"{not json"),
    "not an object": dict(topic="orders/create", payload=b"[1, 2]"),
    "empty": dict(topic="orders/create", payload=b""),
    "not utf-8": dict(topic="orders/create", payload=b"\xff\xfe"),
    "oversized": dict(topic="orders/create", payload=b'{"pad": "' + b"x" * 3000 + b'"}'),
}


@pytest.mark.parametrize("case", list(CASES))
def test_fast_path_answers_byte_for_byte_as_the_flask_route(settings, session, case):
    make_shop(session)
    cfg = settings.model_copy(update={"webhook_max_body_bytes": 2000})
    answers = []
    for path in ("fast", "flask"):
        r = deliver(client_for(create_app(cfg), path), event_id=f"{case}-{path}", **CASES[case])
        body = r.get_data()
        if r.status_code == 200 and r.json.get("id"):
            body = body.replace(str(r.json["id"]).encode(), b"<id>")
        answers.append((r.status, sorted(r.headers.items()), body))
    assert answers[0] == answers[1]


def test_database_down_is_the_same_503_on_both_paths(settings):
    cfg = settings.model_copy(update={"database_url": "postgresql+psycopg://attune@127.0.0.1:1/attune"})
    answers = []
    for path in ("fast", "flask"):
        r = deliver(client_for(create_app(cfg), path), "orders/create", ORDER)
        answers.append((r.status, sorted(r.headers.items()), r.get_data()))
    assert answers[0] == answers[1] and answers[0][0] == "503 SERVICE UNAVAILABLE"


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": 1e400}',
        b'{"a": NaN, "b": Infinity}',
        b'{"a": 123456789012345678901234567890}',
        '{"a": 1}'.encode("utf-16"),
        b'{"a": "\\ud800"}',
        b'{"a": 1, "a": 2}',
        b' {"a": [1, {"b": null}]} \n',
        b'{"a": 1} x',
        b'{"a": 1,}',
        b"\xef\xbb\xbf{}",
        b'{"a": "\xc3\x28"}',
    ],
)
def test_json_check_accepts_exactly_what_json_loads_accepts(body):
    try:
        json.loads(body)
        accepted = True
    except ValueError:
        accepted = False
    assert (_parse_json(body) is not _INVALID) == accepted


EXITING = """
import sys
from webhooks.ingest import enqueuer_for
enqueuer = enqueuer_for(sys.argv[1])
enqueuer.linger = 3600  # the background thread would not send before exit: only the exit flush can
enqueuer.submit([(int(i), None) for i in sys.argv[2:]])
"""


def test_a_process_that_exits_queues_the_jobs_it_still_holds(settings):
    ids = ["101", "102", "103"]
    subprocess.run(
        [sys.executable, "-c", EXITING, settings.redis_url, *ids], cwd=ROOT, check=True, timeout=60
    )
    queue = Queue("webhooks", connection=Redis.from_url(settings.redis_url))
    assert sorted(i for job in queue.jobs for i in job.args[0]) == [101, 102, 103]
    assert Redis.from_url(settings.redis_url).zscore(QUEUED_KEY, "102") is not None


@pytest.mark.usefixtures("jobs_env")
def test_sweeper_queues_rows_whose_job_was_never_sent_and_leaves_queued_ones(settings, app, session):
    make_shop(session)
    down = create_app(settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}))
    assert deliver(down.test_client(), "orders/create", ORDER, event_id="never-queued").status_code == 200
    assert deliver(app.test_client(), "orders/create", ORDER, event_id="queued").status_code == 200
    assert flush_enqueues()
    queue = Queue("webhooks", connection=Redis.from_url(settings.redis_url))
    assert sum(len(job.args[0]) for job in queue.jobs) == 1
    # Past the unqueued window, not the plain one: only the row without a job is queued; the queued one
    # waits its turn.
    unqueued = max(r.received_at for r in _rows(session)) + timedelta(seconds=UNQUEUED_AFTER_S + 1)
    assert sweep_inbox(now=unqueued) == 1
    assert sum(len(job.args[0]) for job in queue.jobs) == 2
    run_jobs(settings.redis_url)
    assert [r.status for r in _rows(session)] == [DONE, DONE]
    assert sweep_inbox(now=unqueued + timedelta(seconds=SWEEP_AFTER_S)) == 0  # nothing pending is left
    assert PENDING not in {r.status for r in _rows(session)}
