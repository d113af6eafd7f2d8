"""Queue inbox jobs off the request path: one background thread per process and Redis.

The inbox row is already durable when its id arrives here, so the 200 does not wait for Redis. The
thread sends what was handed in during the last ``LINGER_S`` as one Redis transaction (one
``process_inbox_batch`` job per shop); the 200 was sent already, so the linger only delays the job. ``flush`` sends what is left from the calling thread; the
gunicorn ``worker_exit`` hook and ``atexit`` call it, so a process that exits normally leaves nothing
behind. A process killed between the 200 and the send leaves its rows pending without a job: the
sweeper (``webhooks.inbox_jobs.sweep_inbox``) queues such rows after ``UNQUEUED_AFTER_S``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from webhooks.inbox_queue import enqueue_inbox_many

log = logging.getLogger(__name__)

Rows = list[tuple[int, int | None]]
MAX_PIPELINE = 500
LINGER_S = 0.1  # jobs start at most this much later; the 200 never waits for it


class JobEnqueuer:
    """``submit(rows)`` returns at once; the rows' jobs are queued by the background thread."""

    def __init__(
        self,
        redis_url: str | None,
        *,
        linger: float = LINGER_S,
        send: Callable[[str | None, Rows], int] | None = None,
    ) -> None:
        self.redis_url = redis_url
        self.linger = linger
        self._send_fn = send or enqueue_inbox_many
        self._rows: deque[tuple[int, int | None]] = deque()
        self._work = threading.Event()
        self._start_lock = threading.Lock()
        self._done = threading.Condition()  # for flush: sends in flight
        self._sending = 0
        self._thread: threading.Thread | None = None
        self.sent = 0  # rows queued by this enqueuer (tests, logs)

    def submit(self, rows: Rows) -> None:
        self._rows.extend(rows)
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="inbox-enqueuer", daemon=True)
                    self._thread.start()
        if not self._work.is_set():
            self._work.set()

    def pending(self) -> int:
        return len(self._rows) + self._sending

    def flush(self, timeout: float = 10.0) -> bool:
        """Send everything submitted so far; True when nothing is left unsent (or being sent)."""
        deadline = time.monotonic() + timeout
        while self._send_some() and time.monotonic() < deadline:
            pass
        with self._done:
            return self._done.wait_for(
                lambda: not self._rows and not self._sending, max(0.0, deadline - time.monotonic())
            )

    def _run(self) -> None:
        while True:
            self._work.wait()
            if self.linger > 0:  # let a few commits' rows gather: one job and pipeline for them all
                time.sleep(self.linger)
            self._work.clear()  # before taking rows: a row handed in after this sets it again
            while self._send_some():
                pass

    def _send_some(self) -> bool:
        """Send up to one pipeline's worth; False when there was nothing to send."""
        rows: Rows = []
        with self._done:
            while self._rows and len(rows) < MAX_PIPELINE:
                rows.append(self._rows.popleft())
            self._sending += len(rows)
        if not rows:
            return False
        try:
            self.sent += self._send_fn(self.redis_url, rows)  # failures logged there; the sweeper covers
        except Exception:  # noqa: BLE001 - never let the thread die; the rows are durable
            log.exception("enqueue of %d inbox rows failed", len(rows))
        finally:
            with self._done:
                self._sending -= len(rows)
                self._done.notify_all()
        return True
