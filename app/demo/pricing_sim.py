"""``attune simulate pricing``: a closed-loop check of the pricing agent through the real app.

Synthetic shoppers (``app.demo.pricing_truth``: price-sensitivity segments, strategic waiters, margins 25-65 %)
go through the demo runtime (Flask, RQ workers, the fake Shopify) over HTTP:

1. the app is installed through OAuth (with ``write_discounts``); the merchant sets a weekly budget and the
   shipping cost through the admin API; the five products' unit costs are stored;
2. before the run, every shopper who is not hesitating for the first time has an earlier abandoned checkout
   (a signed ``checkouts/create``), and every strategic waiter twice ordered with a code a day after abandoning
   (signed ``checkouts/create`` and ``orders/create``): the app sees their history only through webhooks;
3. simulated time advances day by day; each shopper abandons a checkout on their day and the asking agent's
   job calls ``offer_for`` with the profile's (noisy) scores: every guardrail, the bandit, and for an offer a
   customer-specific code created in the fake Shopify through the Admin API;
4. the shopper buys within the 14 days with the probability the truth gives for the offer they actually got
   (a code only when the app created one), redeeming it (a signed ``orders/create`` carrying the code);
5. each simulated day the settle job closes the 14-day windows that ended, and the model learns from them.

It reports the incremental margin per eligible shopper (true expected margin under the arm given, minus no
offer) of Attune's choices, of 10 % for everyone, of fixed tiers by segment and of the oracle, with 95 %
intervals over shoppers; the regret against the oracle per third of the run; and the app's own readout
(``GET /api/admin/pricing``: realised margin treated vs control).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

from app.demo.pricing_truth import ARMS, SHIPPING, SimShopper, compare, regret_by_part, shoppers, versus
from app.demo.rescue_sim import _quiet

DOMAIN = "pricing-sim.myshopify.com"
PRODUCT0, VARIANT0 = 5100, 51000
BUDGET = 1_000_000.0  # the run measures the policy, not the budget (the tests check the budget)


def days_for(n: int) -> float:
    """The run's length: about 25 hesitating shoppers a day, at least 60 days."""
    return max(60.0, n / 25)


def run(
    n: int,
    seed: int,
    workdir: Path | None = None,
    progress: Callable[[str], None] = lambda _m: None,
    pooled_shops: int = 0,
) -> dict[str, Any]:
    os.environ.setdefault("ATTUNE_EMBEDDER", "hashing")
    from app.demo.runtime import DemoRuntime

    rt = DemoRuntime(workdir=workdir or Path("var/simulate"), port=0, workers=2).start()
    try:
        with _quiet("app", "webhooks", "rq"):
            return simulate_in(rt, n, seed, progress, pooled_shops)
    finally:
        rt.stop()


def simulate_in(
    rt: Any, n: int, seed: int, progress: Callable[[str], None], pooled_shops: int = 0
) -> dict[str, Any]:
    """``pooled_shops``: the installation already holds that many other shops' offer statistics (each learned
    on 3,000 shoppers of another world draw, stored as aggregates the way the app keeps them)."""
    from app.demo.replay import install

    days = days_for(n)
    start = (datetime.now(UTC) - timedelta(days=days + 16)).replace(hour=0, minute=0, second=0, microsecond=0)
    people = shoppers(n, seed, days)
    rt.fake.granted_scopes = rt.settings.scopes + ",write_discounts"
    rt.fake.seed(DOMAIN, customers=[{"id": _cid(s), "email": f"p{_cid(s)}@example.com"} for s in people])
    shop_id = install(rt, DOMAIN)
    rt.wait_idle(settle=0.1)
    _configure(rt, shop_id, people)
    _other_shops(rt, pooled_shops, seed)
    progress(f"{n} shoppers over {days:.0f} simulated days from {start:%Y-%m-%d}")
    _history(rt, people, start)
    given = _loop(rt, shop_id, people, start, days, progress)
    eligible = [(s, given[s.index]) for s in people if not s.first_hesitation]
    return {
        "policies": compare(eligible),
        "shoppers": n,
        "detail": {
            "eligible": len(eligible),
            "regret_by_third": regret_by_part(eligible),
            "versus": {peer: versus(eligible, peer) for peer in ("uniform_10", "segment_tiers")},
            "codes": sum(1 for _, a in eligible if a != "none"),
            "pooled_shops": pooled_shops,
            "readout": _readout(rt),
        },
    }


def _cid(s: SimShopper) -> int:
    return 200_000 + s.index


def _auth(rt: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {rt.fake.session_token(DOMAIN)}"}


def _post(rt: Any, topic: str, payload: dict[str, Any]) -> None:
    from app.shopify.fake.webhooks import deliver_webhook

    response = deliver_webhook(rt.app_url, DOMAIN, topic, payload)
    if response.status_code != 200:
        raise RuntimeError(f"{topic}: HTTP {response.status_code} {response.text[:200]}")


def _variant(s: SimShopper) -> int:
    """Each shopper's cart is one variant of their product at the cart's price (its unit cost follows)."""
    return VARIANT0 + s.index * 10 + s.product


def _configure(rt: Any, shop_id: int, people: list[SimShopper]) -> None:
    from sqlmodel import Session

    from app.db import get_engine
    from app.stores.pricing import save_unit_costs

    r = requests.put(f"{rt.app_url}/api/admin/pricing/settings", headers=_auth(rt), timeout=30,
                     json={"weekly_budget": BUDGET, "shipping_cost": SHIPPING})  # fmt: skip
    if r.status_code != 200:
        raise RuntimeError(f"pricing settings: HTTP {r.status_code} {r.text[:200]}")
    with Session(get_engine(rt.settings.database_url)) as session:
        costs = {_variant(s): Decimal(f"{s.cart * (1 - s.margin_rate):.2f}") for s in people}
        save_unit_costs(session, shop_id, costs)
        session.commit()


def _other_shops(rt: Any, k: int, seed: int) -> None:
    from sqlmodel import Session

    from app.db import get_engine
    from app.demo.pricing_truth import learn_offline
    from app.modelling.offer_response import ModelStats
    from app.models.pricing import PricingArmStats
    from app.models.shop import Shop
    from app.stores.pricing import MODEL

    with Session(get_engine(rt.settings.database_url)) as session:
        for i in range(k):
            own = ModelStats()
            learn_offline(3000, 1000 + seed * 10 + i, learned=own)
            shop = Shop(domain=f"pooled-{i}.myshopify.com")
            session.add(shop)
            session.flush()
            session.add(PricingArmStats(shop_id=shop.id, arm=MODEL, stats=own.to_json()))
        session.commit()


def _line(s: SimShopper) -> dict[str, Any]:
    return {"product_id": PRODUCT0 + s.product, "variant_id": _variant(s), "quantity": 1,
            "title": f"Product {s.product}", "price": f"{s.cart:.2f}"}  # fmt: skip


def _checkout(s: SimShopper, at: datetime, n: int) -> dict[str, Any]:
    cid = _cid(s)
    return {
        "id": cid * 10 + n, "token": f"sim-{cid}-{n}", "cart_token": f"cart-{cid}-{n}",
        "email": f"p{cid}@example.com", "created_at": at.isoformat(), "updated_at": at.isoformat(),
        "completed_at": None, "currency": "USD", "total_price": f"{s.cart:.2f}", "line_items": [_line(s)],
        "customer": {"id": cid, "email": f"p{cid}@example.com", "updated_at": (at - timedelta(days=400)).isoformat()},
    }  # fmt: skip


def _order(s: SimShopper, at: datetime, n: int, code: str | None, discount: float) -> dict[str, Any]:
    cid, total = _cid(s), f"{s.cart - discount:.2f}"
    line = {**_line(s), "id": cid * 10 + n}
    return {
        "id": cid * 10 + n, "name": f"#P{cid}-{n}", "currency": "USD", "test": False, "total_price": total,
        "subtotal_price": total, "total_discounts": f"{discount:.2f}", "created_at": at.isoformat(),
        "processed_at": at.isoformat(), "updated_at": at.isoformat(), "customer": {"id": cid},
        "discount_codes": [{"code": code, "amount": f"{discount:.2f}", "type": "percentage"}] if code else [],
        "line_items": [line],
    }  # fmt: skip


def _history(rt: Any, people: list[SimShopper], start: datetime) -> None:
    """Earlier abandonments (and the waiters' discounted orders after them), before the run."""
    from webhooks.ingest import flush_enqueues

    for s in people:
        if s.first_hesitation:
            continue
        _post(rt, "checkouts/create", _checkout(s, start - timedelta(days=90), 1))
        if s.waits_for_codes:
            for n, back in ((2, 80), (3, 50)):
                at = start - timedelta(days=back)
                _post(rt, "checkouts/create", _checkout(s, at, n))
                _post(rt, "orders/create", _order(s, at + timedelta(days=1), n, "WELCOME10", s.cart * 0.1))
    flush_enqueues()
    rt.wait_idle(settle=0.1)


def _loop(
    rt: Any, shop_id: int, people: list[SimShopper], start: datetime, days: float,
    progress: Callable[[str], None],
) -> dict[int, str]:  # fmt: skip
    """Day by day: settle, abandonments and offers, purchases. Returns the arm each shopper got."""
    from sqlmodel import Session

    from app.db import get_engine
    from app.jobs.pricing import Ask, offer_for, settle_offers
    from app.orchestrator.proposal import Shopper
    from webhooks.ingest import flush_enqueues

    given: dict[int, str] = {}
    purchases: list[tuple[datetime, SimShopper, str | None, float]] = []
    queue = list(people)
    t0 = time.perf_counter()
    for day in range(int(days) + 16):
        today = start + timedelta(days=day)
        settle_offers(shop_id, now=today)
        arriving = [s for s in queue if s.day < day + 1]
        queue = queue[len(arriving) :]
        for s in arriving:
            _post(rt, "checkouts/create", _checkout(s, start + timedelta(days=s.day), 0))
        due = [p for p in purchases if p[0] < today + timedelta(days=1)]
        purchases = [p for p in purchases if p[0] >= today + timedelta(days=1)]
        for at, s, code, discount in due:
            _post(rt, "orders/create", _order(s, at, 0, code, discount))
        if arriving or due:
            flush_enqueues()
            rt.wait_idle(settle=0.05)
        with Session(get_engine(rt.settings.database_url)) as session:
            for s in arriving:
                at = start + timedelta(days=s.day, hours=2)
                ask = Ask(key=f"rescue:sim-{_cid(s)}-0:2", agent="rescue", shopper=Shopper(customer_id=_cid(s)),
                          cart_value=s.cart, lines=[(_variant(s), 1)],
                          features={"price_sensitivity": s.shown.price_sensitivity, "intent": s.shown.intent,
                                    "clv": s.shown.clv})  # fmt: skip
                offer = offer_for(session, rt.settings, shop_id, ask, at)
                session.commit()
                arm = offer.arm if offer.code else "none"
                given[s.index] = arm
                if s.draw < s.p_buy(arm):
                    discount = ARMS[arm].discount(s.cart, SHIPPING)
                    purchases.append((at + timedelta(hours=1 + 300 * s.draw), s, offer.code, discount))
        if day % 10 == 0:
            progress(f"day {day}: {len(given)} shoppers decided, {time.perf_counter() - t0:.0f} s")
    flush_enqueues()
    rt.wait_idle(settle=0.1)
    return given


def _readout(rt: Any) -> dict[str, Any]:
    r = requests.get(f"{rt.app_url}/api/admin/pricing?days=365", headers=_auth(rt), timeout=60)
    if r.status_code != 200:
        raise RuntimeError(f"pricing readout: HTTP {r.status_code} {r.text[:200]}")
    body = r.json()
    keys = ("treated", "control", "incremental_margin_per_shopper", "aov_difference", "discount", "waste")
    return {k: body.get(k) for k in keys}


def render(result: dict[str, Any]) -> list[str]:
    lines = [
        f"{result['shoppers']} shoppers, {result['detail']['eligible']} eligible (past a first hesitation)"
    ]
    for name, p in result["policies"].items():
        lo, hi = p["interval"]
        lines.append(
            f"  {name:<14} incremental margin/shopper {p['incremental_margin']:+.3f}  95% [{lo:+.3f}, {hi:+.3f}]"
        )
    for peer, d in result["detail"]["versus"].items():
        lo, hi = d["interval"]
        lines.append(
            f"  attune − {peer:<13} (paired) {d['incremental_margin']:+.3f}  95% [{lo:+.3f}, {hi:+.3f}]"
        )
    lines.append(f"regret vs oracle by third of the run: {result['detail']['regret_by_third']}")
    ro = result["detail"]["readout"]
    lines.append(f"app readout: incremental margin treated vs control {ro['incremental_margin_per_shopper']}")
    return lines
