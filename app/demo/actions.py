"""The demo's agents acting: local sinks for every channel, the sandbox shop's channel settings, storefront
visits that end in browse abandonment, the hourly agent run once, and what was sent, held out, suppressed or
scheduled, and why.

The sinks are the same loopback stand-ins the tests use: an SMTP server (aiosmtpd) that keeps every e-mail,
Twilio's Messages API that the real SDK talks to, and a push service that checks each push's VAPID token and
decrypts it as the browser would. Nothing leaves the machine.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from sqlmodel import Session, select

from app import tasks
from app.channels.email_loopback import LoopbackSmtp, SmtpInbox
from app.channels.push_loopback import LoopbackPush
from app.channels.sms_loopback import LoopbackTwilio
from app.crypto import TokenCipher
from app.db import get_engine
from app.demo.replay import UA_DESKTOP, Meter, _event, _variant_info, post_pixel
from app.demo.runtime import DemoRuntime
from app.demo.sample import DemoPlan
from app.models.messaging import PENDING, MessageDecision, OutboxMessage
from app.models.shop import Shop
from app.shopify.verify import proxy_signature
from app.stores.channels import save_email_settings
from app.stores.sms import save_sms_settings

TWILIO_SID, TWILIO_TOKEN = "ACdemo0000000000000000000000000000", "demo-auth-token"
BROWSERS = 0.25  # share of the replayed customers who also browse a product twice and leave it
FAST_FORWARD_HOURS = 24  # the demo shows what the next day's relay runs would send


@dataclass
class Sinks:
    """The local stand-ins the demo's messages arrive at."""

    smtp: LoopbackSmtp = field(default_factory=LoopbackSmtp)
    inbox: SmtpInbox = field(init=False)
    sms: LoopbackTwilio = field(default_factory=lambda: LoopbackTwilio({TWILIO_SID: TWILIO_TOKEN}))
    push: LoopbackPush = field(default_factory=LoopbackPush)

    def __post_init__(self) -> None:
        self.inbox = SmtpInbox(self.smtp)

    def start(self) -> Sinks:
        self.smtp.start()
        self.inbox.start()
        self.sms.start()
        self.push.__enter__()
        os.environ["ATTUNE_TWILIO_API_URL"] = self.sms.url  # read when the runtime loads its settings
        return self

    def stop(self) -> None:
        self.inbox.stop()
        self.smtp.stop()
        self.sms.stop()
        self.push.__exit__(None, None, None)

    def urls(self) -> dict[str, str]:
        return {
            "SMTP sink": self.smtp.url,
            "E-mail sink (each message as the shopper sees it)": self.inbox.url,
            "SMS sink (Twilio Messages API)": self.sms.url,
            "Push sink (decrypts each push)": self.push.url,
        }


def configure_channels(rt: DemoRuntime, shop_id: int, sinks: Sinks) -> None:
    """The sandbox merchant's channel settings, pointing at the sinks."""
    cipher = TokenCipher(rt.settings.encryption_keys)
    with Session(get_engine(rt.settings.database_url)) as session:
        save_email_settings(
            session,
            cipher,
            shop_id,
            {
                "shop_name": "Attune Demo Shop",
                "from_name": "Attune Demo Shop",
                "from_address": "hello@attune-demo.test",
                "postal_address": "1 Demo Street, London EC1A 1BB, United Kingdom",
            },
            sinks.smtp.url,
        )
        save_sms_settings(
            session,
            cipher,
            shop_id,
            {"account_sid": TWILIO_SID, "from_number": "+447700900000", "shop_name": "Attune Demo Shop"},
            TWILIO_TOKEN,
        )
        session.commit()


def browse_visits(rt: DemoRuntime, shop: str, plan: DemoPlan, meter: Meter, now: datetime) -> int:
    """A quarter of the replayed buyers come back twice after their last order, look at a product they never bought, and
    leave without carting it: on the same browser as their order sessions (stitched to them by their orders'
    cart tokens, a verified link). Returns how many."""
    with Session(get_engine(rt.settings.database_url)) as session:
        key = session.exec(select(Shop.pixel_key).where(Shop.domain == shop)).one()
    rng = random.Random(7)
    buyers = sorted({o["customer_id"] for o in plan.live_orders})
    chosen = rng.sample(buyers, max(1, int(len(buyers) * BROWSERS))) if buyers else []
    bought: dict[int, set[int]] = {}
    last_order: dict[int, datetime] = {}
    for order in plan.history_orders + plan.live_orders:
        bought.setdefault(order["customer_id"], set()).update(ln["variant_id"] for ln in order["lines"])
        at = order["created_at"]
        last_order[order["customer_id"]] = max(at, last_order.get(order["customer_id"], at))
    variants = [p["variants"][0]["id"] for p in plan.products]
    http = requests.Session()
    for cid in chosen:
        fresh = [v for v in variants if v not in bought.get(cid, set())]
        if not fresh:
            continue
        v = _variant_info(rt, shop, rng.choice(fresh))
        url = f"https://{shop}/products/{v['_handle']}"
        data = {"variant": {k: x for k, x in v.items() if not k.startswith("_")}}
        # two looks after their last order (the agent skips a shopper who bought since), the later one at
        # least ten minutes ago
        since = max(last_order.get(cid, now - timedelta(days=3)), now - timedelta(days=3))
        span = max((now - timedelta(minutes=10) - since).total_seconds(), 60.0)
        looks = sorted(
            min(since + timedelta(seconds=span * rng.uniform(f, f + 0.4)), now - timedelta(seconds=1))
            for f in (0.1, 0.5)
        )
        events = [_event("product_viewed", at, url, UA_DESKTOP, "", data) for at in looks]
        post_pixel(rt, meter, shop, key, f"client-{cid}", cid, events, http)
    return len(chosen)


def _signed(rt: DemoRuntime, shop: str, client_id: str) -> str:
    """An app-proxy query for an anonymous visitor, signed as Shopify signs it."""
    pairs = [
        ("shop", shop),
        ("logged_in_customer_id", ""),
        ("path_prefix", "/apps/attune"),
        ("timestamp", str(int(datetime.now(UTC).timestamp()))),
        ("client_id", client_id),
    ]
    pairs.append(("signature", proxy_signature(pairs, rt.settings.shopify_api_secret)))
    return "&".join(f"{k}={v}" for k, v in pairs)


def anonymous_push_visits(
    rt: DemoRuntime, shop: str, plan: DemoPlan, meter: Meter, sinks: Sinks, now: datetime, count: int = 6
) -> int:
    """Visitors who never signed in press the assistant's "Turn on notifications" (a subscription from the push
    sink, as a browser's ``PushManager`` would make it, posted through the app proxy), then look at a product
    twice this week and leave it: push is the only channel they opted in to. Returns how many subscribed."""
    with Session(get_engine(rt.settings.database_url)) as session:
        key = session.exec(select(Shop.pixel_key).where(Shop.domain == shop)).one()
    rng = random.Random(11)
    variants = [p["variants"][0]["id"] for p in plan.products]
    http = requests.Session()
    subscribed = 0
    for n in range(count):
        client = f"anon-push-{n}"
        query = _signed(rt, shop, client)
        vapid = http.get(f"{rt.app_url}/proxy/push/key?{query}", timeout=30).json()["public_key"]
        body = sinks.push.new_subscription(application_server_key=vapid)
        answer = http.post(f"{rt.app_url}/proxy/push/subscribe?{query}", json=body, timeout=30)
        subscribed += answer.status_code in (200, 201)
        v = _variant_info(rt, shop, rng.choice(variants))
        url = f"https://{shop}/products/{v['_handle']}"
        data = {"variant": {k: x for k, x in v.items() if not k.startswith("_")}}
        # at this time of day, two and one days ago: the visitor's usual hour is now
        ago = (timedelta(days=2, seconds=rng.randint(0, 50)), timedelta(days=1, seconds=rng.randint(0, 50)))
        events = [_event("product_viewed", now - d, url, UA_DESKTOP, "", data) for d in ago]
        post_pixel(rt, meter, shop, key, client, None, events, http)
    return subscribed


def run_agents(rt: DemoRuntime, shop_id: int) -> None:
    """The hourly browse-abandonment run, now; the relay sends what is due through the sinks."""
    tasks.run_browse_abandonment(rt.redis_url, shop_id)
    rt.wait_idle()


def fast_forward(
    rt: DemoRuntime, shop_id: int, now: datetime, hours: int = FAST_FORWARD_HOURS
) -> dict[str, int]:
    """Move the relay's clock through the next ``hours``: the demo runs the real relay job at each pending
    message's scheduled time, as the outbox sweeper would when that hour comes, so the sinks show what the
    shoppers would receive instead of an empty inbox. Quiet hours, the contact budget and each message's latest
    send time are checked at that moment, exactly as they will be. Returns how many relay runs it made and how
    many rows ended in each status."""
    from app.jobs.outbox import relay_due  # the job itself, in this process: the demo is a composition root

    until = now + timedelta(hours=hours)
    with Session(get_engine(rt.settings.database_url)) as session:
        pending = session.exec(
            select(OutboxMessage.send_at, OutboxMessage.channel).where(
                OutboxMessage.shop_id == shop_id,
                OutboxMessage.status == PENDING,
                OutboxMessage.send_at <= until,
            )
        ).all()
    moments = sorted({(_aware(at), channel) for at, channel in pending})
    counts: Counter[str] = Counter()
    for at, channel in moments:
        counts.update(relay_due(shop_id, channel, now=max(at, now)))
    return {"hours": hours, "relay_runs": len(moments), **dict(counts)}


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def action_summary(rt: DemoRuntime, shop_id: int, sinks: Sinks) -> dict[str, Any]:
    """What the agents decided and what arrived at the sinks."""
    with Session(get_engine(rt.settings.database_url)) as session:
        decisions = session.exec(select(MessageDecision).where(MessageDecision.shop_id == shop_id)).all()
        outbox = {
            m.decision_id: m
            for m in session.exec(select(OutboxMessage).where(OutboxMessage.shop_id == shop_id)).all()
        }
    actions = Counter(d.action for d in decisions)
    channels = Counter(d.channel for d in decisions if d.action in ("send", "defer"))
    reasons = Counter(d.reason for d in decisions if d.action == "suppress")
    scheduled = sorted(
        (outbox[d.id].send_at, d.timezone or "UTC")
        for d in decisions
        if d.action == "defer" and d.id in outbox and outbox[d.id].status == PENDING
    )
    emails, sms = sinks.smtp.messages, sinks.sms.messages
    return {
        "decisions": len(decisions),
        "by_action": dict(actions),
        "by_channel": dict(channels),
        "suppressed_because": dict(reasons.most_common(5)),
        "outbox": dict(Counter(m.status for m in outbox.values())),
        "sent_by_channel": dict(Counter(m.channel for m in outbox.values() if m.status == "sent")),
        "first_scheduled": [scheduled[0][0].astimezone(UTC).isoformat(), scheduled[0][1]]
        if scheduled
        else None,
        "emails_received": len(emails),
        "sms_received": len(sms),
        "pushes_received": len(sinks.push.received),
        "example_email": (
            {"to": emails[0].rcpt_tos[0], "subject": str(emails[0].message["Subject"])} if emails else None
        ),
        "example_sms": {"to": sms[0].to, "body": sms[0].body} if sms else None,
        "example_reason": next((d.proposal_reason for d in decisions), None),
    }


def render_actions(summary: dict[str, Any]) -> list[str]:
    """The summary's lines about the agents acting."""
    a = summary
    lines = [
        f"Agents acting (browse abandonment): {a['decisions']} decisions: "
        + ", ".join(f"{k} {v}" for k, v in sorted(a["by_action"].items())),
        f"  channels chosen: {a['by_channel'] or '-'}; outbox: {a['outbox'] or '-'}",
        f"  arrived: {a['emails_received']} e-mails at the SMTP sink, {a['sms_received']} SMS at the SMS sink, "
        f"{a['pushes_received']} pushes at the push sink",
    ]
    if a["example_reason"]:
        lines.append(f"  why: {a['example_reason']}")
    if a["example_email"]:
        lines.append(f"  e.g. to {a['example_email']['to']}: {a['example_email']['subject']}")
    if a.get("example_sms"):
        lines.append(f"  e.g. SMS to {a['example_sms']['to']}: {a['example_sms']['body']}")
    ff = a.get("fast_forward")
    if ff:
        lines.append(
            f"  deferred to each shopper's best hour and outside quiet hours, then sent by {ff['relay_runs']} "
            f"relay runs over the next {ff['hours']} h, which the demo fast-forwards its clock through"
        )
    if a["first_scheduled"]:
        lines.append(
            f"  still waiting after that: first at {a['first_scheduled'][0]} ({a['first_scheduled'][1]})"
        )
    for reason, n in a["suppressed_because"].items():
        lines.append(f"  suppressed {n}: {reason}")
    return lines
