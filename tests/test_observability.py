"""The operator's view: ``/metrics`` in Prometheus format with requests by route rule, jobs, decisions and sends
by agent, channel and outcome, and no shop or shopper id in any label; several processes aggregated through
``PROMETHEUS_MULTIPROC_DIR``; JSON log lines with the request's and the job's id and no personal data."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from datetime import UTC, datetime

from fixtures_shopify import InstalledShop, LiveApp, make_session_token
from redis import Redis
from rq import Queue

from app import tasks
from app.observability import JOB_ID, REQUEST_ID, JsonFormatter, _label, record_send, scrub
from app.orchestrator.proposal import Shopper
from app.worker import ObservedSimpleWorker
from tests.conftest import ROOT
from tests.messaging_support import add_subscribed_customer, decide_all, make_proposal

NOW = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
LABELS = re.compile(r"\{([^}]*)\}")


def _metrics(client) -> str:
    r = client.get("/metrics")
    assert r.status_code == 200 and r.content_type.startswith("text/plain")
    return r.get_data(as_text=True)


def _rescue_decisions(text: str) -> dict[str, float]:
    """The rescue agent's decision counters: labels → value."""
    found = re.findall(
        r'attune_decisions_total\{(action="[a-z_]+",agent="rescue",channel="[a-z]+")\} ([0-9.]+)', text
    )
    return {labels: float(value) for labels, value in found}


def test_metrics_count_requests_decisions_and_jobs_without_ids(
    jobs_env, live_app: LiveApp, installed_shop: InstalledShop, session
):
    client = live_app.client()
    auth = {"Authorization": f"Bearer {make_session_token(installed_shop.domain)}"}
    assert client.get("/api/admin/customers/123456789", headers=auth).status_code == 404
    add_subscribed_customer(
        session, installed_shop.id, "email", NOW, customer_id=424242, email="ann@example.com"
    )
    session.commit()
    p = make_proposal(
        installed_shop.id, NOW, agent="rescue", shopper=Shopper(customer_id=424242), dedupe_key="r:1"
    )
    before = _rescue_decisions(_metrics(client))  # the counters are the process's: other tests' count too
    decide_all(jobs_env, [p], NOW)
    record_send("rescue", "email", "TransientError")
    Queue("observed", connection=Redis.from_url(jobs_env.redis_url)).enqueue(tasks.SEND_ALL_DIGESTS)
    ObservedSimpleWorker(["observed"], connection=Redis.from_url(jobs_env.redis_url)).work(burst=True)
    text = _metrics(client)
    assert 'url_rule="/api/admin/customers/<int:customer_id>"' in text
    assert sum(_rescue_decisions(text).values()) == sum(before.values()) + 1, _rescue_decisions(text)
    assert 'attune_sends_total{agent="rescue",channel="email",outcome="transienterror"}' in text
    assert 'attune_jobs_total{job="digest.send_all_digests",outcome="ok"}' in text
    assert "attune_job_duration_seconds_bucket" in text
    for labels in LABELS.findall(text):  # no id of a shop, customer or order in any label
        assert "123456789" not in labels and "424242" not in labels and installed_shop.domain not in labels
        assert "myshopify" not in labels and "@" not in labels


def test_metrics_token_and_label_guard(client, monkeypatch):
    monkeypatch.setenv("ATTUNE_METRICS_TOKEN", "s3cret-token")
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
    assert _label("rescue") == "rescue" and _label("customer:42") == "other" and _label("a b") == "other"


def test_multiprocess_mode_aggregates_every_process(tmp_path):
    """Two processes (say, two gunicorn workers or a work horse) count; a third serves the sum."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    count = "from app.observability import record_job; record_job('app.jobs.rescue.run_rescue', True, 0.2)"
    for _ in range(2):
        subprocess.run([sys.executable, "-c", count], env=env, check=True, timeout=60)
    serve = "from app.observability import exposition; print(exposition()[0].decode())"
    out = subprocess.run(
        [sys.executable, "-c", serve], env=env, check=True, timeout=60, capture_output=True, text=True
    )
    assert 'attune_jobs_total{job="rescue.run_rescue",outcome="ok"} 2.0' in out.stdout


def test_json_logs_carry_ids_and_no_personal_data(client):
    record = logging.LogRecord(
        "app.x",
        logging.WARNING,
        __file__,
        1,
        "mail to %s failed, call %s",
        ("ann@example.com", "+1 (415) 555-0100"),
        None,
    )
    t1, t2 = REQUEST_ID.set("req-12345678"), JOB_ID.set("job-1")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        REQUEST_ID.reset(t1)
        JOB_ID.reset(t2)
    assert line["msg"] == "mail to [email] failed, call [phone]" and line["level"] == "warning"
    assert line["request_id"] == "req-12345678" and line["job_id"] == "job-1"
    assert scrub("order 1001 of 3 items") == "order 1001 of 3 items"  # short numbers stay
    r = client.get("/health", headers={"X-Request-ID": "abc-12345678"})
    assert r.headers["X-Request-ID"] == "abc-12345678"
    assert "X-Request-ID" not in client.get("/health", headers={"X-Request-ID": "bad id!"}).headers


def test_configured_logging_keeps_the_twilio_sdks_per_request_lines_out(monkeypatch, caplog):
    """The twilio SDK logs ten INFO lines per API call (URL, query, every header, the response's headers):
    once logging is configured, an SMS send writes none of them, while the app's own INFO lines and the SDK's
    warnings still get through."""
    from app.channels.base import OutgoingMessage, Sender
    from app.channels.sms import SmsChannel
    from app.channels.sms_loopback import LoopbackTwilio
    from app.observability import CHATTY_LOGGERS, configure_logging

    account, token = "AC" + "c3" * 16, "twilio-auth-token-logging-test"
    for name in CHATTY_LOGGERS:
        monkeypatch.setattr(logging.getLogger(name), "level", logging.NOTSET)
    message = OutgoingMessage(
        outbox_id=1,
        shop_id=1,
        purpose="transactional",
        template="message",
        data={"sms_text": "Order 1 shipped"},
        recipient="+14155552671",
        sender=Sender(shop_name="Mugs", from_name="Mugs", from_address=""),
    )
    with LoopbackTwilio({account: token}) as twilio, caplog.at_level(logging.INFO):
        channel = SmsChannel(account, token, from_number="+15005550006", api_base_url=twilio.url)
        channel.send(message)  # unconfigured: the SDK's lines reach the root at INFO
        assert any(r.name == "twilio.http_client" for r in caplog.records)
        caplog.clear()
        configure_logging("json")
        channel.send(message)
        logging.getLogger("app.jobs.outbox").info("outbox 1 (sms, transactional): sent")
        logging.getLogger("twilio.http_client").warning("retrying")
    assert len(twilio.messages) == 2
    assert [(r.name, r.levelname) for r in caplog.records] == [
        ("app.jobs.outbox", "INFO"),
        ("twilio.http_client", "WARNING"),
    ]
