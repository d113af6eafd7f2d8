"""The live nudge sessions in Redis: the request path reads and writes a session's fold there (one round trip
each way: the read shares the rate limit's) and the database only when it decides, so most hesitation signals
cost no database write, and (with the session's reads cached for ``READS_TTL_S``) most cost no query either. A set of
changed sessions lets ``app.jobs.nudge.persist_live_sessions`` (every minute) upsert them into ``nudge_session``,
where the nightly risk layer and the readout read them. The decision itself is always written to the database
in the request's transaction, and re-checked there, so a lost Redis entry never decides a session twice."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from redis import Redis
from sqlmodel import Session, select

from app.modelling.hesitation import CHECKOUT_STEPS
from app.models.nudge import NudgeSession

PREFIX = "attune:nudge:live"
DIRTY = "attune:nudge:dirty"
TTL_S = 2 * 86_400
# The session's database reads (the shopper's intent prior, the pixel's checkout steps) are kept this long beside
# the fold, so most signals of a session cost no database query; a return from checkout re-reads the steps.
READS = "attune:nudge:reads"
READS_TTL_S = 60
# The pixel's checkout steps of each browser, as the pixel ingress writes them after its commit (``record_steps``):
# ``name epoch;`` appended per step, kept ``STEPS_TTL_S`` after the last. ``STEPS_SINCE`` holds when the ingress
# first wrote one (no expiry): once that is a lookback ago, a browser without the key has no recent step, and the
# nudge reads the steps here, in its rate limit's round trip, instead of querying ``pixel_event``.
STEP_EVENTS = (*CHECKOUT_STEPS, "checkout_completed")
STEPS = "attune:steps"
STEPS_SINCE = "attune:steps:since"
STEPS_TTL_S = 3 * 3600
FIELDS = (
    "client_id",
    "customer_shopify_id",
    "cart_token",
    "holdout",
    "state",
    "features",
    "risk",
    "cart_value",
    "events",
    "action",
    "rung",
    "reason",
)
TIMES = ("decided_at", "started_at", "updated_at")


@dataclass(slots=True)
class LiveSession:
    """A live session as Redis holds it: ``NudgeSession``'s fields on a plain object. The request path builds one
    per request; an ORM instance would cost its instrumentation (about 0.4 ms of a signal's 3 ms in-process)
    for a row that is only copied onto the database row when the session decides or is persisted."""

    shop_id: int
    session_key: str
    client_id: str | None = None
    customer_shopify_id: int | None = None
    cart_token: str | None = None
    holdout: bool = False
    state: dict[str, Any] = field(default_factory=dict)
    features: dict[str, Any] = field(default_factory=dict)
    risk: float | None = None
    cart_value: float = 0.0
    events: int = 0
    action: str | None = None
    rung: str | None = None
    reason: str | None = None
    decided_at: datetime | None = None
    started_at: datetime | None = None
    updated_at: datetime | None = None


def _key(shop_id: int, session_key: str) -> str:
    return f"{PREFIX}:{shop_id}:{session_key}"


def _dump(row: LiveSession | NudgeSession) -> str:
    data: dict[str, Any] = {f: getattr(row, f) for f in FIELDS}
    data.update({t: getattr(row, t).isoformat() if getattr(row, t) else None for t in TIMES})
    return json.dumps(data, separators=(",", ":"))


def _load(shop_id: int, session_key: str, raw: bytes | str) -> LiveSession:
    data = json.loads(raw)
    times = {t: datetime.fromisoformat(data[t]) if data.get(t) else None for t in TIMES}
    fields = {f: data.get(f) for f in FIELDS}
    fields["holdout"] = bool(fields["holdout"])
    fields["state"], fields["features"] = fields["state"] or {}, fields["features"] or {}
    fields["cart_value"], fields["events"] = fields["cart_value"] or 0.0, fields["events"] or 0
    return LiveSession(shop_id, session_key, **fields, **times)


def load(redis: Redis, shop_id: int, session_key: str) -> LiveSession | None:
    """The session as the last request left it (a transient row, not in any database session), or None."""
    raw = redis.get(_key(shop_id, session_key))
    return None if raw is None else _load(shop_id, session_key, raw)


def keys(shop_id: int, session_key: str) -> tuple[str, str]:
    """The session's live key and its reads key, for a caller that reads them in its own round trip."""
    return _key(shop_id, session_key), f"{READS}:{shop_id}:{session_key}"


def steps_keys(shop_id: int, client_id: str | None) -> tuple[str, str]:
    """The browser's checkout-steps fact and the facts' start marker (read beside the live fold)."""
    return f"{STEPS}:{shop_id}:{client_id or ''}", STEPS_SINCE


def record_steps(redis: Redis, shop_id: int, client_id: str, steps: Iterable[tuple[str, float]]) -> None:
    """Append a browser's checkout steps (name, epoch seconds) to its fact, in one round trip."""
    text = "".join(f"{name} {at:.3f};" for name, at in steps)
    if not text:
        return
    key, since = steps_keys(shop_id, client_id)
    pipe = redis.pipeline(transaction=False)
    pipe.append(key, text)
    pipe.expire(key, STEPS_TTL_S)
    pipe.set(since, f"{time.time():.3f}", nx=True)
    pipe.execute()


def parse_steps(
    raw: bytes | str | None, since: bytes | str | None, cutoff: float
) -> list[tuple[str, float]] | None:
    """The browser's steps at or after ``cutoff`` (epoch seconds) from its fact; None when the facts do not
    reach back to ``cutoff`` yet (or are unreadable): then the database answers."""
    try:
        if since is None or float(since) > cutoff:
            return None
        text = raw.decode() if isinstance(raw, bytes) else (raw or "")
        found = [(n, float(at)) for n, _, at in (e.partition(" ") for e in text.split(";") if e)]
    except ValueError:
        return None
    return [(n, at) for n, at in found if at >= cutoff]


def parse(shop_id: int, session_key: str, raw: bytes | str | None) -> LiveSession | None:
    return None if raw is None else _load(shop_id, session_key, raw)


def parse_reads(raw: bytes | str | None) -> dict[str, Any]:
    """The session's cached database reads (``intent``, ``steps``, each with its read time ``*_at``)."""
    try:
        found = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def save(redis: Redis, row: LiveSession | NudgeSession, reads: dict[str, Any] | None = None) -> None:
    """The session's fold (and, when this request read the database, those reads: ``READS_TTL_S``)."""
    pipe = redis.pipeline(transaction=False)
    pipe.set(_key(row.shop_id, row.session_key), _dump(row), ex=TTL_S)
    pipe.sadd(DIRTY, f"{row.shop_id}:{row.session_key}")
    if reads:
        pipe.set(
            keys(row.shop_id, row.session_key)[1], json.dumps(reads, separators=(",", ":")), ex=READS_TTL_S
        )
    pipe.execute()


def copy_into(target: NudgeSession, live: LiveSession | NudgeSession) -> NudgeSession:
    """``live``'s fold onto the database row (a decision already on the row is kept)."""
    for f in FIELDS + ("started_at", "updated_at"):
        if f in ("action", "rung", "reason") and target.decided_at is not None:
            continue
        setattr(target, f, getattr(live, f))
    return target


def take_dirty(redis: Redis, limit: int) -> list[LiveSession]:
    """Pop up to ``limit`` changed sessions and read them (those expired meanwhile are skipped)."""
    members = redis.spop(DIRTY, limit) or []
    keys = [m.decode() if isinstance(m, bytes) else m for m in members]
    pairs = [(int(k.split(":", 1)[0]), k.split(":", 1)[1]) for k in keys]
    raws = redis.mget([_key(s, k) for s, k in pairs]) if pairs else []
    return [_load(s, k, raw) for (s, k), raw in zip(pairs, raws, strict=True) if raw is not None]


def persist(session: Session, rows: Iterable[LiveSession]) -> int:
    """Upsert live sessions into ``nudge_session`` (scoped by shop and key). Returns how many."""
    n = 0
    for live in rows:
        row = session.exec(
            select(NudgeSession).where(
                NudgeSession.shop_id == live.shop_id, NudgeSession.session_key == live.session_key
            )
        ).first()
        if row is None:
            row = NudgeSession(shop_id=live.shop_id, session_key=live.session_key)
        session.add(copy_into(row, live))
        n += 1
    return n
