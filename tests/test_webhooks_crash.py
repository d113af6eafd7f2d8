"""A real RQ worker SIGKILLed mid-job: after the sweep and retry the event is applied exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import ROOT
from sqlmodel import select
from webhook_support import DATA_WEBHOOKS, deliver, make_shop, run_jobs

from app.models.commerce import Order, OrderLine
from app.models.inbox import DONE, PENDING, WebhookInbox
from webhooks.inbox_jobs import SWEEP_AFTER_S, sweep_inbox

# A real RQ worker whose jobs stop after the handler ran, before the commit: the hook writes the pid of
# the process running the job (RQ's work horse) to the marker file, then sleeps until it is killed.
WORKER = """
import os, sys, time
from pathlib import Path
from redis import Redis
from rq import Worker
from webhooks import inbox_jobs

def pause(row):
    marker = Path(sys.argv[2])
    staged = Path(f"{marker}.{os.getpid()}.tmp")  # written whole, then renamed: never seen empty
    staged.write_text(str(os.getpid()))
    staged.replace(marker)
    time.sleep(120)

inbox_jobs.before_commit = pause
Worker(["webhooks"], connection=Redis.from_url(sys.argv[1])).work(burst=True)
"""


def _pid_in(marker: Path) -> int | None:
    """The pid the paused job wrote, or None until the marker holds a whole one."""
    try:
        text = marker.read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


@pytest.mark.usefixtures("jobs_env")
def test_worker_killed_mid_job_applies_the_event_exactly_once(settings, client, session, tmp_path):
    make_shop(session)
    body = (DATA_WEBHOOKS / "orders__create.json").read_bytes()
    assert deliver(client, "orders/create", body, event_id="crash-1").json["status"] == "accepted"

    marker = tmp_path / "paused"
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER, settings.redis_url, str(marker)],
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    horse = None
    try:
        for _ in range(600):  # the handler ran; the job now sleeps before its commit
            horse = _pid_in(marker)
            if horse is not None or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert horse is not None, "the job never reached its before_commit hook"
    finally:
        # The worker and its work horse (RQ puts the horse in its own process group), as a lost machine.
        if horse is not None:
            os.kill(horse, signal.SIGKILL)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    session.expire_all()
    row = session.exec(select(WebhookInbox)).one()
    assert row.status == PENDING  # nothing of the half-done job survived
    assert session.exec(select(Order)).all() == []

    # Its job was queued (and lost with the worker): the sweeper queues it again once it is overdue.
    overdue = row.received_at + timedelta(seconds=SWEEP_AFTER_S + 1)
    assert sweep_inbox(now=overdue - timedelta(seconds=SWEEP_AFTER_S // 2)) == 0
    assert sweep_inbox(now=overdue) == 1
    run_jobs(settings.redis_url)
    assert sweep_inbox(now=overdue) == 0  # a second sweep after success enqueues nothing
    run_jobs(settings.redis_url)
    session.expire_all()
    row = session.exec(select(WebhookInbox)).one()
    assert (row.status, row.attempts) == (DONE, 1)
    assert len(session.exec(select(Order)).all()) == 1
    assert sorted(ln.quantity for ln in session.exec(select(OrderLine))) == [1, 2]
