"""Worker and cron entry points (Procfile ``worker`` and ``cron``)."""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Sequence
from typing import Any

from rq import SimpleWorker, Worker
from rq.cron import CronScheduler

from app import tasks
from app.config import Settings
from app.observability import JOB_ID, configure_logging, record_job
from app.queue import get_redis

log = logging.getLogger(__name__)

# Periodic jobs: (dotted function path, queue, interval seconds, cron expression or None).
PERIODIC_JOBS: list[tuple[str, str, int | None, str | None]] = [
    (tasks.SWEEP_INBOX, "default", 60, None),
    (tasks.SWEEP_PIXEL_EVENTS, "low", 60, None),
    (tasks.SWEEP_OUTBOX, "default", 30, None),
    (tasks.RUN_ALL_BROWSE_ABANDONMENT, "low", None, "12 * * * *"),
    (tasks.RUN_ALL_RESCUE, "low", None, "*/10 * * * *"),
    (tasks.RUN_ALL_LATE_ORDERS, "low", None, "23 * * * *"),
    (tasks.SWEEP_BACK_IN_STOCK, "default", None, "41 * * * *"),
    (tasks.SETTLE_ALL_OFFERS, "low", None, "30 3 * * *"),
    (tasks.REFRESH_ALL_COMPETITOR_FEEDS, "low", None, "43 5 * * *"),
    (tasks.SWEEP_WRITEBACKS, "default", 60, None),
    (tasks.SYNC_ALL_METAFIELDS, "low", None, "37 * * * *"),
    (tasks.RECONCILE_ALL_SHOPS, "low", None, "17 3 * * *"),
    (tasks.FLUSH_SERVED_LOG, "low", 15, None),
    (tasks.TRAIN_ALL_RANKERS, "low", None, "27 3 * * *"),
    (tasks.FIT_ALL_SHOPS, "low", None, "47 3 * * *"),
    (tasks.INFER_ALL_INTERESTS, "low", None, "7 4 * * *"),
    (tasks.FORECAST_ALL_REPLENISHMENT, "low", None, "37 4 * * *"),
    (tasks.RUN_ALL_JOURNEYS, "low", None, "57 4 * * *"),
    (tasks.CONTINUE_CAMPAIGNS, "low", None, "5 9 * * *"),
    (tasks.FORECAST_ALL_INVENTORY, "low", None, "57 4 * * *"),
    (tasks.SYNC_ALL_KNOWLEDGE, "low", None, "27 4 * * *"),
    (tasks.FIT_ALL_NUDGE_RISK, "low", None, "57 4 * * *"),
    (tasks.PERSIST_LIVE_SESSIONS, "low", 60, None),
    (tasks.SWEEP_NUDGE_OFFERS, "low", 60, None),
    (tasks.SEND_ALL_DIGESTS, "low", None, "0 7 * * 1"),
]

# Heavy resources a worker loads once per process, before its first job.
PRELOADS: list[str] = [
    "app.config.get_settings",  # cached: each forked work horse inherits it instead of reading the environment
    "app.embedding.preload",
    "app.profiles.derived.preload",
    "app.channels.email_render.preload",
    "app.channels.sms.preload",
    "sqlalchemy.orm.configure_mappers",  # once, not on each horse's first query
]


def preload() -> None:
    for path in PRELOADS:
        module_name, func_name = path.rsplit(".", 1)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        getattr(module, func_name)()


def import_jobs() -> None:
    """Import every job's module in the worker itself. ``rq.Worker`` runs each job in a work horse forked from
    this process: a module imported here is inherited, one that is not is imported again by every horse (for the
    outbox relay, its channels, templates and SDKs: about half a second per job)."""
    for module_name in tasks.job_modules():
        importlib.import_module(module_name)


class _Observed:
    """Each job's id in the JSON logs, and its outcome and run time in the metrics (``app.observability``)."""

    def perform_job(self, job: Any, *args: Any, **kwargs: Any) -> bool:
        token = JOB_ID.set(job.id)
        start = time.monotonic()
        ok = False
        try:
            ok = super().perform_job(job, *args, **kwargs)  # type: ignore[misc]
            return ok
        finally:
            record_job(job.func_name, ok, time.monotonic() - start)
            JOB_ID.reset(token)


class ObservedWorker(_Observed, Worker):
    pass


class ObservedSimpleWorker(_Observed, SimpleWorker):
    pass


def run_worker(settings: Settings, queues: Sequence[str], *, burst: bool = False, fork: bool = True) -> None:
    """An RQ worker on ``queues``. ``fork=False`` runs each job in this process (``rq.SimpleWorker``): the
    fast lane's jobs (webhooks, one customer's profile and lists, a message) take milliseconds, and a work
    horse forked per job costs 60-80 ms on these machines, more than the job (benchmarks/outbox.md); the
    slow lane (training, shop-wide rebuilds) keeps a horse per job, so a long job's memory goes with it."""
    configure_logging(settings.attune_log_format)
    import_jobs()  # first: the preloads below (the mappers) need every model imported
    preload()
    worker_class = ObservedWorker if fork else ObservedSimpleWorker
    worker = worker_class(list(queues), connection=get_redis(settings.redis_url))
    worker.work(burst=burst, with_scheduler=True)


def build_cron(settings: Settings) -> CronScheduler:
    scheduler = CronScheduler(connection=get_redis(settings.redis_url))
    for func_path, queue, interval, cron in PERIODIC_JOBS:
        module_name, func_name = func_path.rsplit(".", 1)
        try:
            func = getattr(importlib.import_module(module_name), func_name)
        except (ModuleNotFoundError, AttributeError):
            log.warning("periodic job %s is not available; skipped", func_path)
            continue
        scheduler.register(func, queue_name=queue, interval=interval, cron=cron)
    return scheduler


def run_cron(settings: Settings) -> None:
    configure_logging(settings.attune_log_format)
    build_cron(settings).start()
