"""Derived customer scores wired into live profiles: adapters, per-shop fitting, rescoring, the admin API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from profile_support import pixel_rows
from sqlmodel import Session, select
from test_profiles_jobs import _token, profile, shop_row

from app.jobs.profiles import process_pixel_batch, refresh_profile
from app.jobs.shop_models import fit_shop_models, rescore_shop
from app.modelling.compiled_trees import CompiledTrees
from app.modelling.intent import IntentModel, SessionFeatures, ShopIntentModel
from app.modelling.intent_fast import FastIntentScorer
from app.modelling.rfm import RfmInput, segment_customers
from app.models.commerce import Customer, Order, OrderLine, Product, ProductVariant, Refund
from app.models.shop_models import ShopModelParams
from app.profiles.derived import global_intent, rfm_slug
from app.profiles.shop_params import quintile, rfm_sketches
from app.stores.identity import resolve
from app.stores.shop_models import load_scorers

NOW = datetime.now(UTC)
BROWSE = ["page_viewed", "collection_viewed", "product_viewed", "product_viewed", "search_submitted"]
BUY = BROWSE + [
    "product_added_to_cart",
    "cart_viewed",
    "checkout_started",
    "checkout_contact_info_submitted",
    "checkout_address_info_submitted",
    "checkout_shipping_info_submitted",
    "payment_info_submitted",
]
# customer id -> purchase days ago (one order per entry), refund of the first order (amount) if any
CUSTOMERS = {
    1: ([400, 370, 340, 320], None),  # lapsed repeat buyer
    2: ([90, 60, 30, 12, 3], None),  # recent repeat buyer
    3: ([200], None),  # one-time buyer, a while ago
    4: ([15, 5], 30.0),  # new-ish, one order partly refunded
    5: ([600], None),  # one-time buyer, long ago
}


def add_catalogue(session: Session, shop_id: int) -> None:
    session.add(Product(shop_id=shop_id, shopify_id=12, title="Trail shoe", vendor="Acme", product_type="Shoes",
                        tags="running, trail"))  # fmt: skip
    session.add(Product(shop_id=shop_id, shopify_id=13, title="Sock", vendor="Woolly", product_type="Socks"))
    session.add(ProductVariant(shop_id=shop_id, shopify_id=121, product_shopify_id=12, price=Decimal("80"),
                               compare_at_price=Decimal("100")))  # fmt: skip
    session.add(ProductVariant(shop_id=shop_id, shopify_id=131, product_shopify_id=13, price=Decimal("10")))


def add_orders(session: Session, shop_id: int, customers: dict = CUSTOMERS, scale: float = 1.0) -> None:
    n = 0
    for cid, (days, refund) in customers.items():
        session.add(Customer(shop_id=shop_id, shopify_id=cid, email=f"c{cid}@example.com"))
        for i, ago in enumerate(days):
            n += 1
            oid = cid * 1000 + i
            total = Decimal(str(round((60 + 20 * cid) * scale, 2)))
            session.add(Order(shop_id=shop_id, shopify_id=oid, customer_shopify_id=cid, currency="EUR",
                              total_price=total, total_discounts=Decimal("5") if cid == 2 else Decimal("0"),
                              processed_at=NOW - timedelta(days=ago)))  # fmt: skip
            session.add(OrderLine(shop_id=shop_id, shopify_id=oid * 10, order_shopify_id=oid, product_shopify_id=12,
                                  variant_shopify_id=121, quantity=1, price=Decimal("80"),
                                  total_discount=Decimal("5") if cid == 2 else Decimal("0")))  # fmt: skip
            session.add(OrderLine(shop_id=shop_id, shopify_id=oid * 10 + 1, order_shopify_id=oid,
                                  product_shopify_id=13, variant_shopify_id=131, quantity=2, price=Decimal("10")))  # fmt: skip
            if refund and i == 0:
                session.add(Refund(shop_id=shop_id, shopify_id=oid, order_shopify_id=oid,
                                   amount=Decimal(str(refund)), processed_at=NOW - timedelta(days=ago - 1)))  # fmt: skip
    session.commit()


def add_sessions(session: Session, shop_id: int, n_buy: int = 6, n_bounce: int = 6) -> None:
    """Finished sessions (a day ago): some go through checkout and buy, others bounce or browse."""
    t0 = NOW - timedelta(days=1)
    for i in range(n_buy):
        pixel_rows(session, shop_id, f"buyer-{i}", BUY + ["checkout_completed"], t0=t0, start=0)
    for i in range(n_bounce):
        pixel_rows(session, shop_id, f"bounce-{i}", ["page_viewed"], t0=t0, start=0)
        pixel_rows(session, shop_id, f"browser-{i}", BROWSE, t0=t0, start=0)


def derived_of(session: Session, shop_id: int, key: str) -> dict:
    row = profile(session, shop_id, key)
    assert row is not None, key
    return row.derived


def test_compiled_trees_and_fast_scorer_match_the_reference_model():
    model, compiled = global_intent()
    rng = np.random.default_rng(3)
    sessions = [
        SessionFeatures(
            product_pages=float(rng.integers(0, 40)),
            product_seconds=float(rng.exponential(400)),
            account_pages=float(rng.integers(0, 4)),
            page_value=float(rng.choice([0, 0, 9.5, 40])),
            exit_rate=float(rng.uniform(0, 0.2)),
            month=int(rng.integers(1, 13)),
            weekend=bool(rng.integers(0, 2)),
            visitor_type=str(rng.choice(["new", "returning"])),
            traffic_source=int(rng.integers(0, 25)),
            searches=float(rng.integers(0, 3)),
            cart_adds=float(rng.integers(0, 3)),
            funnel_step=int(rng.integers(0, 7)),
        )  # fmt: skip
        for _ in range(12)
    ]
    from app.modelling.intent import global_design, raw_matrix

    X = global_design(raw_matrix(sessions))
    assert np.allclose(compiled.raw(X), model.trees.raw(X), atol=1e-9)
    assert isinstance(CompiledTrees.compile(model.trees), CompiledTrees)
    shop = ShopIntentModel(np.array([-0.3, 0.9, 0.2, 0.4, -0.3, 1.2]), 80)
    reference = IntentModel(model, shop).score(sessions)
    fast = FastIntentScorer(model, compiled, shop).score(sessions)
    for a, b in zip(reference, fast, strict=True):
        assert abs(a.probability - b.probability) < 1e-9
        assert [(s.name, s.contribution) for s in a.explanation.signals] == [
            (s.name, s.contribution) for s in b.explanation.signals
        ]


def test_rfm_quintiles_from_stored_sketches_match_the_batch_segmentation():
    rng = np.random.default_rng(5)
    customers = [
        RfmInput(str(i), float(rng.integers(0, 500)), int(rng.integers(1, 6)), float(rng.integers(10, 900)))
        for i in range(40)
    ]
    sk = rfm_sketches(customers)
    for c, seg in zip(customers, segment_customers(customers), strict=True):
        assert quintile(-c.days_since_last_order, sk["recency"]) == seg.r
        assert quintile(float(c.orders), sk["frequency"]) == seg.f
        assert quintile(c.spend, sk["monetary"]) == seg.m
    assert rfm_slug("At risk") == "at_risk_loyal" and rfm_slug("Can't lose them") == "cant_lose_them"


@pytest.mark.usefixtures("jobs_env")
def test_day_one_intent_ranks_a_checkout_session_above_a_bounce(session):
    shop = shop_row(session)
    t0 = NOW - timedelta(minutes=10)
    ids = pixel_rows(session, shop.id, "keen", BUY, t0=t0, start=0) + pixel_rows(
        session, shop.id, "gone", ["page_viewed"], t0=t0, start=0
    )
    process_pixel_batch(shop.id, ids)
    keen, gone = profile(session, shop.id, "client:keen"), profile(session, shop.id, "client:gone")
    assert keen.intent is not None and gone.intent is not None
    assert keen.intent > gone.intent
    intent = keen.derived["intent"]
    assert intent["signals"] and all(
        {"name", "value", "contribution", "text"} <= set(s) for s in intent["signals"]
    )
    assert intent["session"]["steps"] == len(BUY) and intent["shop_sessions"] == 0  # the global prior
    assert "clv" not in keen.derived and keen.clv is None  # no purchase yet: no lifetime value


@pytest.mark.usefixtures("jobs_env")
def test_a_small_shop_gets_scores_with_explanations_after_fitting(session):
    shop = shop_row(session)
    add_catalogue(session, shop.id)
    add_orders(session, shop.id)
    add_sessions(session, shop.id)
    result = fit_shop_models(shop.id)
    assert result["fitted"] and result["changed"] and result["customers"] == 5
    assert result["sessions"] == 18  # 6 buying + 6 bouncing + 6 browsing sessions
    counts = rescore_shop(shop.id)
    assert counts["profiles"] >= 5
    stored = session.exec(select(ShopModelParams).where(ShopModelParams.shop_id == shop.id)).one()
    params = stored.params
    r, alpha, a, b = params["clv"]["bgnbd"]
    assert all(np.isfinite([r, alpha, a, b])) and 0 < r < 10 and 0 < alpha < 100  # shrunk to the prior
    assert params["price"]["category_medians"] == {"Shoes": 80.0, "Socks": 10.0}
    assert params["intent"]["purchases"] == 6 and params["intent"]["page_stats"]["_default"][2] > 0

    for cid in CUSTOMERS:
        row = profile(session, shop.id, f"customer:{cid}")
        assert row.clv is not None and row.clv >= 0 and 0 <= row.churn_risk <= 1 and row.rfm_segment
        for key in ("clv", "churn_risk", "rfm", "price_sensitivity", "affinity"):
            assert row.derived[key]["signals"], (cid, key)
            assert row.derived[key]["summary"]
        assert row.derived["params_version"] == stored.version
    refunded = derived_of(session, shop.id, "customer:4")
    assert refunded["clv"]["spent_net"] == pytest.approx(140 * 2 - 30)  # net of the refund
    assert derived_of(session, shop.id, "customer:1")["affinity"]["categories"][0]["key"] in (
        "Shoes",
        "Socks",
    )
    assert (
        derived_of(session, shop.id, "customer:2")["price_sensitivity"]["index"] > 1
    )  # discounts + markdown

    # the shop's own sessions taught the intent layer: checkout steps now raise intent beyond the prior
    scorers = load_scorers(session, shop.id)
    assert scorers.params.intent_sessions == 18 and scorers.intent.shop.weights[5] > 0
    t0 = NOW - timedelta(minutes=5)
    ids = pixel_rows(session, shop.id, "live-keen", BUY, t0=t0, start=0)
    ids += pixel_rows(session, shop.id, "live-gone", ["page_viewed"], t0=t0, start=0)
    process_pixel_batch(shop.id, ids)
    # every test checkout carries the token CHK1, so the keen visitor is stitched to the earlier buyers
    keen = profile(session, shop.id, resolve(session, shop.id, "client:live-keen"))
    assert keen.derived["intent"]["session"]["steps"] == len(BUY)  # scored on its latest session
    assert keen.intent > profile(session, shop.id, "client:live-gone").intent
    assert keen.derived["intent"]["shop_sessions"] == 18
    top = keen.derived["intent"]["signals"][0]  # checkout pages precede every purchase in this shop's data
    assert top["name"] == "page_value" and top["contribution"] > 0


@pytest.mark.usefixtures("jobs_env")
def test_a_lapsed_customer_has_higher_churn_risk_than_a_recent_repeat_buyer(session):
    shop = shop_row(session)
    add_catalogue(session, shop.id)
    add_orders(session, shop.id)
    for cid in CUSTOMERS:  # day one: no fit yet, the global priors score them
        refresh_profile(shop.id, f"customer:{cid}")
    lapsed, recent = profile(session, shop.id, "customer:1"), profile(session, shop.id, "customer:2")
    assert lapsed.churn_risk > 0.5 > recent.churn_risk
    assert lapsed.derived["params_version"] == 0
    old_single = profile(session, shop.id, "customer:5")
    assert old_single.churn_risk > profile(session, shop.id, "customer:3").churn_risk > 0
    why = {s["name"]: s for s in lapsed.derived["churn_risk"]["signals"]}
    assert why["weeks_since_last_purchase"]["contribution"] > 0
    assert recent.clv > lapsed.clv
    fit_shop_models(shop.id)
    rescore_shop(shop.id)
    assert (
        profile(session, shop.id, "customer:1").churn_risk
        > profile(session, shop.id, "customer:2").churn_risk
    )


@pytest.mark.usefixtures("jobs_env")
def test_admin_lists_and_record_show_derived_scores(client, session):
    shop = shop_row(session)
    add_catalogue(session, shop.id)
    add_orders(session, shop.id)
    fit_shop_models(shop.id)
    rescore_shop(shop.id)
    auth = {"Authorization": f"Bearer {_token(shop.domain)}"}
    rows = {cid: profile(session, shop.id, f"customer:{cid}") for cid in CUSTOMERS}

    def keys(query: str) -> list[str]:
        response = client.get(f"/api/admin/customers{query}", headers=auth)
        assert response.status_code == 200, response.json
        return [c["customer_key"] for c in response.json["customers"]]

    by = lambda attr, reverse=True: [  # noqa: E731
        f"customer:{cid}"
        for cid, _ in sorted(rows.items(), key=lambda kv: getattr(kv[1], attr), reverse=reverse)
    ]
    assert keys("?sort=churn_risk") == by("churn_risk")
    assert keys("?sort=clv") == by("clv")
    assert keys("?sort=clv:asc") == by("clv", reverse=False)
    assert keys("?sort=churn_risk")[0] in ("customer:1", "customer:5")
    at_risk = keys("?segment=at_risk")
    assert "customer:1" in at_risk and "customer:2" not in at_risk
    segment = rows[2].rfm_segment
    assert "customer:2" in keys(f"?segment={segment}")
    assert all(profile(session, shop.id, k).rfm_segment == segment for k in keys(f"?segment={segment}"))

    record = client.get("/api/admin/customers/2", headers=auth)
    assert record.status_code == 200, record.json
    shown = record.json["profile"]
    assert shown["scores"]["clv"] == rows[2].clv and shown["scores"]["rfm_segment"] == segment
    for key in ("clv", "churn_risk", "rfm", "price_sensitivity", "affinity"):
        assert shown["derived"][key]["signals"][0]["text"]


@pytest.mark.usefixtures("jobs_env")
def test_fitting_is_idempotent_and_two_shops_stay_apart(session):
    alpha = shop_row(session)
    beta = shop_row(session, "beta.myshopify.com")
    for shop, scale in ((alpha, 1.0), (beta, 6.0)):
        add_catalogue(session, shop.id)
        add_orders(session, shop.id, scale=scale)
    add_sessions(session, alpha.id)
    first = fit_shop_models(alpha.id)
    again = fit_shop_models(alpha.id)
    assert first["changed"] and not again["changed"] and first["version"] == again["version"] == 1
    before = session.exec(select(ShopModelParams).where(ShopModelParams.shop_id == alpha.id)).one().params
    fit_shop_models(beta.id)
    session.expire_all()
    rows = {r.shop_id: r for r in session.exec(select(ShopModelParams)).all()}
    assert set(rows) == {alpha.id, beta.id}
    assert rows[alpha.id].params == before  # fitting beta left alpha alone
    assert (
        rows[beta.id].params["intent"]["sessions"] == 0 and rows[alpha.id].params["intent"]["sessions"] == 18
    )
    assert rows[beta.id].params["clv"]["gamma_gamma"] != rows[alpha.id].params["clv"]["gamma_gamma"]
    assert load_scorers(session, alpha.id).params.intent_sessions == 18
    assert load_scorers(session, beta.id).params.intent_sessions == 0
    for shop in (alpha, beta):
        rescore_shop(shop.id)
    a, b = profile(session, alpha.id, "customer:2"), profile(session, beta.id, "customer:2")
    assert b.clv > 3 * a.clv  # same customer id, six times the spend in the other shop
    assert a.derived["params_version"] == b.derived["params_version"] == 1
    # a new fit with new data bumps the version; the cached scorers follow it
    pixel_rows(
        session, alpha.id, "late-buyer", BUY + ["checkout_completed"], t0=NOW - timedelta(days=1), start=0
    )
    changed = fit_shop_models(alpha.id)
    assert changed["changed"] and changed["version"] == 2
    assert load_scorers(session, alpha.id).params.version == 2
