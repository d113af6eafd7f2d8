"""Interests stored per shop (job + admin API + reasons) and merchant pins/excludes (admin API → lists)."""

from __future__ import annotations

import pytest
from fixtures_shopify import make_session_token
from sqlmodel import select
from webhook_support import run_jobs

from app.jobs.interests import infer_for_shop
from app.jobs.recommendations import refresh_for_shop
from app.models.merchandising import MerchantRule, ShopInterest
from app.models.serving import RecommendationList
from app.storefront.demo_data import CATALOG, DEMO_CUSTOMER, OUT_OF_STOCK, seed_demo_shop
from app.stores.interests import load_interests

ALPHA, BETA = "alpha.myshopify.com", "beta.myshopify.com"


pytestmark = pytest.mark.usefixtures("hashing_embedder")


def _auth(shop: str = ALPHA) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_session_token(shop)}"}


def _list(session, shop_id, scope, subject, placement):
    session.expire_all()
    return session.exec(
        select(RecommendationList).where(
            RecommendationList.shop_id == shop_id,
            RecommendationList.scope == scope,
            RecommendationList.subject == subject,
            RecommendationList.placement == placement,
        )
    ).first()


def test_interests_are_inferred_and_stored_per_shop(session, settings):
    alpha = seed_demo_shop(session, ALPHA)
    beta = seed_demo_shop(session, BETA, orders=False)
    assert infer_for_shop(alpha.shop_id, settings) >= 2
    found = load_interests(session, alpha.shop_id)
    catalogue = {str(p) for p, *_ in CATALOG}
    assert all(i.name and set(i.product_ids) <= catalogue for i in found)
    assert all(len(i.product_ids) >= 2 for i in found)
    assert "co-purchase" in found[0].sources
    rows = session.exec(select(ShopInterest)).all()
    assert {r.shop_id for r in rows} == {alpha.shop_id}
    # idempotent: the same data gives the same rows
    before = sorted((r.key, r.name) for r in rows)
    infer_for_shop(alpha.shop_id, settings)
    session.expire_all()
    assert sorted((r.key, r.name) for r in session.exec(select(ShopInterest))) == before
    infer_for_shop(beta.shop_id, settings)
    assert load_interests(session, beta.shop_id)  # content alone, no orders yet
    assert "co-purchase" not in load_interests(session, beta.shop_id)[0].sources


def test_personal_reasons_name_the_shoppers_interest(session, settings):
    shop = seed_demo_shop(session)
    everything = [str(p) for p, *_ in CATALOG]
    session.add(
        ShopInterest(shop_id=shop.shop_id, key="outdoor-gear", name="outdoor gear", product_ids=everything)
    )
    session.commit()
    refresh_for_shop(shop.shop_id, settings)
    home = _list(session, shop.shop_id, "customer", str(DEMO_CUSTOMER), "home")
    reasons = [i["reason"] for i in home.items]
    assert "For your interest in outdoor gear" in reasons, reasons
    # the same interest is what the admin shows for this customer
    from app.recommend.interests import shopper_interests
    from app.stores.interests import load_interests

    bought = ["1004", "1002", "1009", "1003"]
    assert [(i.name, n) for i, n in shopper_interests(bought, load_interests(session, shop.shop_id))] == [
        ("outdoor gear", 4)
    ]


@pytest.mark.usefixtures("jobs_env")
def test_interests_in_the_admin_api(session, settings, client):
    shop = seed_demo_shop(session, ALPHA)
    seed_demo_shop(session, BETA)
    infer_for_shop(shop.shop_id, settings)
    r = client.get("/api/admin/interests", headers=_auth())
    assert r.status_code == 200
    listed = r.json["interests"]
    assert listed and all(i["name"] and i["examples"] and i["size"] == len(i["product_ids"]) for i in listed)
    assert client.get("/api/admin/interests", headers=_auth(BETA)).json["interests"] == []
    assert client.get("/api/admin/interests").status_code == 401
    mine = client.get(f"/api/admin/customers/{DEMO_CUSTOMER}/interests", headers=_auth())
    assert mine.status_code == 200 and mine.json["customer_id"] == str(DEMO_CUSTOMER)
    names = {i["name"] for i in listed}
    assert all(i["name"] in names and i["products_bought"] >= 2 for i in mine.json["interests"])
    other = client.get(f"/api/admin/customers/{DEMO_CUSTOMER}/interests", headers=_auth(BETA))
    assert other.json["interests"] == []  # beta has no interests yet
    assert client.get(f"/api/admin/customers/{DEMO_CUSTOMER}/interests").status_code == 401
    assert client.post("/api/admin/interests/refresh", headers=_auth(BETA)).status_code == 202
    run_jobs(settings.redis_url)
    assert client.get("/api/admin/interests", headers=_auth(BETA)).json["interests"]


@pytest.mark.usefixtures("jobs_env")
def test_pins_and_excludes_through_the_admin_api_refresh_the_lists(session, settings, client):
    shop = seed_demo_shop(session, ALPHA)
    seed_demo_shop(session, BETA)
    refresh_for_shop(shop.shop_id, settings)
    home = _list(session, shop.shop_id, "placement", "", "home")
    first, last = home.items[0]["product_id"], home.items[-1]["product_id"]
    assert first != last

    r = client.put("/api/admin/merchandising/home", json={"pins": [str(last)]}, headers=_auth())
    assert r.status_code == 200, r.json
    assert r.json["pins"] == [str(last)] and r.json["refresh_queued"] is True
    r = client.put("/api/admin/merchandising/all", json={"excludes": [first]}, headers=_auth())
    assert r.status_code == 200 and r.json["excludes"] == [str(first)]
    run_jobs(settings.redis_url)  # the refresh queued after each commit

    home = _list(session, shop.shop_id, "placement", "", "home")
    ids = [i["product_id"] for i in home.items]
    assert ids[0] == last and home.items[0]["reason"] == "picked by the shop"
    assert first not in ids
    for row in session.exec(select(RecommendationList).where(RecommendationList.shop_id == shop.shop_id)):
        assert first not in [i["product_id"] for i in row.items], (row.scope, row.subject, row.placement)

    listed = client.get("/api/admin/merchandising", headers=_auth()).json
    assert listed["rules"] == {
        "all": {"pins": [], "excludes": [str(first)]},
        "home": {"pins": [str(last)], "excludes": []},
    }
    assert "all" in listed["placements"]["excludes"] and "all" not in listed["placements"]["pins"]
    assert set(listed["titles"]) == {str(first), str(last)}
    assert client.get("/api/admin/merchandising", headers=_auth(BETA)).json["rules"] == {}

    # one rule removed: the product comes back after the refresh
    assert (
        client.delete(f"/api/admin/merchandising/all/excludes/{first}", headers=_auth(BETA)).status_code
        == 404
    )
    r = client.delete(f"/api/admin/merchandising/all/excludes/{first}", headers=_auth())
    assert r.status_code == 200 and r.json["excludes"] == []
    run_jobs(settings.redis_url)
    assert first in [i["product_id"] for i in _list(session, shop.shop_id, "placement", "", "home").items]
    # a pinned product that is out of stock is still never shown
    client.put("/api/admin/merchandising/home", json={"pins": [OUT_OF_STOCK, last]}, headers=_auth())
    run_jobs(settings.redis_url)
    assert [i["product_id"] for i in _list(session, shop.shop_id, "placement", "", "home").items][0] == last
    assert session.exec(select(MerchantRule).where(MerchantRule.shop_id == shop.shop_id)).all()


@pytest.mark.usefixtures("jobs_env")
def test_merchandising_api_refuses_bad_requests(session, client):
    seed_demo_shop(session, ALPHA)
    seed_demo_shop(session, BETA)
    product = CATALOG[0][0]
    assert client.put("/api/admin/merchandising/home", json={"pins": [product]}).status_code == 401
    bad = [
        ("nowhere", {"pins": [product]}, 400),
        ("all", {"pins": [product]}, 400),  # pins are per placement
        ("cart", {"pins": [product]}, 400),  # served from the product and home lists: refused, not ignored
        ("home", {"pins": "1001"}, 400),
        ("home", {"pins": ["x"]}, 400),
        ("home", {"boost": [product]}, 400),
        ("home", {"pins": list(range(1, 60))}, 400),
        ("home", {"pins": [123456789]}, 404),  # not a product of this shop
    ]
    for placement, body, status in bad:
        r = client.put(f"/api/admin/merchandising/{placement}", json=body, headers=_auth())
        assert r.status_code == status, (placement, body, r.json)
    assert (
        client.delete(f"/api/admin/merchandising/home/boosts/{product}", headers=_auth()).status_code == 404
    )
    assert client.delete(f"/api/admin/merchandising/home/pins/{product}", headers=_auth()).status_code == 404


def test_admin_page_has_the_interests_and_pins_sections(client):
    html = client.get("/app").get_data(as_text=True)
    assert 'id="interests-body"' in html and 'id="rule-form"' in html
    script = client.get("/app/assets/admin.js").get_data(as_text=True)
    assert "/api/admin/merchandising" in script and "/api/admin/interests" in script
