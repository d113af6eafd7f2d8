"""What the server benchmarks share: the bare WSGI peer, a free loopback port, starting a production
gunicorn and waiting until it has finished starting."""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import click

HELLO_APP = "app.bench.servers:hello_app"


def hello_app(environ, start_response):  # noqa: ANN001 - the peer: the cheapest WSGI answer there is
    body = b'{"hello":"world"}'
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def client_pool(processes: int) -> mp.pool.Pool:
    """A pool of forked load-generator processes. They start with the default SIGTERM and SIGINT
    handlers: a parent running inside a process that installed its own (an in-process RQ worker, a
    test runner) would otherwise pass them on, and ``Pool.terminate`` would wait forever for children
    that no longer die on SIGTERM."""
    return mp.get_context("fork").Pool(processes, initializer=_default_signals)


def _default_signals() -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise click.ClickException(f"server on port {port} did not start")


def private_redis(workdir: Path) -> tuple[subprocess.Popen, str]:
    """A private, non-persistent ``redis-server`` on a free loopback port: (process, its URL)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise click.ClickException("redis-server not found; pass --redis-url")
    port = free_port()
    cmd = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(
        [*cmd, "--dir", str(workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_for_port(port)
    return proc, f"redis://127.0.0.1:{port}/0"


def serve_gunicorn(
    target: str, port: int, env: dict[str, str], log: Path | None = None, *, recycle: bool = True
) -> subprocess.Popen:
    """``target`` under the production gunicorn settings on loopback ``port``, once every worker has booted
    and finished its start-up work (the search-embedder preload costs seconds of CPU per worker: measured
    while it runs, it would slow whichever server happens to be measured then). Its output goes to ``log``
    when given. ``recycle=False`` turns the production worker recycling (``max_requests``) off: a bench that
    sends hundreds of thousands of requests would otherwise restart the faster server's workers, and their
    start-up, in its own rounds."""
    from app import gunicorn_conf

    cmd = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        "python:app.gunicorn_conf",
        "-b",
        f"127.0.0.1:{port}",
        *([] if recycle else ["--max-requests", "0"]),
        target,
    ]
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - the child keeps it
    proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    wait_for_port(port)
    wait_until_settled(proc.pid, workers=gunicorn_conf.workers)
    return proc


def _cpu_ticks(pid: int, *, reaped: bool = False) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    ticks = int(fields[11]) + int(fields[12])  # utime + stime
    return ticks + (int(fields[13]) + int(fields[14]) if reaped else 0)  # + its reaped children's


def children(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                kids.append(int(entry))
    return kids


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by the server ``pid``, its live workers and the workers it has
    reaped; 0 without /proc."""
    hz = os.sysconf("SC_CLK_TCK")
    return (_cpu_ticks(pid, reaped=True) + sum(_cpu_ticks(p) for p in children(pid))) / hz


def wait_until_settled(pid: int, *, workers: int, quiet_s: float = 1.0, timeout: float = 180.0) -> None:
    """Until the server ``pid`` has ``workers`` children and it and they used under 10 % of a core over
    ``quiet_s``. Without /proc (not Linux) it returns at once."""
    if not Path(f"/proc/{pid}/stat").exists():
        return
    hz = os.sysconf("SC_CLK_TCK")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = children(pid)
        before = sum(_cpu_ticks(p) for p in [pid, *kids])
        time.sleep(quiet_s)
        after = sum(_cpu_ticks(p) for p in [pid, *kids])
        if len(kids) >= workers and (after - before) / hz < 0.1 * quiet_s:
            return
    raise click.ClickException(f"server {pid} was still starting after {timeout:.0f} s")
