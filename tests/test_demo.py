"""The main job: `attune demo --sample small --no-serve` on a machine with no Redis/PostgreSQL configured."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def test_demo_small_runs_end_to_end(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "HOST", "APP_URL")}
    env.update(PYTHONUNBUFFERED="1", ATTUNE_EMBEDDER="hashing")
    out = tmp_path / "summary.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "app",
            "demo",
            "--sample",
            "small",
            "--no-serve",
            "--port",
            "0",
            "--workdir",
            str(tmp_path / "demo"),
            "--json-out",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = proc.stdout
    assert "Attune demo — summary" in text
    assert "Redis in-process (fakeredis)" in text and "sqlite:///" in text
    assert "Embedded admin (what the merchant sees): http://127.0.0.1:" in text

    summary = json.loads(out.read_text())
    seg = summary["segments"]
    assert seg["known"] >= 50, seg  # every backfilled customer of the 60 is modelled
    assert seg["anonymous"] > 0  # hesitating visitors who never bought
    assert summary["failed_jobs"] == 0
    figures = summary["figures"]
    assert figures["webhooks"]["errors"] == 0 and figures["pixel"]["errors"] == 0
    assert figures["webhooks"]["requests"] > 50 and figures["pixel"]["items"] > 500
    assert len(summary["examples"]) == 3
    acts = summary["actions"]  # the agents acted through the orchestrator, into the local sinks
    assert acts["decisions"] >= 1 and sum(acts["by_action"].values()) == acts["decisions"]
    assert acts["example_reason"].startswith("Viewed ")
    sim = summary["rescue_simulation"]  # the short closed loop of checkout rescue, on a shop of its own
    assert sim["sessions"] == 200 and sim["detail"]["e-mails"] > 0
    lo, hi = sim["interval"]
    assert lo <= sim["measured_incremental_recovery"] <= hi
    assert "Checkout rescue, closed loop" in text and "true incremental recovery" in text
    # the demo runs the relay through the next day's scheduled times: what it sent on each channel is what
    # arrived at that channel's sink (a push goes to each of the shopper's browsers: one each here)
    sent = acts["sent_by_channel"]
    assert acts["fast_forward"]["hours"] == 24 and acts["fast_forward"]["relay_runs"] >= 1
    assert acts["emails_received"] == sent.get("email", 0) > 0
    assert acts["sms_received"] == sent.get("sms", 0) > 0
    assert "Reply STOP to opt out" in acts["example_sms"]["body"]  # a marketing SMS, as the carriers require
    assert acts["pushes_received"] == sent.get("push", 0) > 0
    assert "still waiting after that" not in text  # every deferred message fell within the next day
    assert acts["by_action"].get("send", 0) + acts["by_action"].get("defer", 0) == sum(
        acts["outbox"].values()
    )
    assert "Agents acting (browse abandonment):" in text and "SMTP sink: smtp+plain://127.0.0.1:" in text
    assert "E-mail sink (each message as the shopper sees it): http://127.0.0.1:" in text
    for example in summary["examples"]:
        record = example["customer"]
        assert record["orders_count"] >= 1 and float(record["total_spent"]) > 0
        assert record["profile"]["derived"], record["profile"]
        recs = example["recommendations"]["items"]
        assert recs and all(item.get("reason") for item in recs)
    # the control room, read through the admin API: every agent's card has a lift, from its simulator, so labelled
    room = summary["control_room"]
    assert room["simulated"] is True and len(room["lifts"]) >= 11
    assert all(lift and lift["simulated"] for lift in room["lifts"].values()), room["lifts"]
