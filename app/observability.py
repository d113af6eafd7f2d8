"""The operator's view: Prometheus metrics and structured JSON logs.

Metrics (``prometheus_client``; HTTP requests are counted by ``prometheus-flask-exporter`` in ``app.web.metrics``):

- ``attune_jobs_total{job, outcome}`` and ``attune_job_duration_seconds{job}``: every RQ job, by its function;
- ``attune_decisions_total{agent, action, channel}``: the orchestrator's decisions;
- ``attune_sends_total{agent, channel, outcome}``: what the relay's channels did with each message (``sent``,
  or the error's kind: ``transienterror``, ``permanenterror``, ``ambiguouserror``).

Labels name code paths and outcomes only, never a shop, shopper, order or message: their values come from small
fixed sets (``_label`` keeps anything else out). Under gunicorn with several workers, and for RQ workers on the
same host, set ``PROMETHEUS_MULTIPROC_DIR`` (an empty directory, the same for every process): each process
writes its samples there and ``/metrics`` aggregates them all (``exposition``).

Logs: ``configure_logging`` makes every record one JSON object with its time, level, logger, message, and the
``request_id`` or ``job_id`` it belongs to (context variables set by the web app and the worker). Messages are
scrubbed of e-mail addresses and phone numbers before they are written.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
JOB_ID: ContextVar[str | None] = ContextVar("job_id", default=None)

JOBS = Counter("attune_jobs_total", "RQ jobs run, by job function and outcome", ["job", "outcome"])
JOB_SECONDS = Histogram(
    "attune_job_duration_seconds",
    "RQ job run time, by job function",
    ["job"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 1800, 7200),
)
DECISIONS = Counter(
    "attune_decisions_total",
    "The orchestrator's decisions, by agent, action and channel",
    ["agent", "action", "channel"],
)
SENDS = Counter(
    "attune_sends_total",
    "Messages handed to a channel, by agent, channel and outcome",
    ["agent", "channel", "outcome"],
)

_SAFE = re.compile(r"^[a-z0-9_.:-]{1,64}$")


def _label(value: Any) -> str:
    """A label value from a fixed vocabulary (names of jobs, agents, actions, channels, outcomes): anything else,
    which could carry an id, is ``other``."""
    text = str(value or "none").lower()
    return text if _SAFE.match(text) and not any(ch.isdigit() for ch in text) else "other"


def job_name(func_name: str | None) -> str:
    """``app.jobs.rescue.run_rescue`` → ``rescue.run_rescue``."""
    name = (func_name or "unknown").removeprefix("app.jobs.").removeprefix("webhooks.")
    return _label(name)


def record_job(func_name: str | None, ok: bool, seconds: float) -> None:
    name = job_name(func_name)
    JOBS.labels(name, "ok" if ok else "failed").inc()
    JOB_SECONDS.labels(name).observe(seconds)


def record_decisions(decisions: Iterable[Any]) -> None:
    """Count the orchestrator's decisions (``app.orchestrator.proposal.Decision``)."""
    for d in decisions:
        DECISIONS.labels(_label(d.proposal.agent), _label(d.action), _label(d.channel)).inc()


def record_send(agent: str, channel: str, outcome: str, n: int = 1) -> None:
    """Count ``n`` messages an agent's channel handed over (or failed to) with the same outcome."""
    SENDS.labels(_label(agent), _label(channel), _label(outcome)).inc(n)


def exposition() -> tuple[bytes, str]:
    """The metrics text: every process's under ``PROMETHEUS_MULTIPROC_DIR``, else this process's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_PHONE = re.compile(r"\+?\d[\d ()-]{7,}\d")


def scrub(text: str) -> str:
    """Personal data out of a log message: e-mail addresses and phone numbers."""
    return _PHONE.sub("[phone]", _EMAIL.sub("[email]", text))


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``ts``, ``level``, ``logger``, ``msg`` (scrubbed), ``request_id``,
    ``job_id`` and ``exc`` (the exception's type only: its text may carry personal data)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": scrub(record.getMessage()),
        }
        for key, var in (("request_id", REQUEST_ID), ("job_id", JOB_ID)):
            if var.get():
                out[key] = var.get()
        if record.exc_info and record.exc_info[0] is not None:
            out["exc"] = record.exc_info[0].__name__
        return json.dumps(out, ensure_ascii=False)


# Libraries that log every call at INFO: the twilio SDK writes ten lines per API request (URL, query, headers
# and the response's headers), which at INFO doubled the relay's CPU per SMS beside the send itself
# (benchmarks/outbox.md) and filled the log with lines no operator reads. Their warnings and errors still show.
CHATTY_LOGGERS = ("twilio.http_client",)


def configure_logging(fmt: str = "json", level: int = logging.INFO) -> None:
    """JSON lines on stderr for the whole process (the web app, the worker, the cron); ``text`` for a person at a
    terminal. Like ``logging.basicConfig``, it leaves a process whose logging is already set up alone. The
    ``CHATTY_LOGGERS`` say only warnings and worse."""
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter()
        if fmt == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root.addHandler(handler)
    root.setLevel(level)
