"""Two deciders of one shop at the same instant (issue 20): threads with their own connections, each holding its
transaction open a moment after deciding, as a storefront request does until it commits. The per-shop lock of
``decide_offer`` makes the second one read the first one's reservation: when the weekly budget allows one offer
only one is reserved, and one shopper gets one offer in 30 days however many proposals ask at once. Runs on
SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlmodel import Session, select

from app.agents.pricing import in_control
from app.db import get_engine, session_scope
from app.models.commerce import Checkout
from app.models.pricing import PricingArmStats, PricingOffer
from app.models.shop import Shop
from app.orchestrator.proposal import Shopper
from app.stores.pricing import MODEL, save_policy, save_unit_costs
from app.stores.pricing_offers import Ask, decide_offer
from tests.test_pricing_agent import learned

VARIANT = 5005
SENSITIVE = {"price_sensitivity": 0.9, "intent": 0.5, "clv": 100.0}


def _shop(url: str, budget: float) -> tuple[int, list[int]]:
    """A shop whose model has learned that sensitive shoppers respond to 10 % codes (the only offer arm), and
    treated customers who each abandoned a checkout two hours ago (so the live one is a second hesitation)."""
    now = datetime.now(UTC)
    with session_scope(url) as s:
        shop = Shop(domain="race.myshopify.com", installed_at=now)
        s.add(shop)
        s.flush()
        shop_id = shop.id
        assert shop_id is not None
        save_policy(s, shop_id, {"weekly_budget": budget, "arms": [{"key": "none", "kind": "none"},
                                                                 {"key": "pct10", "kind": "percentage", "value": 10}]})  # fmt: skip
        save_unit_costs(s, shop_id, {VARIANT: Decimal("40.00")})
        s.add(PricingArmStats(shop_id=shop_id, arm=MODEL, stats=learned().to_json()))
        treated = [c for c in range(100, 160) if not in_control(shop_id, f"customer:{c}", 0.10)][:6]
        for c in treated:
            s.add(Checkout(shop_id=shop_id, token=f"tok-{c}", customer_shopify_id=c,
                           shopify_created_at=now - timedelta(hours=2)))  # fmt: skip
    return shop_id, treated


def _race(url: str, shop_id: int, asks: list[Ask]) -> list[PricingOffer]:
    """Each ask decided in its own thread and connection, started together; each commits 0.4 s after deciding."""
    start = threading.Barrier(len(asks))
    out: dict[int, PricingOffer] = {}
    errors: list[BaseException] = []

    def decide(i: int, ask: Ask) -> None:
        try:
            with Session(get_engine(url), expire_on_commit=False) as s:
                start.wait(10)
                row, _ = decide_offer(s, shop_id, ask, datetime.now(UTC))
                time.sleep(0.4)  # the rest of the request, before its commit
                s.commit()
                out[i] = row
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=decide, args=(i, a)) for i, a in enumerate(asks)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return [out[i] for i in range(len(asks))]


def _ask(cid: int, key: str) -> Ask:
    return Ask(key=key, agent="nudge", shopper=Shopper(customer_id=cid), cart_value=80.0, lines=[(VARIANT, 1)],
               features=SENSITIVE, live_hesitation=True)  # fmt: skip


def _alone(url: str, shop_id: int, asks: list[Ask]) -> None:
    """Each ask, decided alone (a preview: nothing recorded), would be offered a code."""
    with session_scope(url) as s:
        for ask in asks:
            row, _ = decide_offer(s, shop_id, ask, datetime.now(UTC), record=False)
            assert row.status == "pending", row.reason


def _pending(url: str, shop_id: int) -> list[PricingOffer]:
    with session_scope(url) as s:
        return list(
            s.exec(
                select(PricingOffer).where(PricingOffer.shop_id == shop_id, PricingOffer.status == "pending")
            )
        )


def test_a_budget_for_one_offer_reserves_one_under_concurrent_deciders(settings):
    url = settings.database_url
    shop_id, treated = _shop(url, budget=10.0)  # one 10 % code of an 80.00 cart: 8.00; two: 16.00
    asks = [_ask(treated[0], "nudge:a"), _ask(treated[1], "nudge:b")]
    _alone(url, shop_id, asks)  # either would get the one offer the budget allows
    rows = _race(url, shop_id, asks)
    assert sorted(r.status for r in rows) == ["no_offer", "pending"], [r.reason for r in rows]
    assert len(_pending(url, shop_id)) == 1


def test_one_shopper_gets_one_offer_from_concurrent_proposals(settings):
    url = settings.database_url
    shop_id, treated = _shop(url, budget=1000.0)
    asks = [_ask(treated[2], f"nudge:s{i}") for i in range(3)]
    _alone(url, shop_id, asks)
    rows = _race(url, shop_id, asks)
    assert sorted(r.status for r in rows) == ["no_offer", "no_offer", "pending"], [r.reason for r in rows]
    assert [r.shopper_key for r in _pending(url, shop_id)] == [f"customer:{treated[2]}"]


def test_the_same_key_decided_twice_at_once_is_one_decision(settings):
    url = settings.database_url
    shop_id, treated = _shop(url, budget=1000.0)
    rows = _race(url, shop_id, [_ask(treated[3], "nudge:same"), _ask(treated[3], "nudge:same")])
    assert {r.id for r in rows} == {rows[0].id} and rows[0].status == "pending"
    assert len(_pending(url, shop_id)) == 1
