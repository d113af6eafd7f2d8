"""The benchmarks' load-generator children start with the default SIGTERM and SIGINT handlers even when
the parent caught them (an in-process RQ worker leaves its handlers behind; forked children used to
inherit them, ignore ``Pool.terminate``'s SIGTERM and hang the bench and the test suite)."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import ROOT

from app.bench.servers import cpu_seconds

SCRIPT = """
import signal

from app.bench.servers import client_pool

def handlers(_):
    return [signal.getsignal(s) is signal.SIG_DFL for s in (signal.SIGTERM, signal.SIGINT)]

signal.signal(signal.SIGTERM, lambda *args: None)  # what a warm-shutdown handler amounts to here
signal.signal(signal.SIGINT, lambda *args: None)
with client_pool(2) as pool:
    print(all(all(h) for h in pool.map(handlers, range(4))))
"""


def test_the_client_pool_children_die_on_sigterm_though_the_parent_caught_it():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"


def test_server_cpu_counts_workers_that_exited_and_were_reaped():
    """A worker recycled mid-round must not take its CPU time with it."""
    before = cpu_seconds(os.getpid())
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.5: pass"
    subprocess.run([sys.executable, "-c", burn], check=True, timeout=60)  # exits and is reaped
    assert cpu_seconds(os.getpid()) - before >= 0.4
