"""The wishlist in the customer model: saves from the widgets reach the profile's explicit ``wishlist`` block
(what was saved and when, including saves from before signing in), the customers/data_request export carries
them, customers/redact erases them, and two shops with the same customer ids stay apart."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlmodel import Session, select

from app.jobs.profiles import refresh_profile
from app.models.serving import Nudge, WishlistItem
from app.models.shop import Shop
from app.profiles.feedback import WishlistRec, summarize_wishlist
from app.storefront.demo_data import DEMO_CUSTOMER, seed_demo_shop
from app.stores.profiles import link_commerce_identity
from tests.test_support import SHOP_A, SHOP_B, profile, run_jobs, signed


@pytest.fixture
def shops(session: Session, jobs_env):  # noqa: F811
    return seed_demo_shop(session, SHOP_A), seed_demo_shop(session, SHOP_B)


def save(client, product_id: int, *, customer: int | None = None, client_id: str = "", shop: str = SHOP_A):
    params = {"client_id": client_id} if client_id else {}
    return client.post(
        signed("/wishlist", params, customer=customer, shop=shop), json={"product_id": product_id}
    )


def saved_items(session: Session, shop_id: int) -> list[WishlistItem]:
    session.expire_all()
    return list(session.exec(select(WishlistItem).where(WishlistItem.shop_id == shop_id)).all())


def test_wishlist_summary_is_newest_first_and_counts_a_product_once():
    t0 = datetime(2026, 12, 1, tzinfo=UTC)
    summary = summarize_wishlist(
        [
            WishlistRec(1002, None, t0, "Socks"),
            WishlistRec(1004, 41, t0 + timedelta(days=2), "Boots"),
            WishlistRec(1002, None, t0 + timedelta(days=3), "Socks"),  # saved again after signing in
            WishlistRec(1099, None, t0 + timedelta(days=1)),  # gone from the catalogue
        ]
    )
    assert summary["count"] == 3 and summary["last_at"] == (t0 + timedelta(days=2)).isoformat()
    assert [(i["product_id"], i["title"]) for i in summary["items"]] == [
        (1004, "Boots"),
        (1099, None),
        (1002, "Socks"),
    ]
    assert summary["items"][0]["variant_id"] == 41 and summary["items"][2]["saved_at"] == t0.isoformat()
    assert summarize_wishlist([]) == {"count": 0, "last_at": None, "items": []}


def test_saves_reach_the_profile_including_those_from_before_sign_in(client, session, shops, jobs_env):  # noqa: F811
    a, b = shops
    assert save(client, 1002, client_id="cl-w").status_code == 201  # anonymous, before signing in
    assert save(client, 1004, customer=DEMO_CUSTOMER).status_code == 201
    assert save(client, 1004, customer=DEMO_CUSTOMER).status_code == 200  # already saved: no new row
    assert save(client, 1009, customer=DEMO_CUSTOMER, shop=SHOP_B).status_code == 201
    run_jobs(jobs_env)  # each new save queued its shopper's profile refresh
    wishlist = profile(session, a.shop_id, f"customer:{DEMO_CUSTOMER}").explicit["wishlist"]
    assert wishlist["count"] == 1 and wishlist["items"][0]["product_id"] == 1004
    assert wishlist["items"][0]["title"] == "Waterproof Hiking Boots"
    assert wishlist["items"][0]["saved_at"] == wishlist["last_at"]
    anonymous = profile(session, a.shop_id, "client:cl-w").explicit["wishlist"]
    assert [i["product_id"] for i in anonymous["items"]] == [1002]

    link_commerce_identity(session, a.shop_id, DEMO_CUSTOMER, client_id="cl-w")  # the visitor signs in
    session.commit()
    refresh_profile(a.shop_id, f"customer:{DEMO_CUSTOMER}")
    wishlist = profile(session, a.shop_id, f"customer:{DEMO_CUSTOMER}").explicit["wishlist"]
    assert wishlist["count"] == 2 and [i["product_id"] for i in wishlist["items"]] == [1004, 1002]
    assert all(i["title"] and i["saved_at"] for i in wishlist["items"])
    # the same customer id in the other shop is another person with their own list
    other = profile(session, b.shop_id, f"customer:{DEMO_CUSTOMER}").explicit["wishlist"]
    assert [i["product_id"] for i in other["items"]] == [1009]


def test_wishlist_is_exported_and_erased_with_the_customer(client, session, shops, jobs_env):  # noqa: F811
    from webhooks.handlers.compliance import customer_redact, data_request

    a, b = shops
    save(client, 1002, client_id="cl-x")
    save(client, 1004, customer=DEMO_CUSTOMER)
    save(client, 1011, client_id="cl-stranger")  # someone else's, never stitched to the customer
    save(client, 1009, customer=DEMO_CUSTOMER, shop=SHOP_B)
    link_commerce_identity(session, a.shop_id, DEMO_CUSTOMER, client_id="cl-x")
    session.commit()
    run_jobs(jobs_env)
    shop_a = session.exec(select(Shop).where(Shop.domain == SHOP_A)).one()

    payload = {"customer": {"id": DEMO_CUSTOMER}, "data_request": {"id": 7}}
    doc = json.loads(data_request(session, shop_a, payload, SimpleNamespace(id=None)).document)
    exported = doc["customer_model"]["wishlist"]
    assert sorted(w["product_id"] for w in exported) == [1002, 1004]
    assert {w["owner"] for w in exported} == {f"customer:{DEMO_CUSTOMER}", "client:cl-x"}
    assert all(w["created_at"] for w in exported)
    assert doc["customer_model"]["profile"]["explicit"]["wishlist"]["count"] == 2

    customer_redact(session, shop_a, {"customer": {"id": DEMO_CUSTOMER}}, SimpleNamespace(id=None))
    session.commit()
    assert [w.owner for w in saved_items(session, a.shop_id)] == ["client:cl-stranger"]
    assert [w.product_id for w in saved_items(session, b.shop_id)] == [1009]  # the other shop's 501 keeps it
    assert profile(session, a.shop_id, f"customer:{DEMO_CUSTOMER}") is None
    listed = client.get(signed("/wishlist", customer=DEMO_CUSTOMER)).json["items"]
    assert listed == []


def test_on_site_messages_are_exported_and_erased_with_the_customer(session, shops):
    from webhooks.handlers.compliance import customer_redact, data_request

    a, b = shops
    link_commerce_identity(session, a.shop_id, DEMO_CUSTOMER, client_id="cl-x")
    session.add(Nudge(shop_id=a.shop_id, customer_id=DEMO_CUSTOMER, agent="journey", text="For you"))
    session.add(Nudge(shop_id=a.shop_id, client_id="cl-x", agent="rescue", text="Before you signed in"))
    session.add(Nudge(shop_id=a.shop_id, client_id="cl-stranger", agent="rescue", text="Someone else's"))
    session.add(Nudge(shop_id=a.shop_id, agent="journey", text="Spring sale"))  # every shopper's
    session.add(Nudge(shop_id=b.shop_id, customer_id=DEMO_CUSTOMER, agent="journey", text="Other shop"))
    session.commit()
    shop_a = session.exec(select(Shop).where(Shop.domain == SHOP_A)).one()

    doc = json.loads(
        data_request(
            session,
            shop_a,
            {"customer": {"id": DEMO_CUSTOMER}, "data_request": {"id": 8}},
            SimpleNamespace(id=None),
        ).document
    )
    assert sorted(m["text"] for m in doc["customer_model"]["on_site_messages"]) == [
        "Before you signed in",
        "For you",
    ]

    customer_redact(session, shop_a, {"customer": {"id": DEMO_CUSTOMER}}, SimpleNamespace(id=None))
    session.commit()
    left = session.exec(select(Nudge.shop_id, Nudge.text).order_by(Nudge.id)).all()
    assert left == [(a.shop_id, "Someone else's"), (a.shop_id, "Spring sale"), (b.shop_id, "Other shop")]
