"""The demo's moving parts, all real: the Flask app over HTTP, RQ workers, and the local fake Shopify.

With no ``REDIS_URL`` the queue is an in-process Redis (fakeredis), so the web app and the workers run as
threads of this one process; with ``REDIS_URL`` set they share that Redis like production processes do.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rq import Queue, SimpleWorker
from rq.job import Job
from rq.registry import StartedJobRegistry
from rq.timeouts import TimerDeathPenalty
from werkzeug.serving import WSGIRequestHandler, make_server

from app.config import DEV_API_KEY, DEV_API_SECRET, Settings, get_settings
from app.queue import QUEUES, get_redis
from app.shopify.fake import FakeShopify

log = logging.getLogger(__name__)


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class ThreadWorker(SimpleWorker):
    """An RQ worker that runs jobs in this process from a background thread (signals stay with main)."""

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self) -> None:
        pass


@dataclass
class DemoRuntime:
    workdir: Path
    port: int = 0
    workers: int = 2
    database_url: str | None = None
    redis_url: str | None = None
    settings: Settings | None = None
    fake: FakeShopify | None = None
    app_url: str = ""
    _threads: list[threading.Thread] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _server: Any = None
    job_failures: int = 0

    def start(self) -> DemoRuntime:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.database_url = self.database_url or os.environ.get("DATABASE_URL")
        if not self.database_url:
            db_file = self.workdir / "demo.sqlite3"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db_file}{suffix}").unlink(missing_ok=True)
            self.database_url = f"sqlite:///{db_file}"
        self.redis_url = self.redis_url or os.environ.get("REDIS_URL") or None
        server = make_server("127.0.0.1", self.port, self._wsgi, threaded=True, request_handler=_Quiet)
        self._server = server
        self.app_url = f"http://127.0.0.1:{server.server_port}"
        api_key = os.environ.get("SHOPIFY_API_KEY", DEV_API_KEY)
        api_secret = os.environ.get("SHOPIFY_API_SECRET", DEV_API_SECRET)
        self.fake = FakeShopify(api_key, api_secret, app_url=self.app_url, bulk_polls_until_done=1).start()
        env = {
            "ATTUNE_ENV": "development",
            "DATABASE_URL": self.database_url,
            "APP_URL": self.app_url,
            "SHOPIFY_API_KEY": api_key,
            "SHOPIFY_API_SECRET": api_secret,
            "SHOPIFY_ADMIN_ORIGIN_TEMPLATE": self.fake.origin_template,
            "ATTUNE_EMBEDDER": os.environ.get("ATTUNE_EMBEDDER", "minilm"),
        }
        os.environ.update(env)
        os.environ.pop("HOST", None)
        if self.redis_url:
            os.environ["REDIS_URL"] = self.redis_url
        else:
            os.environ.pop("REDIS_URL", None)
        get_settings.cache_clear()
        self.settings = get_settings()

        from app import create_app
        from app.migrate import upgrade

        upgrade(self.settings.database_url)
        self.flask_app = create_app(self.settings)
        if self.redis_url:
            get_redis(self.redis_url).flushdb()
        thread = threading.Thread(target=server.serve_forever, args=(0.1,), name="attune-web", daemon=True)
        thread.start()
        self._threads.append(thread)
        for i in range(self.workers):
            t = threading.Thread(target=self._work, name=f"attune-worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        t = threading.Thread(target=self._schedule, name="attune-retries", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.flask_app(environ, start_response)

    def _work(self) -> None:
        from app.worker import preload

        preload()
        redis = get_redis(self.redis_url)
        logging.getLogger("rq.worker").setLevel(logging.WARNING)
        while not self._stop.is_set():
            worker = ThreadWorker(list(QUEUES), connection=redis)
            try:
                worker.work(burst=True, logging_level="WARNING", with_scheduler=False)
            except Exception:  # noqa: BLE001 - a demo worker keeps going, like a supervised process
                log.exception("worker loop error")
            self._stop.wait(0.2)

    def _schedule(self) -> None:
        """Requeue due retries every half second, whether or not the workers are busy."""
        redis = get_redis(self.redis_url)
        while not self._stop.wait(0.5):
            try:
                self._enqueue_due_retries(redis)
            except Exception:  # noqa: BLE001 - keep scheduling, as a supervised scheduler process would
                log.exception("retry scheduling error")

    @staticmethod
    def _enqueue_due_retries(redis: Any) -> None:
        """Move retries (RQ ``Retry``) whose time has come back onto their queue, as RQ's scheduler does.

        RQ's own scheduler takes its locks with Lua, which the in-process Redis lacks."""
        for name in QUEUES:
            queue = Queue(name, connection=redis)
            registry = queue.scheduled_job_registry
            due = registry.get_jobs_to_schedule(int(time.time()))
            for job in Job.fetch_many(due, connection=redis):
                if job is not None:
                    registry.remove(job)
                    queue.enqueue_job(job)

    def queued(self, horizon_s: float = 45.0) -> int:
        """Jobs waiting, running, or retrying within ``horizon_s`` (a later retry is not waited for)."""
        redis = get_redis(self.redis_url)
        soon = int(time.time() + horizon_s)
        total = 0
        for name in QUEUES:
            q = Queue(name, connection=redis)
            total += q.count + len(StartedJobRegistry(queue=q))
            total += len(q.scheduled_job_registry.get_jobs_to_schedule(soon))
        return total

    def failed(self) -> int:
        redis = get_redis(self.redis_url)
        return sum(len(Queue(name, connection=redis).failed_job_registry) for name in QUEUES)

    def wait_idle(self, timeout: float = 600.0, settle: float = 0.6) -> bool:
        """Until every queue is empty and nothing is running (twice in a row)."""
        deadline = time.monotonic() + timeout
        quiet_since: float | None = None
        while time.monotonic() < deadline:
            if self.queued() == 0:
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= settle:
                    return True
            else:
                quiet_since = None
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self.fake is not None:
            self.fake.stop()
