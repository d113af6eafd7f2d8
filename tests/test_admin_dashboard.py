"""The embedded admin dashboard: the lift API per shop, the page and its CSP, the profile route, and the whole
page in headless Chromium against the fake Shopify (screenshot to test-artifacts/admin.png; docs/ keeps a copy for the README)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from conftest import ROOT, TEST_API_KEY
from fixtures_shopify import InstalledShop, LiveApp, make_session_token
from sqlmodel import Session

from app.bench.storefront import launch_chromium
from app.models.commerce import Order, Refund
from app.models.events import IdentityLink
from app.models.inbox import FAILED, WebhookInbox
from app.models.profiles import CustomerProfile
from app.models.serving import HoldoutPolicy, ServedList
from app.storefront.holdout import in_holdout
from tests.browser_support import admin_page, needs_chromium

AGENT = "recommendations"
OTHER = "other-shop.myshopify.com"


def _get(live: LiveApp, shop: str, path: str):
    return live.client().get(path, headers={"Authorization": f"Bearer {make_session_token(shop)}"})


def served(
    shop_id: int, kind: str, subject: str, holdout: bool, at: datetime, placement: str = "product"
) -> ServedList:
    return ServedList(
        shop_id=shop_id,
        serve_id=f"{shop_id}-{kind}-{subject}-{placement}-{at.timestamp()}"[:32],
        agent=AGENT,
        placement=placement,
        subject_kind=kind,
        subject=subject,
        strategy="blend" if not holdout else "popular",
        variant="A",
        holdout=holdout,
        product_ids=[1, 2, 3],
        served_at=at,
    )


_order_ids = iter(range(10_000_000, 20_000_000))


def order(shop_id: int, at: datetime, total: str, customer: int | None = None, **kw: Any) -> Order:
    return Order(
        shop_id=shop_id,
        shopify_id=next(_order_ids),
        customer_shopify_id=customer,
        total_price=Decimal(total),
        processed_at=at,
        **kw,
    )


def seed_known(session: Session, shop_id: int, now: datetime) -> None:
    """Seven shoppers whose outcome is known by hand (see test_lift_api_measures_each_shop_on_its_own)."""
    t = now - timedelta(days=20)
    session.add_all(
        [
            served(shop_id, "customer", "101", False, t),
            served(shop_id, "customer", "101", False, t + timedelta(hours=5), "cart"),
            served(shop_id, "client", "c-202", False, t),  # stitched to customer 202
            served(shop_id, "client", "c-303", False, t, "home"),  # anonymous, pays at checkout CHK303
            served(shop_id, "customer", "404", True, t),
            served(shop_id, "customer", "505", True, t),
            served(shop_id, "customer", "606", True, t),
            served(shop_id, "customer", "707", True, t),
            IdentityLink(shop_id=shop_id, node="client:c-202", root="customer:202"),
            IdentityLink(shop_id=shop_id, node="customer:202", root="customer:202"),
            IdentityLink(shop_id=shop_id, node="client:c-303", root="client:c-303"),
            IdentityLink(shop_id=shop_id, node="checkout:CHK303", root="client:c-303"),
            HoldoutPolicy(shop_id=shop_id, agent=AGENT, share=0.2),
        ]
    )
    refunded = order(shop_id, t + timedelta(days=2), "50.00", 101)
    session.add_all(
        [
            refunded,
            Refund(
                shop_id=shop_id,
                shopify_id=next(_order_ids),
                order_shopify_id=refunded.shopify_id,
                amount=Decimal("20.00"),
            ),
            order(shop_id, t - timedelta(days=1), "500.00", 101),  # before exposure
            order(shop_id, t + timedelta(days=1), "40.00", 202),
            order(shop_id, t + timedelta(days=3), "25.00", None, checkout_token="CHK303"),
            order(shop_id, t + timedelta(days=10), "80.00", 404),  # after the window
            order(shop_id, t + timedelta(days=1), "70.00", 505, cancelled_at=t + timedelta(days=1, hours=1)),
            order(shop_id, t + timedelta(days=1), "90.00", 606, test=True),
            order(shop_id, t + timedelta(days=4), "60.00", 707),
        ]
    )
    session.commit()


def test_lift_api_measures_each_shop_on_its_own(live_app: LiveApp, installed_shop: InstalledShop, session):
    assert live_app.install(OTHER).status_code == 200
    other = live_app.shop_row(OTHER)
    assert other is not None and other.id is not None
    now = datetime.now(UTC)
    seed_known(session, installed_shop.id, now)
    # shop B served customer 101 too (same Shopify-style id): A's orders must never count for B
    session.add(served(other.id, "customer", "101", False, now - timedelta(days=20)))
    session.commit()

    a = _get(live_app, installed_shop.domain, "/api/admin/lift")
    assert a.status_code == 200, a.json
    body = a.json
    assert body["window_days"] == 7
    (recs,) = body["agents"]
    assert recs["agent"] == AGENT and recs["holdout_share"] == 0.2
    assert recs["treatment"] == {
        "shoppers": 3,
        "converters": 3,
        "conversion_rate": 1.0,
        "revenue": 95.0,  # 50 − 20 refunded, 40 (stitched client), 25 (checkout token)
        "revenue_per_shopper": pytest.approx(31.6667, abs=1e-4),
    }
    assert recs["holdout"]["shoppers"] == 4 and recs["holdout"]["converters"] == 1
    assert recs["holdout"]["revenue"] == 60.0  # cancelled, test and late orders do not count
    assert recs["conversion"]["absolute"]["estimate"] == pytest.approx(0.75)
    assert recs["conversion"]["absolute"]["low"] < 0.75 < recs["conversion"]["absolute"]["high"]
    assert recs["verdict"]["status"] == "collecting"
    assert {p["placement"] for p in recs["placements"]} == {"product", "cart", "home"}
    assert body["holdout_policies"] == [
        {
            "agent": AGENT,
            "share": 0.2,
            "default": False,
            "updated_at": body["holdout_policies"][0]["updated_at"],
        }
    ]

    b = _get(live_app, OTHER, "/api/admin/lift").json
    (b_recs,) = b["agents"]
    assert b_recs["treatment"]["shoppers"] == 1 and b_recs["treatment"]["converters"] == 0
    assert b_recs["holdout"]["shoppers"] == 0 and b_recs["verdict"]["status"] == "no_holdout"
    assert b["holdout_policies"] == [{"agent": AGENT, "share": 0.1, "default": True, "updated_at": None}]

    longer = _get(live_app, installed_shop.domain, "/api/admin/lift?window_days=14").json
    assert longer["agents"][0]["holdout"]["converters"] == 2  # the day-10 order now counts
    shorter = _get(live_app, installed_shop.domain, "/api/admin/lift?days=10").json
    assert shorter["agents"] == []  # exposures 20 days ago are outside the last 10 days


@pytest.mark.parametrize(
    "query", ["window_days=0", "window_days=abc", "window_days=91", "days=400", "window_days=-3"]
)
def test_lift_api_rejects_bad_windows(live_app: LiveApp, installed_shop: InstalledShop, query: str):
    response = _get(live_app, installed_shop.domain, f"/api/admin/lift?{query}")
    assert response.status_code == 400 and response.json["error"] == "invalid_window"


def test_lift_api_needs_a_session_token(live_app: LiveApp, installed_shop: InstalledShop):
    response = live_app.client().get("/api/admin/lift")
    assert response.status_code == 401


def test_dashboard_page_csp_and_assets(client):
    response = client.get("/app?shop=cool-shop.myshopify.com&host=YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvY29vbA")
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "script-src 'self' https://cdn.shopify.com;" in csp  # production: App Bridge only
    assert "style-src 'self';" in csp and "connect-src 'self' https://cdn.shopify.com;" in csp
    assert "frame-ancestors https://admin.shopify.com https://cool-shop.myshopify.com;" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    html = response.get_data(as_text=True)
    assert "<script>" not in html and "style=" not in html  # nothing inline for the CSP to refuse
    for section in ("lift", "sync", "segments", "customers", "failed", "holdout"):
        assert f'id="{section}"' in html
    assert html.count("https://cdn.shopify.com/shopifycloud/app-bridge.js") == 1
    assert html.count("https://cdn.shopify.com/shopifycloud/polaris.js") == 1
    # App Bridge and Polaris's web components are the only absolute URLs
    assert html.count("http://") + html.count("https://") == 2
    js_url = html.split('<script src="', 2)[2].split('"', 1)[0].replace("&amp;", "&")
    css_url = html.split('<link rel="stylesheet" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    js = client.get(js_url)
    assert js.status_code == 200 and "javascript" in js.headers["Content-Type"]
    assert "max-age=31536000" in js.headers["Cache-Control"]
    assert "window.attune" in js.get_data(as_text=True)
    assert client.get(css_url).status_code == 200
    assert client.get("/app/assets/../config.py").status_code == 404
    assert client.get("/app/assets/secret.txt").status_code == 404


def test_dashboard_page_without_app_bridge_locally(live_app: LiveApp):
    response = live_app.client().get("/app?shop=installed-shop.myshopify.com")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "cdn.shopify.com" not in response.get_data(as_text=True)


def test_profile_route_is_scoped_by_shop(live_app: LiveApp, installed_shop: InstalledShop, session):
    assert live_app.install(OTHER).status_code == 200
    session.add(
        CustomerProfile(shop_id=installed_shop.id, customer_key="client:abc", event_count=3, intent=0.4)
    )
    session.commit()
    mine = _get(live_app, installed_shop.domain, "/api/admin/profile?key=client:abc")
    assert mine.status_code == 200 and mine.json["event_count"] == 3
    assert mine.json["scores"]["intent"] == 0.4
    assert _get(live_app, OTHER, "/api/admin/profile?key=client:abc").status_code == 404
    for bad in ("", "abc", "robot:1", "client:", "client:" + "x" * 200):
        response = _get(live_app, installed_shop.domain, f"/api/admin/profile?key={bad}")
        assert response.status_code == 400 and response.json["error"] == "invalid_key"


# --- the page in Chromium ----------------------------------------------------------------------------


def seed_served_lists(session: Session, shop_id: int, now: datetime, shoppers: int = 5000) -> None:
    """Recommendation exposures for shoppers split by the storefront's own holdout hash (20% share), with
    7-day conversion 15% when served and 11% when held out; revenue lognormal; some orders partly refunded."""
    rng = np.random.default_rng(2026)
    share = 0.2
    session.add(HoldoutPolicy(shop_id=shop_id, agent=AGENT, share=share))
    placements = ("product", "cart", "home")
    for i in range(shoppers):
        cid = 990_000_000 + i
        holdout = in_holdout(shop_id, AGENT, "customer", str(cid), share)
        at = now - timedelta(days=float(rng.uniform(1, 40)), minutes=i % 60)
        session.add(served(shop_id, "customer", str(cid), holdout, at, placements[i % 3]))
        if rng.random() < (0.11 if holdout else 0.15):
            bought = order(
                shop_id,
                at + timedelta(days=float(rng.uniform(0, 6.5))),
                f"{rng.lognormal(3.6, 0.6):.2f}",
                cid,
            )
            session.add(bought)
            if rng.random() < 0.08:
                session.add(
                    Refund(
                        shop_id=shop_id,
                        shopify_id=next(_order_ids),
                        order_shopify_id=bought.shopify_id,
                        amount=(bought.total_price or Decimal(0)) / 2,
                    )
                )
    session.commit()


def _env(monkeypatch: pytest.MonkeyPatch, live: LiveApp) -> None:
    """Jobs read settings from the environment: point them at this test's database and Redis."""
    cfg = live.settings
    for key, value in {
        "ATTUNE_ENV": "test",
        "DATABASE_URL": cfg.database_url,
        "REDIS_URL": cfg.redis_url,
        "SHOPIFY_API_KEY": cfg.shopify_api_key,
        "SHOPIFY_API_SECRET": cfg.shopify_api_secret,
        "ATTUNE_ENCRYPTION_KEY": cfg.attune_encryption_key,
    }.items():
        monkeypatch.setenv(key, str(value))
    from app.config import get_settings

    get_settings.cache_clear()


@pytest.mark.browser
@pytest.mark.slow
@needs_chromium
def test_dashboard_in_chromium(live_app: LiveApp, installed_shop: InstalledShop, session, monkeypatch):
    from playwright.sync_api import sync_playwright
    from profile_support import pixel_rows

    from app.config import get_settings
    from app.demo.sample import build_plan, load_transactions
    from app.jobs.profiles import fold_pixel_events
    from app.jobs.shop_models import fit_in_session, rescore_shop
    from app.jobs.sync import sync_shop
    from app.models.base import utcnow

    _env(monkeypatch, live_app)
    shop_id, domain = installed_shop.id, installed_shop.domain
    try:
        # the shop's history in the fake Shopify (shipped Online Retail II slice), backfilled by the real sync
        plan = build_plan(load_transactions(), customers=60)
        store = live_app.fake.store(domain)
        store.currency = "GBP"
        store.seed(products=plan.products, customers=plan.customers, orders=plan.history_orders)
        sync_shop(shop_id, kind="initial", settings=live_app.settings)
        fit_in_session(session, shop_id, utcnow())
        session.commit()
        assert rescore_shop(shop_id)["profiles"] >= 50
        # a few anonymous storefront sessions (pixel events folded into profiles by the real job)
        funnel = ["page_viewed", "product_viewed", "product_viewed", "product_added_to_cart", "cart_viewed"]
        ids: list[int] = []
        for n in range(4):
            ids += pixel_rows(
                session, shop_id, f"visitor-{n}", funnel[: 2 + n], t0=datetime.now(UTC) - timedelta(hours=2)
            )
        fold_pixel_events(session, shop_id, ids)
        session.commit()
        seed_served_lists(session, shop_id, datetime.now(UTC))
        session.add(
            WebhookInbox(
                shop_id=shop_id,
                shop_domain=domain,
                event_id="evt-failed-1",
                topic="orders/create",
                payload="{}",
                status=FAILED,
                attempts=5,
                error="OperationalError: database is locked (seeded failure)",
            )
        )
        session.commit()

        expected = _get(live_app, domain, "/api/admin/lift").json["agents"][0]
        segments = _get(live_app, domain, "/api/admin/segments").json
        landing = live_app.fake.origin_template.format(shop=domain) + f"/admin/apps/{TEST_API_KEY}"
        requests: list[str] = []
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            page = admin_page(browser)
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(landing)
            assert page.url.startswith(f"{live_app.url}/app?")

            # lift: the verdict and the group numbers from the API, CI bars drawn per placement
            agent = page.locator(f"article.agent[data-agent={AGENT}]")
            agent.wait_for(timeout=10_000)
            assert agent.locator(".verdict").inner_text() == expected["verdict"]["text"]
            table = agent.locator("table.groups").inner_text()
            for group in ("treatment", "holdout"):
                assert f"{expected[group]['shoppers']:,}" in table
                assert f"{expected[group]['conversion_rate'] * 100:.2f}%" in table
            assert expected["verdict"]["status"] == "positive", expected
            assert agent.locator("svg.forest").count() == 2
            assert agent.locator("svg.forest circle").count() == 2 * (1 + len(expected["placements"]))
            assert "20%" in page.locator("#holdout-body").inner_text()
            fortnight = _get(live_app, domain, "/api/admin/lift?window_days=14").json["agents"][0]
            with page.expect_response(lambda r: "/api/admin/lift?window_days=14" in r.url):
                page.select_option("#window-days", "14")
            page.locator(".verdict", has_text=fortnight["verdict"]["text"]).wait_for(timeout=5000)
            page.select_option("#window-days", "7")
            page.locator(".verdict", has_text=expected["verdict"]["text"]).wait_for(timeout=5000)

            # sync status and segments (one bar per RFM segment)
            page.locator("#sync-body .badge", has_text="Backfill complete").wait_for(timeout=5000)
            page.locator("#segment-chart").wait_for(timeout=5000)
            assert page.locator("#segment-chart g[data-segment]").count() == len(segments["rfm"])
            for name, n in segments["rfm"].items():
                bar_label = page.locator(f"#segment-chart g[data-segment={name}] text").last
                assert bar_label.text_content() == str(n)

            # the table, sorted by CLV then by churn risk (descending)
            rows = page.locator("#customer-rows tr[data-key]")
            rows.first.wait_for(timeout=5000)
            clv_first = rows.first.get_attribute("data-key")
            top = _get(live_app, domain, "/api/admin/customers?sort=clv&limit=1").json["customers"][0]
            assert clv_first == top["customer_key"]
            page.locator("th button[data-sort=churn_risk]").click()
            page.locator("th[aria-sort=descending] button[data-sort=churn_risk]").wait_for(timeout=5000)
            by_churn = _get(live_app, domain, "/api/admin/customers?sort=churn_risk&limit=25").json[
                "customers"
            ]
            page.wait_for_function(
                "k => document.querySelector('#customer-rows tr[data-key]').dataset.key === k",
                arg=by_churn[0]["customer_key"],
                timeout=5000,
            )
            shown = [
                float(t.strip("%")) for t in rows.locator("td:nth-child(5)").all_inner_texts() if t != "—"
            ]
            assert shown == sorted(shown, reverse=True) and len(shown) >= 10

            # click-through: derived values with their "why" signals
            page.locator("th button[data-sort=clv]").click()
            page.wait_for_function(
                "k => document.querySelector('#customer-rows tr[data-key]').dataset.key === k",
                arg=clv_first,
                timeout=5000,
            )
            rows.first.click()
            detail = page.locator("#customer-detail")
            detail.locator(".score[data-score=clv]").wait_for(timeout=5000)
            record = _get(live_app, domain, f"/api/admin/customers/{top['customer_id']}").json
            assert record["email"] in detail.inner_text()
            shown = detail.locator("dd[data-spent]").inner_text()  # the amount in the shop's currency
            expected = page.evaluate(
                "r => new Intl.NumberFormat(undefined, {style: 'currency', currency: r.currency})"
                ".format(Number(r.total_spent))",
                record,
            )
            assert record["currency"] and shown == expected
            assert detail.locator(".score[data-score=churn_risk] li").count() >= 1
            why = detail.locator(".score[data-score=clv]").inner_text()
            assert "Why:" in why and record["profile"]["derived"]["clv"]["summary"] in why

            # failed events: replay one
            page.locator("#failed-body tr[data-event] button").click()
            page.locator("#failed-body button", has_text="Queued").wait_for(timeout=5000)

            assert errors == []
            ARTIFACTS = ROOT / "test-artifacts"
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "admin.png"), full_page=True)
            browser.close()
        fake_origin = live_app.fake.origin_template.split("/store/", 1)[0]
        others = [u for u in requests if not u.startswith(live_app.url) and not u.startswith(fake_origin)]
        assert others == [], "no third-party requests"
    finally:
        get_settings.cache_clear()
