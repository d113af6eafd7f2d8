"""``app.tasks``: every job name resolves to a job function, no other module spells a job's dotted name, and
a web process that serves every route has loaded no job module (requests can only queue work by name)."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import re
import subprocess
import sys

import pytest

from app import tasks
from tests.conftest import ROOT

JOB_NAME = re.compile(r"^(app\.jobs|webhooks\.inbox_jobs)\.[a-z_]+\.?[a-z_]*$")
NAMES = {k: v for k, v in vars(tasks).items() if k.isupper() and isinstance(v, str) and JOB_NAME.match(v)}


def test_the_registry_names_the_jobs():
    assert len(NAMES) >= 19
    assert len(set(NAMES.values())) == len(NAMES), "two names for one job"


@pytest.mark.parametrize("name", sorted(NAMES))
def test_every_job_name_resolves_to_a_job_function(name):
    module_name, func_name = NAMES[name].rsplit(".", 1)
    func = getattr(importlib.import_module(module_name), func_name)
    assert inspect.isfunction(func) and func.__module__ == module_name
    # ids in: what a job needs is a plain value RQ can pickle, not a session or a client
    for param in inspect.signature(func).parameters.values():
        if param.default is inspect.Parameter.empty:
            assert param.name not in ("session", "client", "engine"), f"{NAMES[name]} needs {param.name}"


def _string_constants(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def test_no_other_module_spells_a_job_name():
    offenders = []
    for path in [*(ROOT / "app").rglob("*.py"), *(ROOT / "webhooks").rglob("*.py")]:
        if path == ROOT / "app" / "tasks.py":
            continue
        offenders += [f"{path.relative_to(ROOT)}: {s}" for s in _string_constants(path) if JOB_NAME.match(s)]
    assert offenders == []


def test_a_web_process_loads_no_job_code():
    """Build the app and serve a request on every blueprint's first route: no job module or handler is loaded."""
    script = """
import json, sys
from app import create_app
from app.config import load_settings
app = create_app(load_settings(attune_env="test", shopify_api_key="k", shopify_api_secret="s" * 32,
                               database_url="sqlite://", redis_url="redis://127.0.0.1:6379/15",
                               attune_encryption_key="Sl3qZqVn6yX8wq2kU1o9YlH6i3b7o1m0uE4b5c8d9fA=",
                               app_url="https://attune.test"))
client = app.test_client()
for rule in app.url_map.iter_rules():
    if "GET" in rule.methods and not rule.arguments:
        client.get(rule.rule)
client.post("/webhooks", data=b"{}")
loaded = sorted(m for m in sys.modules if m.startswith(("app.jobs", "webhooks.handlers", "webhooks.inbox_jobs")))
print(json.dumps({"loaded": loaded, "blueprints": sorted(app.blueprints)}))
"""
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["loaded"] == []
    assert len(result["blueprints"]) >= 10


def test_the_procfile_serves_every_queue_and_keeps_customer_refreshes_off_the_slow_lane():
    """Freshness: a new order's list refresh (O(that customer)) is queued where no shop-wide training or list
    rebuild can hold it up; every queue has a worker."""
    from app.bench.stack import procfile_workers
    from app.queue import QUEUES

    lanes = [args[args.index("--queues") + 1].split(",") for args in procfile_workers()]
    assert {q for lane in lanes for q in lane} == set(QUEUES)
    fast = [lane for lane in lanes if "low" not in lane]
    assert fast and all(lane[0] != "low" for lane in fast)
    source = (ROOT / "app" / "tasks.py").read_text()
    block = source[source.index("def queue_customer_refresh(") :]
    block = block[block.index("REFRESH_CUSTOMERS, shop_id") :][:200]  # the batched customer refresh
    queue = block.split('queue="', 1)[1].split('"', 1)[0]
    assert queue in fast[0] and queue != "low"
    assert 'TRAIN_RANKER, shop_id, queue="low"' in source  # training stays on the slow lane
    workers = procfile_workers()
    assert all(
        ("--no-fork" in args) == ("low" not in lane) for args, lane in zip(workers, lanes, strict=True)
    )


@pytest.mark.parametrize("fork", [False, True])
def test_the_fast_lane_runs_jobs_in_its_own_process_and_the_slow_lane_forks(jobs_env, fork):
    """``attune worker --no-fork`` (the Procfile's fast lane) runs each job in the worker's process: no work
    horse to fork per short job. The slow lane's worker forks one per job."""
    import os

    from redis import Redis
    from rq import Queue

    from app.worker import run_worker

    job = Queue("default", connection=Redis.from_url(jobs_env.redis_url)).enqueue(os.getpid)
    run_worker(jobs_env, ["default"], burst=True, fork=fork)
    job.refresh()
    assert job.get_status() == "finished"
    assert (job.return_value() == os.getpid()) is not fork


def test_a_worker_imports_every_job_module_before_its_first_job():
    """``rq.Worker`` forks a work horse per job: a job module the worker has not imported is imported again by
    every horse, so the worker imports them all at start."""
    assert set(tasks.job_modules()) == {name.rsplit(".", 1)[0] for name in NAMES.values()}
    script = """
import json, sys
from app import tasks
before = [m for m in tasks.job_modules() if m in sys.modules]
from app.worker import import_jobs
import_jobs()
print(json.dumps({"before": before, "missing": [m for m in tasks.job_modules() if m not in sys.modules]}))
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded == {"before": [], "missing": []}


def test_whole_shop_jobs_may_run_for_hours_and_the_rest_keep_rqs_default(jobs_env):
    """A big shop's install backfill or training takes minutes: the low queue's jobs get two hours (RQ's default
    180 s killed the full Online Retail II's initial sync and retried it from the start, forever)."""
    from redis import Redis
    from rq import Queue

    from app.queue import enqueue

    enqueue(jobs_env.redis_url, tasks.INITIAL_SYNC, 1, queue="low", job_id="sync-timeout-probe")
    enqueue(jobs_env.redis_url, tasks.REFRESH_CUSTOMER_LISTS, 1, 2, queue="default", job_id="refresh-probe")
    redis = Redis.from_url(jobs_env.redis_url)
    assert Queue("low", connection=redis).fetch_job("sync-timeout-probe").timeout == 2 * 3600
    assert Queue("default", connection=redis).fetch_job("refresh-probe").timeout == 180
