"""Guests' abandoned checkouts in the admin's recovery readout (``/api/admin/rescue``): a guest checkout (no
customer account) is recovered when an order carrying the checkout's e-mail address (trimmed, lower case) is
placed within the window after its decision, with or without an account; treated vs held out, the incremental
difference with its interval, revenue after discounts, beside customers' checkouts and in the overall figure."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import jwt
import pytest
from sqlalchemy import event

from app.db import session_scope
from app.measurement.rescue import CheckoutExposure, OrderFact, guardrail, readout
from app.models.commerce import Checkout, Order
from app.models.guests import GuestContact, guest_id
from app.models.messaging import MessageDecision
from app.models.shop import Shop
from app.stores.rescue import orders_since
from tests.conftest import TEST_API_KEY, TEST_API_SECRET

DOMAIN = "guests.myshopify.com"


def _token() -> str:
    now = int(time.time())
    claims = {"iss": f"https://{DOMAIN}/admin", "dest": f"https://{DOMAIN}", "aud": TEST_API_KEY, "sub": "1",
              "exp": now + 60, "nbf": now - 5, "iat": now - 5, "jti": "j", "sid": "s"}  # fmt: skip
    return jwt.encode(claims, TEST_API_SECRET, algorithm="HS256")


def _decision(shop_id: int, token: str, arm: str, at: datetime, *, cid=None, client=None) -> MessageDecision:
    key = f"customer:{cid}" if cid is not None else f"client:{client}"
    return MessageDecision(
        shop_id=shop_id, agent="rescue", shopper_key=key, customer_shopify_id=cid, client_id=client,
        purpose="marketing", action="hold_out" if arm == "holdout" else "send", arm=arm, reason="r",
        proposal_reason="r", dedupe_key=f"rescue:{token}:1", template="message", decided_at=at,
        features={"checkout_token": token, "delay_h": 24, "cart_value": 40.0, "step": 1, "source": "guest"},
    )  # fmt: skip


def _order(shop_id: int, n: int, at: datetime, email: str, *, cid=None, discount="0") -> Order:
    return Order(shop_id=shop_id, shopify_id=n, customer_shopify_id=cid, email=email, test=False, processed_at=at,
                 total_price=Decimal("36.00"), total_discounts=Decimal(discount), currency="USD")  # fmt: skip


@pytest.fixture
def guests_seeded(jobs_env):
    """30 treated guest checkouts, 15 recovered (one through an order placed with a new account, one whose
    checkout row is gone and whose address comes from ``guest_contact``); 30 held out, 3 recovered; orders that
    must not count: one 8 days after its decision, one before it, one test order, one from another address.
    Beside them 10 customers' checkouts (5 treated, 2 recovered; 5 held out, none)."""
    at = datetime.now(UTC) - timedelta(days=10)
    with session_scope(jobs_env.database_url) as s:
        shop = Shop(domain=DOMAIN, access_token_enc="x", installed_at=at)
        s.add(shop)
        s.flush()
        sid, n = shop.id, 0
        for arm, recovered in (("treatment", 15), ("holdout", 3)):
            for i in range(30):
                n += 1
                email = f"guest{n}@example.com"
                token, client = f"gtok-{n}", guest_id(sid, email)
                s.add(_decision(sid, token, arm, at, client=client))
                if n == 2:  # the checkout row was purged: the guest's recorded address stands in
                    s.add(GuestContact(shop_id=sid, guest_key=client, email=email, email_state="SUBSCRIBED"))
                else:
                    s.add(Checkout(shop_id=sid, token=token, email=f"  Guest{n}@Example.COM ",
                                   shopify_created_at=at - timedelta(hours=2)))  # fmt: skip
                if i < recovered:
                    cid = 777_000 + n if n == 1 else None  # guest 1 created an account at checkout
                    s.add(
                        _order(
                            sid, n, at + timedelta(days=3), f"GUEST{n}@example.com ", cid=cid, discount="4"
                        )
                    )
                elif i == recovered:
                    s.add(_order(sid, n, at + timedelta(days=8), email))  # after the 7-day window
                elif i == recovered + 1:
                    s.add(_order(sid, n, at - timedelta(hours=3), email))  # before the decision
                elif i == recovered + 2:
                    o = _order(sid, n, at + timedelta(days=1), email)
                    o.test = True
                    s.add(o)
        s.add(_order(sid, 9_999, at + timedelta(days=1), "stranger@example.com"))
        for j in range(10):
            cid = 5_000 + j
            s.add(_decision(sid, f"ctok-{cid}", "treatment" if j < 5 else "holdout", at, cid=cid))
            if j < 2:
                s.add(_order(sid, cid, at + timedelta(days=1), f"c{j}@example.com", cid=cid))
        return sid


def test_guest_checkouts_count_in_the_recovery_rate_matched_by_address(client, guests_seeded):
    r = client.get("/api/admin/rescue?window_days=7", headers={"Authorization": f"Bearer {_token()}"})
    assert r.status_code == 200, r.json
    body = r.json
    guests = body["sources"]["guest"]
    assert guests["treated"] == {"checkouts": 30, "recovered": 15, "recovery_rate": 0.5}
    assert guests["holdout"] == {"checkouts": 30, "recovered": 3, "recovery_rate": 0.1}
    inc = guests["incremental_recovery"]
    assert inc["estimate"] == pytest.approx(0.4) and 0.15 < inc["low"] < 0.4 < inc["high"] < 0.65
    # revenue is the orders' total after discounts (36.00), per checkout 0.4 × 36 over 30 treated checkouts
    assert guests["incremental_revenue"]["total"] == pytest.approx(0.4 * 36 * 30, abs=0.05)
    customers = body["sources"]["customer"]
    assert customers["treated"]["recovered"] == 2 and customers["holdout"]["checkouts"] == 5
    overall = body["overall"]
    assert overall["treated"] == {"checkouts": 35, "recovered": 17, "recovery_rate": pytest.approx(17 / 35)}
    assert overall["holdout"]["checkouts"] == 35 and overall["holdout"]["recovered"] == 3
    # the guardrail counts guests' orders too: 3 customers' + 17 recovered guests' + 2 after the window + the
    # stranger's; strategic: the 16 discounted guest orders whose checkout row (by address) is still there
    assert body["guardrail"]["since_launch"] == {
        "orders": 23,
        "strategic": 16,
        "share": pytest.approx(16 / 23),
    }
    assert body["guardrail"]["before_launch"] == {"orders": 2, "strategic": 0, "share": 0.0}


def test_readout_matches_a_guest_by_address_only_within_the_window():
    at = datetime(2026, 5, 1, 12, tzinfo=UTC)
    exposures = [
        CheckoutExposure("a", None, False, 24, at, email="ann@example.com"),
        CheckoutExposure("b", None, True, 24, at, email="bob@example.com"),
        CheckoutExposure("c", None, False, 24, at, email=None),
    ]
    orders = [
        OrderFact(None, at + timedelta(days=2), 30.0, 5.0, email="ann@example.com"),
        OrderFact(None, at + timedelta(days=8), 30.0, 0.0, email="bob@example.com"),
        OrderFact(7, at + timedelta(days=1), 30.0, 0.0, email=None),  # no address: matches no guest
    ]
    body = readout(exposures, [], launch=at, window_days=7, now=at + timedelta(days=9), guest_orders=orders)
    guests = body["sources"]["guest"]
    assert guests["treated"] == {"checkouts": 2, "recovered": 1, "recovery_rate": 0.5}
    assert guests["holdout"]["recovered"] == 0 and body["sources"]["customer"] is None
    assert body["guardrail"]["since_launch"]["orders"] == 0


def test_the_guardrail_counts_guests_orders_by_address_or_number_in_their_shop_only(jobs_env):
    """Guests' orders are matched to their own checkout starts by normalised address, or by number for a
    phone-only checkout, in their shop only, in a fixed number of queries whatever the number of orders."""
    launch = datetime.now(UTC) - timedelta(days=20)
    with session_scope(jobs_env.database_url) as s:
        shop, other = Shop(domain=DOMAIN, installed_at=launch), Shop(domain="other.myshopify.com")
        s.add_all([shop, other])
        s.flush()
        for n in range(60):  # before and since launch: abandoned 2 days before a discounted order
            at = launch + timedelta(days=-10 if n < 30 else 5, hours=n)
            email = f"g{n}@example.com"
            home = other.id if n % 10 == 9 else shop.id  # every tenth checkout is another shop's
            s.add(
                Checkout(
                    shop_id=home,
                    token=f"t{n}",
                    email=email.upper(),
                    shopify_created_at=at - timedelta(days=2),
                )
            )
            s.add(_order(shop.id, 100 + n, at, email, discount="5" if n >= 30 or n % 2 else "0"))
        for n in range(4):  # phone-only guests, since launch
            at, phone = launch + timedelta(days=3, hours=n), f"+1415555267{n}"
            s.add(
                Checkout(
                    shop_id=shop.id, token=f"p{n}", phone=phone, shopify_created_at=at - timedelta(days=1)
                )
            )
            o = _order(shop.id, 900 + n, at, None, discount="5")
            o.phone = phone
            s.add(o)
        s.add(_decision(shop.id, "t0", "treatment", launch, client=guest_id(shop.id, "g0@example.com")))
        ids = shop.id, other.id
    with session_scope(jobs_env.database_url) as s:
        statements: list[str] = []
        listen = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(s.get_bind(), "before_cursor_execute", listen)
        try:
            orders = orders_since(s, ids[0], launch - timedelta(days=30))
        finally:
            event.remove(s.get_bind(), "before_cursor_execute", listen)
    assert (
        len(statements) <= 3
    )  # the orders, the guests' checkouts by address, by number: never one per order
    assert len(orders) == 64 and all(o.customer_id is None for o in orders)
    by_phone = [o for o in orders if o.phone]
    assert len(by_phone) == 4 and all(len(o.checkouts_started) == 1 for o in by_phone)
    assert sum(bool(o.checkouts_started) for o in orders) == 64 - 6  # 6 of the 60 abandoned in another shop
    body = guardrail(orders, launch)
    # before launch: 30 orders, the 15 odd ones discounted, less those whose checkout is another shop's (9, 19, 29)
    assert body["before_launch"] == {"orders": 30, "strategic": 12, "share": pytest.approx(12 / 30)}
    # since launch: 30 by address (27 in this shop) and 4 by number, all discounted
    assert body["since_launch"]["orders"] == 34 and body["since_launch"]["strategic"] == 31
    assert body["status"] == "rose"
