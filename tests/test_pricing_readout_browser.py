"""The admin's "Personal offers vs no-offer control" card in a real browser (issue 20): the treated and control
groups' gross margin per eligible shopper and average order value, the incremental margin with its interval
(toned by whether it is above zero), the week's discount spend against the budget, the waste share, and the
seed's "AOV +15–25 %" labelled as a reference; before any decision has finished its 14 days, it says so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from app.db import session_scope
from app.models.pricing import PricingOffer
from tests.browser_support import admin_page, chromium, needs_chromium
from tests.conftest import TEST_API_KEY

# (control, margin, revenue, redeemed discount, P(buy without an offer)) of settled, eligible decisions
SETTLED = [
    (False, 30.0, 70.0, "8.00", 0.2), (False, 30.0, 70.0, "8.00", 0.8), (False, 30.0, 70.0, None, 0.2),
    (False, 20.0, 60.0, None, 0.2), (True, 10.0, 50.0, None, None), (True, 0.0, 0.0, None, None),
    (True, 0.0, 0.0, None, None),
]  # fmt: skip


def _decision(shop_id: int, n: int, at: datetime, **kw) -> PricingOffer:
    control = kw.pop("control", False)
    return PricingOffer(shop_id=shop_id, key=f"rescue:t{n}:3", agent="rescue", shopper_key=f"customer:{n}",
                        customer_shopify_id=n, arm="none" if control else "pct10", control=control,
                        reason="test", cart_value=80.0, cart_cost=40.0, decided_at=at,
                        status="no_offer" if control else "created", **kw)  # fmt: skip


def _seed(db_url: str, shop_id: int, now: datetime) -> None:
    with session_scope(db_url) as s:
        for n, (control, margin, revenue, redeemed, p) in enumerate(SETTLED):
            s.add(_decision(shop_id, n, now - timedelta(days=20), control=control, margin=margin,
                            revenue=revenue, orders=int(revenue > 0), settled_at=now - timedelta(days=5),
                            context={"p_no_offer": p}, discount=None if control else Decimal("8.00"),
                            redeemed_discount=Decimal(redeemed) if redeemed else None,
                            redeemed_at=now - timedelta(days=19) if redeemed else None))  # fmt: skip
        # a live code of this week, not yet redeemed nor settled: it counts against the budget only
        s.add(_decision(shop_id, 99, now - timedelta(days=1), discount=Decimal("12.00"),
                        expires_at=now + timedelta(days=2)))  # fmt: skip


def _admin_url(live_app, domain: str) -> str:
    return live_app.fake.origin_template.format(shop=domain) + f"/admin/apps/{TEST_API_KEY}"


@pytest.mark.browser
@needs_chromium
def test_the_offers_card_shows_the_lift_spend_waste_and_the_reference(live_app, installed_shop):
    _seed(live_app.settings.database_url, installed_shop.id, datetime.now(UTC))
    with chromium() as browser:
        page = admin_page(browser)
        page.goto(_admin_url(live_app, installed_shop.domain))
        card = page.locator("#pricing")
        card.locator("tr[data-group='treated']").wait_for(timeout=15_000)
        assert card.get_attribute("aria-busy") is None
        treated = card.locator("tr[data-group='treated']").inner_text().split("\t")
        control = card.locator("tr[data-group='control']").inner_text().split("\t")
        assert treated[1:] == ["4", "27.50", "67.50"] and control[1:] == ["3", "3.33", "50.00"]
        badge = card.locator(".verdict .badge")
        assert badge.inner_text().startswith("+24.17 [+")
        assert "success" in (badge.get_attribute("class") or "")  # the interval is above zero
        text = card.inner_text()
        assert "Discount this week: 12.00 of a 200.00 budget (6.0 %)" in text
        assert "Redeemed codes: 2, 50.0 % of them by shoppers predicted to buy anyway" in text
        assert "AOV +15–25 %: 15.0 %–25.0 % (reference (a claim, not measured here))" in text
        assert "not measured in your shop" in text


@pytest.mark.browser
@needs_chromium
def test_before_any_window_is_over_the_card_says_so(live_app, installed_shop):
    with session_scope(live_app.settings.database_url) as s:
        s.add(_decision(installed_shop.id, 1, datetime.now(UTC), discount=Decimal("8.00")))
    with chromium() as browser:
        page = admin_page(browser)
        page.goto(_admin_url(live_app, installed_shop.domain))
        note = page.locator("#pricing-body p.muted", has_text="offer decision")
        note.wait_for(timeout=15_000)
        said = note.inner_text()
        assert "1 offer decision(s) in the last 90 days; none has finished its 14 days yet." in said
        assert page.locator("#pricing tr[data-group]").count() == 0
