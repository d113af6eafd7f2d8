"""The orchestrator's reads and writes: the facts its policy needs about the shoppers of some proposals, and
the decisions it made, each recorded with its outbox row and the thread's entry in one transaction (the
transactional outbox: the caller commits them together, or none of them). No commits."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import CompoundSelect, Select, bindparam, func, null, or_, text, union_all
from sqlmodel import Session, select

from app.catalog.stock import variant_availability
from app.models.commerce import Customer, Order, Product, ProductVariant
from app.models.messaging import (
    CANCELLED,
    FAILED,
    NO_CHANNEL,
    ConversationMessage,
    MessageDecision,
    OutboxMessage,
)
from app.models.profiles import CustomerProfile
from app.orchestrator.proposal import (
    CHANNELS,
    SUBSCRIBED,
    WEEK,
    Action,
    Decision,
    Proposal,
    Purpose,
    ShopperFacts,
)
from app.orchestrator.timezones import address_timezone
from app.stores.bulk import any_of, execute, insert_rows, one_of, prebuilt
from app.stores.consent import consents_for
from app.stores.conversation import outgoing_entry
from app.stores.guests import guest_contacts, guest_purchases
from app.stores.push import subscribed_keys

BUDGET_CHANNELS = tuple(c for c, spec in CHANNELS.items() if spec.counts_toward_budget)


def lock_shoppers(session: Session, shop_id: int, keys: Sequence[str]) -> None:
    """Serialise deciders of the same shoppers until the transaction ends (PostgreSQL advisory locks, in a
    fixed order). SQLite has one writer at a time: a decider that read before another committed fails its
    write and its job retries."""
    if session.get_bind().dialect.name != "postgresql":
        return
    ordered = sorted(set(keys))
    if not ordered:
        return
    # one round trip: unnest yields the keys in the array's (sorted) order, and the locks are taken row by row
    session.exec(
        text(
            "SELECT pg_advisory_xact_lock(:shop, hashtext(k)) FROM unnest(CAST(:keys AS text[])) AS k"
        ).bindparams(shop=shop_id, keys=ordered)
    ).all()


def out_of_stock_products(session: Session, shop_id: int, product_ids: set[int]) -> frozenset[int]:
    """Products with no sellable variant, or gone from the shop (deleted, not active): the policy's stock step
    at decision time and the relay's just before it sends."""
    if not product_ids:
        return frozenset()
    ids = sorted(product_ids)
    live = {
        p.shopify_id
        for p in session.exec(
            select(Product).where(Product.shop_id == shop_id, one_of(session, Product.shopify_id, ids))
        ).all()
        if p.deleted_at is None and (p.status or "active").lower() == "active"
    }
    variants = session.exec(
        select(ProductVariant).where(
            ProductVariant.shop_id == shop_id, one_of(session, ProductVariant.product_shopify_id, ids)
        )
    ).all()
    sellable = variant_availability(session, shop_id, variants)
    in_stock = {v.product_shopify_id for v in variants if sellable.get(v.shopify_id)}
    with_variants = {v.product_shopify_id for v in variants}
    return frozenset(p for p in ids if p not in live or (p in with_variants and p not in in_stock))


def _browser_zone(contextual: dict[str, Any] | None) -> str | None:
    zone = (contextual or {}).get("time_zone") or {}
    value = zone.get("value") if isinstance(zone, dict) else None
    return value if isinstance(value, str) else None


def last_purchases(session: Session, shop_id: int, customer_ids: Sequence[int]) -> dict[int, datetime]:
    """Customer id → when their latest real (not test) order was placed."""
    if not customer_ids:
        return {}
    params = {"shop_id": shop_id, "ids": sorted(set(customer_ids))}
    rows = execute(session, _last_purchases(session), params).all()
    return {cid: at for cid, at in rows if at is not None}


@prebuilt
def _last_purchases(dialect: str) -> Select:
    o = Order.__table__.c  # type: ignore[attr-defined]
    placed = func.max(func.coalesce(o.processed_at, o.shopify_created_at))
    return (
        select(o.customer_shopify_id, placed)
        .where(
            o.shop_id == bindparam("shop_id"),
            any_of(dialect, o.customer_shopify_id, "ids"),
            o.test.is_(False),
        )
        .group_by(o.customer_shopify_id)
    )


def _customers(session: Session, shop_id: int, customer_ids: Sequence[int]) -> dict[int, Any]:
    """Customer id → (shopify_id, deleted_at, email, phone, default_address), for those with a record."""
    if not customer_ids:
        return {}
    params = {"shop_id": shop_id, "ids": list(customer_ids)}
    return {row.shopify_id: row for row in execute(session, _customer_rows(session), params).all()}


@prebuilt
def _customer_rows(dialect: str) -> Select:
    c = Customer.__table__.c  # type: ignore[attr-defined]
    return select(c.shopify_id, c.deleted_at, c.email, c.phone, c.default_address).where(
        c.shop_id == bindparam("shop_id"), any_of(dialect, c.shopify_id, "ids")
    )


def _history(
    session: Session, shop_id: int, keys: Sequence[str], wanted: set[str], now: datetime
) -> tuple[dict[str, list[datetime]], dict[str, set[str]]]:
    """(shopper key → when their budget-counted marketing messages of the last week went or go out, shopper key →
    which of the ``wanted`` dedupe keys they already have): of their outbox rows only those with a wanted key or
    inside the week, and their held-out decisions with a wanted key, in one query."""
    week_ago = now - WEEK
    params = {"shop_id": shop_id, "keys": list(keys), "wanted": sorted(wanted), "week_ago": week_ago}
    times: dict[str, list[datetime]] = defaultdict(list)
    taken: dict[str, set[str]] = defaultdict(set)
    for key, dedupe_key, purpose, channel, status, sent_at, send_at in execute(
        session, _history_rows(session), params
    ).all():
        if dedupe_key in wanted:
            taken[key].add(dedupe_key)
        counted = purpose == Purpose.MARKETING and channel in BUDGET_CHANNELS
        if counted and status not in (FAILED, CANCELLED) and (sent_at or send_at) > week_ago:
            times[key].append(sent_at or send_at)
    return times, taken


@prebuilt
def _history_rows(dialect: str) -> CompoundSelect:
    o = OutboxMessage.__table__.c  # type: ignore[attr-defined]
    d = MessageDecision.__table__.c  # type: ignore[attr-defined]
    week_ago = bindparam("week_ago", type_=o.send_at.type)
    sent = select(o.shopper_key, o.dedupe_key, o.purpose, o.channel, o.status, o.sent_at, o.send_at).where(
        o.shop_id == bindparam("shop_id"),
        any_of(dialect, o.shopper_key, "keys"),
        or_(any_of(dialect, o.dedupe_key, "wanted"), o.send_at > week_ago, o.sent_at > week_ago),
    )
    held_out = select(  # held-out decisions take their key too: the same proposal is never drawn again
        d.shopper_key, d.dedupe_key, null(), null(), null(), null(), null()
    ).where(
        d.shop_id == bindparam("shop_id"),
        any_of(dialect, d.shopper_key, "keys"),
        d.action == Action.HOLD_OUT.value,
        any_of(dialect, d.dedupe_key, "wanted"),
    )
    return union_all(sent, held_out)


def _browser_zones(session: Session, shop_id: int, keys: Sequence[str]) -> dict[str, str | None]:
    """Shopper key → the time zone the pixel last reported for their browser."""
    if not keys:
        return {}
    return {
        key: _browser_zone(contextual)
        for key, contextual in session.exec(
            select(CustomerProfile.customer_key, CustomerProfile.contextual).where(
                CustomerProfile.shop_id == shop_id,
                one_of(session, CustomerProfile.customer_key, keys),
            )
        ).all()
    }


def load_facts(
    session: Session, shop_id: int, proposals: Sequence[Proposal], now: datetime
) -> dict[str, ShopperFacts]:
    """``Shopper.key`` → what the policy needs to know, for every shopper of ``proposals`` (one shop).

    Only what a decision can use is read, column by column: push subscriptions when a proposal may use push,
    the pixel's browser time zone for shoppers whose address names none (the address wins,
    ``recipient_timezone``), and of the shoppers' outbox rows those with a wanted dedupe key or inside the
    budget's week."""
    keys = sorted({p.shopper.key for p in proposals})
    customer_ids = sorted({p.shopper.customer_id for p in proposals if p.shopper.customer_id is not None})
    customers = _customers(session, shop_id, customer_ids)
    consents = consents_for(session, shop_id, customer_ids)
    bought = last_purchases(session, shop_id, customer_ids)
    times, taken = _history(session, shop_id, keys, {p.dedupe_key for p in proposals}, now)
    out_of_stock = out_of_stock_products(session, shop_id, {i for p in proposals for i in p.product_ids})
    may_push = sorted({p.shopper.key for p in proposals if "push" in p.channels})
    pushable = subscribed_keys(session, shop_id, may_push)  # a push subscription is the shopper's push opt-in
    guests = guest_contacts(session, shop_id, (p.shopper.client_id for p in proposals))
    guests_bought = guest_purchases(session, shop_id, guests.values())

    def guest_of(p: Proposal) -> Any:  # noqa: ANN401 - a GuestContact, for a shopper known by no customer id
        return guests.get(p.shopper.client_id or "") if p.shopper.customer_id is None else None

    def address_of(p: Proposal) -> dict[str, Any]:
        guest = guest_of(p)
        if guest is not None:  # a guest checkout's address
            return {"country_code": guest.country_code, "province_code": guest.province_code}
        customer = customers.get(p.shopper.customer_id) if p.shopper.customer_id is not None else None
        address = (customer.default_address or {}) if customer is not None else {}
        return address if isinstance(address, dict) else {}

    addresses = {p.shopper.key: address_of(p) for p in proposals}
    browser_zones = _browser_zones(
        session,
        shop_id,
        sorted(
            key
            for key, a in addresses.items()
            if address_timezone(a.get("country_code"), a.get("province_code")) is None
        ),
    )
    facts: dict[str, ShopperFacts] = {}
    for p in proposals:
        key, cid = p.shopper.key, p.shopper.customer_id
        customer = customers.get(cid) if cid is not None else None
        reachable = {"onsite"}
        if customer is not None and customer.deleted_at is None:
            reachable.add("flow")
            if customer.email:
                reachable.add("email")
            if customer.phone:
                reachable.add("sms")
        consent = dict(consents.get(cid, {})) if cid is not None else {}
        consent.pop("push", None)
        guest = guest_of(p)
        if guest is not None:  # a guest checkout's number, with the consent its boxes gave
            if guest.email:
                reachable.add("email")
                consent["email"] = guest.email_state
            if guest.phone:
                reachable.add("sms")
                consent["sms"] = guest.sms_state or "NOT_SUBSCRIBED"
        if key in pushable:
            reachable.add("push")
            consent["push"] = SUBSCRIBED
        address = addresses[key]
        facts[key] = ShopperFacts(
            consents=consent,
            reachable=frozenset(reachable),
            country=address.get("country_code"),
            province=address.get("province_code"),
            browser_timezone=browser_zones.get(key),
            marketing_times=tuple(times[key]),
            taken_keys=frozenset(taken[key]),
            last_purchase_at=bought.get(cid)
            if cid is not None
            else guests_bought.get(p.shopper.client_id or ""),
            out_of_stock=out_of_stock,
        )
    return facts


@dataclass(frozen=True)
class Recorded:
    """What ``record_decisions`` stored for one decision: its row's id and, for a message, its outbox row."""

    decision_id: int
    outbox_id: int | None = None
    shop_id: int | None = None
    channel: str | None = None
    send_at: datetime | None = None


def record_decisions(session: Session, decisions: Sequence[Decision], now: datetime) -> list[Recorded]:
    """Add each decision, and for a send or a deferral its outbox row and the thread's entry: one insert per
    table for the whole batch. The caller's commit makes them visible together."""
    decision_ids = insert_rows(session, MessageDecision, [_decision_values(d, now) for d in decisions])
    messages = [
        (i, _outbox_values(d, decision_id, now))
        for i, (d, decision_id) in enumerate(zip(decisions, decision_ids, strict=True))
        if d.creates_message and d.channel is not None and d.send_at is not None
    ]
    outbox_ids = insert_rows(session, OutboxMessage, [values for _, values in messages])
    insert_rows(
        session,
        ConversationMessage,
        [
            outgoing_entry(values, outbox_id)
            for (_, values), outbox_id in zip(messages, outbox_ids, strict=True)
        ],
        returning=False,
    )
    recorded = [Recorded(decision_id) for decision_id in decision_ids]
    for (i, values), outbox_id in zip(messages, outbox_ids, strict=True):
        recorded[i] = Recorded(
            decision_ids[i], outbox_id, values["shop_id"], values["channel"], values["send_at"]
        )
    return recorded


def _decision_values(d: Decision, now: datetime) -> dict[str, Any]:
    p = d.proposal
    return dict(
        shop_id=p.shop_id,
        agent=p.agent,
        shopper_key=p.shopper.key,
        customer_shopify_id=p.shopper.customer_id,
        client_id=p.shopper.client_id,
        purpose=p.purpose.value,
        action=d.action.value,
        arm=d.arm.value,
        channel=d.channel,
        intended_channel=d.intended_channel or NO_CHANNEL,
        send_at=d.send_at,
        timezone=d.timezone,
        reason=d.reason,
        proposal_reason=p.reason,
        expected_value=float(p.expected_value),
        dedupe_key=p.dedupe_key,
        template=p.content.template,
        product_ids=list(p.product_ids),
        features=dict(p.features),
        decided_at=now,
    )


def _outbox_values(d: Decision, decision_id: int, now: datetime) -> dict[str, Any]:
    p = d.proposal
    return dict(
        shop_id=p.shop_id,
        decision_id=decision_id,
        agent=p.agent,
        purpose=p.purpose.value,
        channel=d.channel,
        shopper_key=p.shopper.key,
        customer_shopify_id=p.shopper.customer_id,
        client_id=p.shopper.client_id,
        dedupe_key=p.dedupe_key,
        template=p.content.template,
        data=dict(p.content.data),
        reason=p.reason,
        product_ids=list(p.product_ids),
        cancel_on_purchase=p.cancel_on_purchase,
        address=p.requested.get(d.channel or ""),
        proposed_at=p.proposed_at or now,
        send_at=d.send_at,
        latest_at=p.latest,
        timezone=d.timezone,
    )
