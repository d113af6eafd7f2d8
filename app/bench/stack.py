"""The production process layout on loopback, for the end-to-end benches (freshness, backfill).

Each part is a process of its own, as the Procfile runs them: gunicorn with ``app.gunicorn_conf`` (``web``),
``attune worker`` RQ workers (``worker``, the fast lane: webhooks and default; ``worker_low``: low first, then
the rest) and ``attune cron`` (``cron``), with a private ``redis-server`` and a migrated database (a SQLite file unless ``DATABASE_URL`` names another). The
fake Shopify runs in this process. ``ProcessStack`` is a ``DemoRuntime`` in everything the demo's replay
helpers use (``app_url``, ``fake``, ``settings``, ``redis_url``, ``wait_idle``, ``queued``, ``failed``), so the
benches install, backfill and deliver webhooks through the same code as ``attune demo``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from app.bench.servers import children, free_port, private_redis, serve_gunicorn, wait_until_settled
from app.config import DEV_API_KEY, DEV_API_SECRET, get_settings
from app.demo.runtime import DemoRuntime
from app.migrate import upgrade
from app.shopify.fake import FakeShopify


def rss_bytes(pid: int) -> int:
    """Resident set size of ``pid`` (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _ticks(pid: int, *, with_waited: bool = False) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    own = int(fields[11]) + int(fields[12])  # utime + stime
    return own + (int(fields[13]) + int(fields[14]) if with_waited else 0)  # + cutime + cstime


PROCFILE = Path(__file__).resolve().parents[2] / "Procfile"


def procfile_workers(procfile: Path = PROCFILE) -> list[list[str]]:
    """The ``attune worker`` processes the Procfile runs, as argument lists after ``attune``."""
    lanes = []
    for line in procfile.read_text().splitlines():
        name, _, command = line.partition(":")
        parts = command.split()
        if name.strip().startswith("worker") and parts[:2] == ["attune", "worker"]:
            lanes.append(parts[1:])
    return lanes


@dataclass
class ProcessStack(DemoRuntime):
    """gunicorn + ``rq_workers`` RQ worker processes + cron + Redis + the fake Shopify (see the module doc)."""

    rq_workers: int | None = None  # None: the Procfile's worker processes; a number: that many on every queue
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)

    def start(self) -> ProcessStack:
        if threading.current_thread() is threading.main_thread():  # SIGTERM unwinds, so stop() still runs
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        self.workdir.mkdir(parents=True, exist_ok=True)
        redis_proc, self.redis_url = private_redis(self.workdir)
        self.procs["redis"] = redis_proc
        self.database_url = self.database_url or os.environ.get("DATABASE_URL")
        if not self.database_url:
            db_file = self.workdir / "bench.sqlite3"
            for suffix in ("", "-wal", "-shm", "-ingest.lock"):
                Path(f"{db_file}{suffix}").unlink(missing_ok=True)
            self.database_url = f"sqlite:///{db_file}"
        port = self.port or free_port()
        self.app_url = f"http://127.0.0.1:{port}"
        key = os.environ.get("SHOPIFY_API_KEY", DEV_API_KEY)
        secret = os.environ.get("SHOPIFY_API_SECRET", DEV_API_SECRET)
        self.fake = FakeShopify(key, secret, app_url=self.app_url, bulk_polls_until_done=1).start()
        settings_env = {
            "ATTUNE_ENV": "development",
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "APP_URL": self.app_url,
            "SHOPIFY_API_KEY": key,
            "SHOPIFY_API_SECRET": secret,
            "SHOPIFY_API_SECRET_PREVIOUS": "",
            "SHOPIFY_ADMIN_ORIGIN_TEMPLATE": self.fake.origin_template,
            "ATTUNE_EMBEDDER": os.environ.get("ATTUNE_EMBEDDER", "minilm"),
        }
        os.environ.update(settings_env)
        os.environ.pop("HOST", None)
        get_settings.cache_clear()
        self.settings = get_settings()
        upgrade(self.database_url)
        self.env = {**os.environ, **settings_env}
        self.env.pop("GUNICORN_ACCESS_LOG", None)
        self.procs["web"] = serve_gunicorn("app.wsgi:app", port, self.env, log=self.workdir / "web.log")
        lanes = procfile_workers() if self.rq_workers is None else [["worker"]] * self.rq_workers
        for i, args in enumerate(lanes):
            self.procs[f"worker-{i}"] = self._spawn(args, f"worker-{i}")
        self.procs["cron"] = self._spawn(["cron"], "cron")
        for name, proc in self.procs.items():
            if name.startswith("worker"):
                wait_until_settled(proc.pid, workers=0)  # models preloaded before the first job
        return self

    def _spawn(self, args: list[str], name: str) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it
        return subprocess.Popen(
            [sys.executable, "-m", "app", *args], env=self.env, stdout=log, stderr=subprocess.STDOUT
        )

    def rss(self) -> dict[str, int]:
        """RSS per part (a part's child processes, gunicorn's workers and RQ's work horses, included)."""
        out = {"bench (this process, fake Shopify)": rss_bytes(os.getpid())}
        for name, proc in self.procs.items():
            out[name] = rss_bytes(proc.pid) + sum(rss_bytes(k) for k in children(proc.pid))
        return out

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds used so far per part: the process, its live children, and the children it has waited
        for (RQ's finished work horses)."""
        hz = os.sysconf("SC_CLK_TCK")
        out = {}
        for name, proc in self.procs.items():
            ticks = _ticks(proc.pid, with_waited=True) + sum(_ticks(k) for k in children(proc.pid))
            out[name] = ticks / hz
        return out

    def stop(self) -> None:
        for name in reversed(list(self.procs)):  # web first (it queues what it acknowledged), redis last
            proc = self.procs[name]
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        if self.fake is not None:
            self.fake.stop()


class PeakRSS:
    """Samples a stack's RSS every ``every`` seconds on a thread; ``peak`` is the largest total seen, ``parts``
    each part's largest."""

    def __init__(self, stack: ProcessStack, every: float = 0.5) -> None:
        self.stack, self.every = stack, every
        self.peak, self.parts = 0, {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def sample(self) -> None:
        parts = self.stack.rss()
        self.peak = max(self.peak, sum(parts.values()))
        for name, value in parts.items():
            self.parts[name] = max(self.parts.get(name, 0), value)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.sample()
