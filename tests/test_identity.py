"""Identity stitching: the pure union-find, its persistent copy, and merges of histories at login."""

from __future__ import annotations

from profile_support import pixel_rows
from sqlmodel import Session, select

from app.identity import IdentityGraph, node, normalize_customer_id, normalize_token
from app.jobs.profiles import fold_pixel_events
from app.models.events import IdentityLink, PixelEvent
from app.models.profiles import CustomerProfile
from app.models.shop import Shop
from app.stores.identity import link_identifiers, members_of, resolve
from app.stores.profiles import link_commerce_identity


def test_normalisation():
    assert normalize_customer_id("gid://shopify/Customer/42") == 42
    assert normalize_customer_id(" 42 ") == 42
    assert normalize_customer_id("42abc") is None and normalize_customer_id(0) is None
    assert normalize_customer_id(True) is None
    assert normalize_token("gid://shopify/Cart/Z2NwLXVz?key=abc") == "Z2NwLXVz"
    assert node("cart", "gid://shopify/Cart/T1?key=k") == node("cart", "T1") == "cart:T1"
    assert node("client", "") is None


def test_graph_customer_wins_root_and_two_customers_never_merge():
    g = IdentityGraph()
    assert g.link("client:a", "cart:t1").root == "client:a"
    merge = g.link("cart:t1", "customer:7")
    assert (merge.root, merge.absorbed) == ("customer:7", "client:a")
    assert g.members("customer:7") == {"client:a", "cart:t1", "customer:7"}
    assert g.link("client:a", "customer:8") is None  # shared device: refused
    assert g.conflicts and g.find("customer:8") == "customer:8"
    g.link("client:b", "customer:8")
    assert g.find("client:b") == "customer:8" and g.find("client:a") == "customer:7"


def test_persistent_links_stay_flat(session: Session):
    shop = Shop(domain="alpha.myshopify.com")
    session.add(shop)
    session.commit()
    link_identifiers(session, shop.id, ["client:a", "cart:t1"])
    link_identifiers(session, shop.id, ["client:b", "checkout:c1"])
    result = link_identifiers(session, shop.id, ["checkout:c1", "cart:t1", "customer:9"])
    session.commit()
    assert [(m.root, m.absorbed) for m in result.merges] == [
        ("client:a", "client:b"),
        ("customer:9", "client:a"),
    ]
    assert members_of(session, shop.id, "customer:9") == sorted(
        ["client:a", "cart:t1", "client:b", "checkout:c1", "customer:9"]
    )
    roots = set(session.exec(select(IdentityLink.root).where(IdentityLink.shop_id == shop.id)).all())
    assert roots == {"customer:9"}  # every node points straight at the root
    assert resolve(session, shop.id, "client:a") == "customer:9"
    assert resolve(session, shop.id, "client:never-seen") == "client:never-seen"


def _profile(session: Session, shop_id: int, key: str) -> CustomerProfile | None:
    session.expire_all()
    return session.exec(
        select(CustomerProfile).where(CustomerProfile.shop_id == shop_id, CustomerProfile.customer_key == key)
    ).first()


def test_anonymous_history_merges_into_the_customer_after_login(session: Session):
    shop = Shop(domain="alpha.myshopify.com")
    session.add(shop)
    session.commit()
    # an anonymous visit: browsing and a search, no customer known
    anon = pixel_rows(session, shop.id, "client-x", ["page_viewed", "product_viewed", "search_submitted"])
    fold_pixel_events(session, shop.id, anon)
    session.commit()
    assert _profile(session, shop.id, "client:client-x").event_count == 3

    # the same browser logs in: the pixel now sends init.data.customer.id with the batch, a claim only
    known = pixel_rows(
        session, shop.id, "client-x", ["product_viewed", "product_added_to_cart"], customer=555
    )
    result = fold_pixel_events(session, shop.id, known)
    session.commit()
    assert result["merges"] == 0
    assert _profile(session, shop.id, "customer:555") is None
    assert _profile(session, shop.id, "client:client-x").event_count == 5
    assert members_of(session, shop.id, "customer:555") == []

    # the app proxy's signed logged_in_customer_id next to this client id: verified, the history merges
    link_commerce_identity(session, shop.id, 555, client_id="client-x")
    session.commit()
    assert _profile(session, shop.id, "client:client-x") is None
    merged = _profile(session, shop.id, "customer:555")
    assert merged.customer_shopify_id == 555
    assert merged.event_count == 5
    assert merged.behavioural["by_name"]["search_submitted"] == 1
    assert merged.behavioural["products"]["12"]["views"] == 2

    # later anonymous-looking events of that browser keep landing on the customer
    later = pixel_rows(session, shop.id, "client-x", ["page_viewed"])
    fold_pixel_events(session, shop.id, later)
    session.commit()
    assert _profile(session, shop.id, "customer:555").event_count == 6


def test_a_pixel_customer_claim_never_stitches(session: Session):
    """The pixel key is public: a batch naming someone else's customer id must not reach their profile."""
    shop = Shop(domain="alpha.myshopify.com")
    session.add(shop)
    session.commit()
    link_commerce_identity(session, shop.id, 555, client_id="victim-browser")  # the victim signed in
    session.commit()
    spoof = pixel_rows(session, shop.id, "attacker", ["product_viewed", "checkout_started"], customer=555)
    fold_pixel_events(session, shop.id, spoof)
    session.commit()
    assert resolve(session, shop.id, "client:attacker") == "client:attacker"
    assert "client:attacker" not in members_of(session, shop.id, "customer:555")
    assert _profile(session, shop.id, "client:attacker").event_count == 2
    assert _profile(session, shop.id, "customer:555") is None  # nothing folded into the victim
    # the claim is kept on the rows, as a claim
    assert {e.customer_shopify_id for e in session.exec(select(PixelEvent)).all()} == {555}


def test_checkout_webhook_tokens_and_app_proxy_login_stitch(session: Session):
    shop = Shop(domain="alpha.myshopify.com")
    session.add(shop)
    session.commit()
    ids = pixel_rows(session, shop.id, "client-y", ["cart_viewed"], cart="gid://shopify/Cart/TOK9?key=s")
    fold_pixel_events(session, shop.id, ids)
    session.commit()
    # an order webhook names the cart token next to the customer id
    root = link_commerce_identity(session, shop.id, 321, cart_token="TOK9")
    session.commit()
    assert root == "customer:321"
    assert _profile(session, shop.id, "customer:321").event_count == 1
    assert (
        _profile(session, shop.id, "cart:TOK9") is None
        and _profile(session, shop.id, "client:client-y") is None
    )
    # the app proxy's logged_in_customer_id next to another client id
    link_commerce_identity(session, shop.id, 321, client_id="client-z")
    session.commit()
    assert "client:client-z" in members_of(session, shop.id, "customer:321")


def test_two_shops_with_the_same_ids_stay_apart(session: Session):
    a, b = Shop(domain="alpha.myshopify.com"), Shop(domain="beta.myshopify.com")
    session.add_all([a, b])
    session.commit()
    for shop in (a, b):  # the same customer id signs in on the same client id in both shops
        link_commerce_identity(session, shop.id, 1, client_id="same-client")
    fold_pixel_events(
        session, a.id, pixel_rows(session, a.id, "same-client", ["product_viewed"], customer=1, start=0)
    )
    fold_pixel_events(
        session,
        b.id,
        pixel_rows(session, b.id, "same-client", ["page_viewed", "page_viewed"], customer=1, start=0),
    )
    session.commit()
    pa, pb = _profile(session, a.id, "customer:1"), _profile(session, b.id, "customer:1")
    assert pa.id != pb.id
    assert pa.event_count == 1 and pb.event_count == 2
    assert "product_viewed" not in pb.behavioural["by_name"]
    assert members_of(session, a.id, "customer:1") == ["client:same-client", "customer:1"]
    events_a = session.exec(select(PixelEvent).where(PixelEvent.shop_id == a.id)).all()
    assert len(events_a) == 1
