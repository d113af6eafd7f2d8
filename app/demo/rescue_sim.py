"""``attune simulate rescue``: a closed-loop check of the checkout-rescue agent and its measurement.

Synthetic shoppers with a known response go through the real app over HTTP (the demo runtime: Flask, RQ
workers, the fake Shopify, an SMTP sink on loopback):

1. the app is installed through OAuth; the merchant sets the rescue holdout to 50 % through the admin API;
2. each shopper starts a checkout (a signed ``checkouts/create`` webhook) and leaves;
3. simulated time advances hour by hour (compressed: the jobs are given ``now``): the rescue job proposes,
   the orchestrator decides, the relay sends what is due into the SMTP sink;
4. a shopper buys (a signed ``orders/create`` webhook) either **organically** (probability ``base``, at a
   random time in the week, whatever happens) or, failing that, **because of the first e-mail** that reaches
   their inbox, with probability ``uplift[arm]`` for the timing arm the message's arrival reveals;
5. the admin API's readout (``GET /api/admin/rescue``) gives the measured incremental recovery and its 95 %
   interval, printed beside the true value ``(1 - base) × mean(uplift)`` (arms are equally likely).

Simulated time starts a day after the real clock, so no message is due for the workers' own (real-time) relay
jobs: only the simulation's relay, at simulated times, sends.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

DOMAIN = "rescue-sim.myshopify.com"
TICK = timedelta(hours=1)
PRODUCT_ID, VARIANT_ID = 4242, 424242
PRICE = 40.0


@dataclass(frozen=True)
class Truth:
    """The shoppers' true behaviour."""

    base: float = 0.10  # organic recovery: buys within the week whatever the app does
    uplift: dict[int, float] = field(default_factory=lambda: {1: 0.04, 24: 0.12, 72: 0.08})

    @property
    def incremental(self) -> float:
        """The true intention-to-treat effect of being in the treated arm on 7-day recovery."""
        return (1 - self.base) * sum(self.uplift.values()) / len(self.uplift)


@dataclass
class Shopper:
    customer_id: int
    token: str
    abandoned_at: datetime
    organic_at: datetime | None  # when they buy anyway (None: they would not)
    draw: float  # compared with the uplift of the arm their first message reveals
    bought_at: datetime | None = None
    posted_checkout: bool = False
    posted_order: bool = False
    first_mail_at: datetime | None = None


def arm_of(elapsed: timedelta) -> int:
    """The timing arm a first message's arrival reveals (quiet hours may delay a message by up to 13 h)."""
    hours = elapsed.total_seconds() / 3600
    return 1 if hours < 20 else 24 if hours < 60 else 72


def plan(sessions: int, seed: int, truth: Truth, start: datetime) -> list[Shopper]:
    rng = random.Random(seed)
    out = []
    for i in range(sessions):
        at = start + timedelta(minutes=rng.randrange(0, 24 * 60))
        organic = (
            at + timedelta(minutes=rng.randrange(2 * 60, 156 * 60)) if rng.random() < truth.base else None
        )
        out.append(Shopper(100_000 + i, f"sim-{seed}-{i}", at, organic, rng.random()))
    return out


def _checkout(s: Shopper) -> dict[str, Any]:
    at, long_ago = s.abandoned_at.isoformat(), (s.abandoned_at - timedelta(days=30)).isoformat()
    email = f"shopper{s.customer_id}@example.com"
    return {
        "id": s.customer_id * 10, "token": s.token, "cart_token": f"cart-{s.token}", "email": email,
        "created_at": at, "updated_at": at, "completed_at": None, "currency": "USD",
        "total_price": f"{PRICE:.2f}", "abandoned_checkout_url": None,
        "line_items": [{"product_id": PRODUCT_ID, "variant_id": VARIANT_ID, "quantity": 1,
                        "title": "Simulated Lamp", "price": f"{PRICE:.2f}"}],
        "customer": {"id": s.customer_id, "email": email, "first_name": "Sim", "updated_at": long_ago,
                     "email_marketing_consent": {"state": "subscribed", "opt_in_level": "single_opt_in",
                                                 "consent_updated_at": long_ago}},
    }  # fmt: skip


def _order(s: Shopper) -> dict[str, Any]:
    at = (s.bought_at or s.abandoned_at).isoformat()
    return {
        "id": s.customer_id * 10 + 1, "name": f"#S{s.customer_id}", "currency": "USD", "test": False,
        "total_price": f"{PRICE:.2f}", "subtotal_price": f"{PRICE:.2f}", "total_discounts": "0.00",
        "created_at": at, "processed_at": at, "updated_at": at, "customer": {"id": s.customer_id},
        "line_items": [{"id": s.customer_id * 10 + 2, "product_id": PRODUCT_ID, "variant_id": VARIANT_ID,
                        "quantity": 1, "price": f"{PRICE:.2f}", "title": "Simulated Lamp"}],
    }  # fmt: skip


def _product(at: datetime) -> dict[str, Any]:
    return {"id": PRODUCT_ID, "title": "Simulated Lamp", "handle": "simulated-lamp", "status": "active",
            "updated_at": at.isoformat(), "created_at": at.isoformat(),
            "variants": [{"id": VARIANT_ID, "product_id": PRODUCT_ID, "price": f"{PRICE:.2f}",
                          "inventory_quantity": 10_000, "title": "Default"}]}  # fmt: skip


def run(
    sessions: int,
    seed: int,
    truth: Truth | None = None,
    workdir: Path | None = None,
    progress: Callable[[str], None] = lambda _msg: None,
) -> dict[str, Any]:
    """Run the closed loop; returns the true and measured incremental recovery, with the interval."""
    truth = truth or Truth()
    os.environ.setdefault("ATTUNE_EMBEDDER", "hashing")  # no model is needed: keep start-up fast
    from app.channels.email_loopback import LoopbackSmtp
    from app.demo.runtime import DemoRuntime

    workdir = workdir or Path("var/simulate")
    smtp = LoopbackSmtp().start()
    rt = DemoRuntime(workdir=workdir, port=0, workers=2).start()
    try:
        return simulate_in(rt, smtp, sessions, seed, truth, progress)
    finally:
        rt.stop()
        smtp.stop()


def simulate_in(
    rt: Any,
    smtp: Any,
    sessions: int,
    seed: int,
    truth: Truth,
    progress: Callable[[str], None] = lambda _msg: None,
) -> dict[str, Any]:
    """The closed loop inside a running demo runtime, on a shop of its own (``DOMAIN``) whose e-mails go to
    ``smtp`` (a loopback SMTP sink; other shops' messages there are ignored). Its hundreds of jobs and SMTP
    sessions log only warnings while it runs (the demo's console stays readable)."""
    with _quiet("app", "webhooks", "mail.log", "rq"):
        return _simulate(rt, smtp, sessions, seed, truth, progress)


@contextmanager
def _quiet(*loggers: str) -> Iterator[None]:
    """These loggers at WARNING inside the block, as they were after it."""
    before = {name: logging.getLogger(name).level for name in loggers}
    for name in loggers:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        yield
    finally:
        for name, level in before.items():
            logging.getLogger(name).setLevel(level)


def _simulate(
    rt: Any,
    smtp: Any,
    sessions: int,
    seed: int,
    truth: Truth,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    from app.demo.replay import install

    rt.fake.store(DOMAIN).name = "Rescue Simulation"
    shop_id = install(rt, DOMAIN)
    rt.wait_idle(settle=0.1)
    _configure(rt, shop_id, smtp.url)
    start = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    _post(rt, "products/create", _product(start - timedelta(days=60)))
    shoppers = plan(sessions, seed, truth, start)
    progress(f"{sessions} shoppers, simulated from {start:%Y-%m-%d %H:%M} UTC, true uplift {truth.uplift}")
    mails = _loop(rt, shop_id, shoppers, truth, smtp, start)
    measured = _measure(rt)
    overall = measured.get("overall") or {}
    inc = overall.get("incremental_recovery") or {}
    return {
        "true_incremental_recovery": round(truth.incremental, 6),
        "measured_incremental_recovery": inc.get("estimate"),
        "interval": [inc.get("low"), inc.get("high")],
        "sessions": sessions,
        "detail": {
            "treated": overall.get("treated"),
            "holdout": overall.get("holdout"),
            "arms": [
                {
                    "arm": a["arm"],
                    "true": round((1 - truth.base) * truth.uplift.get(int(a["arm"].split()[0]), 0), 6),
                    "measured": (a.get("incremental_recovery") or {}).get("estimate"),
                    "interval": [(a.get("incremental_recovery") or {}).get(k) for k in ("low", "high")],
                }
                for a in measured.get("timing_arms", [])
            ],
            "e-mails": mails,
        },
    }


def render(result: dict[str, Any]) -> list[str]:
    """The comparison as printed lines: true vs measured, overall and per timing arm."""
    lo, hi = result["interval"]
    lines = [
        f"true incremental recovery     {result['true_incremental_recovery']:+.4f}",
        f"measured incremental recovery {result['measured_incremental_recovery']:+.4f}  "
        f"95% CI [{lo:+.4f}, {hi:+.4f}]",
    ]
    for arm in result["detail"]["arms"]:
        a_lo, a_hi = arm["interval"]
        lines.append(
            f"  first after {arm['arm']:>5}: true {arm['true']:+.4f}, measured {arm['measured']:+.4f} "
            f"[{a_lo:+.4f}, {a_hi:+.4f}]"
        )
    d = result["detail"]
    lines.append(f"treated {d['treated']}, holdout {d['holdout']}, e-mails {d['e-mails']}")
    return lines


def _post(rt: Any, topic: str, payload: dict[str, Any]) -> None:
    from app.shopify.fake.webhooks import deliver_webhook

    response = deliver_webhook(rt.app_url, DOMAIN, topic, payload)
    if response.status_code != 200:
        raise RuntimeError(f"{topic}: HTTP {response.status_code} {response.text[:200]}")


def _configure(rt: Any, shop_id: int, smtp_url: str) -> None:
    """The merchant's e-mail sender (pointing at the sink) and a 50 % rescue holdout, through the admin API."""
    from sqlmodel import Session

    from app.crypto import TokenCipher
    from app.db import get_engine
    from app.stores.channels import save_email_settings

    with Session(get_engine(rt.settings.database_url)) as session:
        sender = {"shop_name": "Rescue Simulation", "from_name": "Rescue Simulation",
                  "from_address": "hello@rescue-sim.test", "postal_address": "1 Test Street, Springfield"}  # fmt: skip
        save_email_settings(session, TokenCipher(rt.settings.encryption_keys), shop_id, sender, smtp_url)
        session.commit()
    policy = {"per_day": 1, "per_week": 3, "allowed_from": "08:00", "allowed_until": "21:00",
              "timezone": "UTC", "holdouts": {"rescue": 0.5}}  # fmt: skip
    r = requests.put(f"{rt.app_url}/api/admin/contact-policy", json=policy, headers=_auth(rt), timeout=30)
    if r.status_code != 200:
        raise RuntimeError(f"contact policy: HTTP {r.status_code} {r.text[:200]}")


def _auth(rt: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {rt.fake.session_token(DOMAIN)}"}


def _loop(rt: Any, shop_id: int, shoppers: list[Shopper], truth: Truth, smtp: Any, start: datetime) -> int:
    """Advance simulated time hour by hour; returns how many e-mails reached the simulated shoppers."""
    from app.agents.rescue import ABANDONED_AFTER
    from app.jobs.outbox import relay_due
    from app.jobs.rescue import run_rescue
    from webhooks.ingest import flush_enqueues

    by_email = {f"shopper{s.customer_id}@example.com": s for s in shoppers}
    end = start + timedelta(days=9)
    seen = len(smtp.messages)
    mails = 0
    t = start
    while t <= end:
        posted = False
        for s in shoppers:
            if not s.posted_checkout and s.abandoned_at <= t:
                _post(rt, "checkouts/create", _checkout(s))
                s.posted_checkout = posted = True
            if s.bought_at is None and s.organic_at is not None and s.organic_at <= t:
                s.bought_at = s.organic_at
            if s.bought_at is not None and not s.posted_order and s.bought_at <= t:
                _post(rt, "orders/create", _order(s))
                s.posted_order = posted = True
        if posted:
            flush_enqueues()
            _drain_webhooks(rt)
        if any(t - TICK < s.abandoned_at + ABANDONED_AFTER <= t for s in shoppers):
            run_rescue(shop_id, now=t)  # as the cron would, once a checkout has become abandoned
        due = _next_send(rt, shop_id)
        if due is not None and due <= t:
            relay_due(shop_id, "email", now=t)
        for received in smtp.messages[seen:]:
            s = by_email.get(received.rcpt_tos[0])
            if s is None:
                continue
            mails += 1
            if s.first_mail_at is not None:
                continue
            s.first_mail_at = t
            uplift = truth.uplift.get(arm_of(t - s.abandoned_at), 0.0)
            if s.bought_at is None and s.organic_at is None and s.draw < uplift:
                s.bought_at = t + timedelta(minutes=30)  # back to the cart from the e-mail
        seen = len(smtp.messages)
        t += TICK
    flush_enqueues()
    rt.wait_idle(settle=0.1)
    return mails


def _drain_webhooks(rt: Any, timeout: float = 120.0) -> None:
    """Until every webhook delivered so far is handled (its inbox row done): the mirror is up to date. Follow-up
    jobs such as profile refreshes may still run; the rescue job does not read them."""
    from sqlalchemy import func
    from sqlmodel import Session, select

    from app.db import get_engine
    from app.models.inbox import PENDING, WebhookInbox

    deadline = time.monotonic() + timeout
    with Session(get_engine(rt.settings.database_url)) as session:
        pending = select(func.count()).where(
            WebhookInbox.shop_domain == DOMAIN, WebhookInbox.status == PENDING
        )
        while session.exec(pending).one():
            if time.monotonic() > deadline:
                raise RuntimeError("the webhook inbox did not drain")
            session.rollback()
            time.sleep(0.01)


def _next_send(rt: Any, shop_id: int) -> datetime | None:
    """When the shop's next pending message is due (the relay has nothing to do before)."""
    from sqlalchemy import func
    from sqlmodel import Session, select

    from app.db import get_engine
    from app.models.messaging import PENDING, OutboxMessage

    with Session(get_engine(rt.settings.database_url)) as session:
        return session.exec(
            select(func.min(OutboxMessage.send_at)).where(
                OutboxMessage.shop_id == shop_id, OutboxMessage.status == PENDING
            )
        ).one()


def _measure(rt: Any) -> dict[str, Any]:
    r = requests.get(f"{rt.app_url}/api/admin/rescue?window_days=7", headers=_auth(rt), timeout=60)
    if r.status_code != 200:
        raise RuntimeError(f"rescue readout: HTTP {r.status_code} {r.text[:200]}")
    return r.json()
