"""The storefront's in-process cache: a small thread-safe LRU with per-entry expiry and, for web workers,
refresh-ahead (stale-while-revalidate) on one background thread per process."""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

MISSING = object()


class TTLCache:
    """A small thread-safe LRU with per-entry expiry (one per app process).

    With ``refresh_ahead`` (web workers), an entry that expired less than ``ttl`` ago is still served
    while one background load per key replaces it (stale-while-revalidate): hot keys never reload on the
    request path, and a value no older than twice ``ttl`` is ever served. A reloaded value equal to the old
    one keeps the old object, with whatever was cached beside it (rendered answers)."""

    def __init__(self, ttl: float, maxsize: int = 20_000, *, refresh_ahead: bool = False) -> None:
        self.ttl, self.maxsize, self.refresh_ahead = ttl, maxsize, refresh_ahead
        self._data: OrderedDict[Any, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._refreshing: set[Any] = set()

    def get(self, key: Any) -> Any:
        """The fresh value for ``key``, or ``MISSING``."""
        now = time.monotonic()
        with self._lock:
            hit = self._data.get(key, MISSING)
            if hit is not MISSING and hit[0] > now:
                self._data.move_to_end(key)
                return hit[1]
        return MISSING

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._store(key, value, time.monotonic())

    def _store(self, key: Any, value: Any, now: float) -> None:
        self._data[key] = (now + self.ttl, value)
        self._data.move_to_end(key)
        while len(self._data) > self.maxsize:
            self._data.popitem(last=False)

    def get_or_load(self, key: Any, load: Callable[[], Any]) -> Any:
        now = time.monotonic()
        with self._lock:
            hit = self._data.get(key, MISSING)
            if hit is not MISSING:
                expires, value = hit
                if expires > now:
                    self._data.move_to_end(key)
                    return value
                if self.refresh_ahead and now < expires + self.ttl:
                    if key not in self._refreshing:
                        self._refreshing.add(key)
                        refresher().submit(lambda: self._reload(key, load, value))
                    return value
        value = load()
        with self._lock:
            self._store(key, value, now)
        return value

    def _reload(self, key: Any, load: Callable[[], Any], old: Any) -> None:
        try:
            value = _keep_unchanged(old, load())
            with self._lock:
                self._store(key, value, time.monotonic())
        finally:
            with self._lock:
                self._refreshing.discard(key)

    def expire_where(self, stale: Callable[[Any], bool]) -> int:
        """Mark the entries whose key ``stale`` picks as expired now (with ``refresh_ahead`` they are
        served while they reload); returns how many."""
        now = time.monotonic()
        with self._lock:
            keys = [k for k, (expires, _) in self._data.items() if expires > now and stale(k)]
            for key in keys:
                self._data[key] = (now, self._data[key][1])
        return len(keys)

    def snapshot_keys(self) -> list[Any]:
        with self._lock:
            return list(self._data)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


def _keep_unchanged(old: Any, new: Any) -> Any:
    """``new``, except that what equals its old counterpart stays the old object (and its caches)."""
    if new == old:
        return old
    if isinstance(new, dict) and isinstance(old, dict):
        return {k: old[k] if k in old and old[k] == v else v for k, v in new.items()}
    return new


class _Refresher:
    """One daemon thread per process that runs the caches' background reloads, one at a time, and the
    periodic checks given to ``every``."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._periodic: dict[object, tuple[float, Callable[[], Any], float]] = {}  # (interval, job, next)
        self._lock = threading.Lock()
        threading.Thread(target=self._run, name="serving-refresh", daemon=True).start()

    def submit(self, job: Callable[[], None]) -> None:
        self._jobs.put(job)

    def every(self, interval: float, job: Callable[[], Any]) -> object:
        """Run ``job`` on this thread every ``interval`` seconds, the first time one interval from now;
        returns a handle for ``cancel``."""
        handle = object()
        with self._lock:
            self._periodic[handle] = (interval, job, time.monotonic() + interval)
        self._jobs.put(lambda: None)  # wake the thread: its next wait accounts for the new job
        return handle

    def cancel(self, handle: object) -> None:
        with self._lock:
            self._periodic.pop(handle, None)

    def _run(self) -> None:
        while True:
            with self._lock:
                due = min((at for _, _, at in self._periodic.values()), default=None)
            try:
                job = self._jobs.get(timeout=None if due is None else max(0.0, due - time.monotonic()))
            except queue.Empty:
                job = None
            if job is not None:
                self._safely(job)
            now = time.monotonic()
            with self._lock:
                ready = [(h, p) for h, p in self._periodic.items() if p[2] <= now]
                for handle, (interval, check, _) in ready:
                    self._periodic[handle] = (interval, check, now + interval)
            for _, (_, check, _) in ready:
                self._safely(check)

    @staticmethod
    def _safely(job: Callable[[], Any]) -> None:
        try:
            job()
        except Exception:  # the stale value stays until the next try; never kill the thread
            log.warning("serving cache: background work failed", exc_info=True)


_refreshers: dict[int, _Refresher] = {}
_refreshers_lock = threading.Lock()


def refresher() -> _Refresher:
    """This process's refresher (started on first use, and again in a forked child)."""
    pid = os.getpid()
    found = _refreshers.get(pid)
    if found is None:
        with _refreshers_lock:
            found = _refreshers.get(pid)
            if found is None:
                found = _refreshers[pid] = _Refresher()
    return found
