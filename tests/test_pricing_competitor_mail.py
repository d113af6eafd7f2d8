"""Undercut alerts are e-mailed at most once (issue 20), through a real SMTP server on the loopback: the alerts
are claimed and the claim committed before the message goes out, so a job that crashes after sending (before
it could record anything) and is retried sends nothing more; a send that failed gives the claim back and the
next run sends it; two runs at once send one message."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlmodel import select

import app.jobs.competitors as job
from app.agents.competitors import Offer, OurVariant
from app.channels.email_loopback import LoopbackSmtp
from app.crypto import TokenCipher
from app.db import session_scope
from app.models.pricing import CompetitorAlert
from app.models.shop import Shop
from app.stores.channels import save_email_settings
from app.stores.competitor_feeds import record_alerts
from tests.email_support import SENDER


def _shop_with_alerts(settings, smtp_url: str) -> tuple[int, list[int]]:
    with session_scope(settings.database_url) as s:
        shop = Shop(domain="undercut.myshopify.com", access_token_enc="x", installed_at=datetime.now(UTC))
        s.add(shop)
        s.flush()
        assert shop.id is not None
        save_email_settings(s, TokenCipher(settings.encryption_keys), shop.id, {**SENDER, "reply_to": "boss@undercut.test"},
                            smtp_url)  # fmt: skip
        found = [(OurVariant(7001, "Arc lamp", 100.0, None, None), Offer("Rival", "R1", 80.0), 0.2),
                 (OurVariant(7002, "Mug", 10.0, None, None), Offer("Rival", "R2", 8.0), 0.2)]  # fmt: skip
        ids = [a.id for a in record_alerts(s, shop.id, found, datetime.now(UTC))]
        return shop.id, ids


def _mailed(settings, shop_id: int) -> list[bool]:
    with session_scope(settings.database_url) as s:
        rows = s.exec(select(CompetitorAlert).where(CompetitorAlert.shop_id == shop_id)).all()
        return [a.mailed_at is not None for a in rows]


def test_a_crash_after_the_send_does_not_send_again(jobs_env, monkeypatch):
    real = job.send_to_merchant

    def send_then_crash(*args, **kwargs):
        real(*args, **kwargs)
        raise RuntimeError("the worker was killed before it could record the send")

    with LoopbackSmtp() as smtp:
        shop_id, ids = _shop_with_alerts(jobs_env, smtp.url)
        monkeypatch.setattr(job, "send_to_merchant", send_then_crash)
        with pytest.raises(RuntimeError):
            job.send_alerts(shop_id)
        assert len(smtp.messages) == 1
        monkeypatch.setattr(job, "send_to_merchant", real)
        assert job.send_alerts(shop_id) == 0  # the retry
        assert job.match_competitors(shop_id)["mailed"] == 0  # and the whole job's retry
        (mail,) = smtp.messages
        assert mail.message["Message-ID"] == f"<undercut-{min(ids)}.shop-{shop_id}@mugs.test>"
        assert "7001: Rival sells at 80.00" in mail.message.get_body(("plain",)).get_content()
    assert _mailed(jobs_env, shop_id) == [True, True]


def test_a_failed_send_is_sent_by_the_next_run(jobs_env):
    shop_id, _ = _shop_with_alerts(jobs_env, "smtp://127.0.0.1:9")  # nothing listens: SendError
    assert job.send_alerts(shop_id) == 0
    assert _mailed(jobs_env, shop_id) == [False, False]
    with LoopbackSmtp() as smtp:
        with session_scope(jobs_env.database_url) as s:
            save_email_settings(s, TokenCipher(jobs_env.encryption_keys), shop_id, SENDER, smtp.url)
        assert job.send_alerts(shop_id) == 2
        assert job.send_alerts(shop_id) == 0
        assert len(smtp.messages) == 1
    assert _mailed(jobs_env, shop_id) == [True, True]


def test_two_runs_at_once_send_one_message(jobs_env):
    with LoopbackSmtp() as smtp:
        shop_id, _ = _shop_with_alerts(jobs_env, smtp.url)
        start = threading.Barrier(2)
        sent: list[int] = []

        def run() -> None:
            start.wait(10)
            sent.append(job.send_alerts(shop_id))

        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(sent) == [0, 2] and len(smtp.messages) == 1
