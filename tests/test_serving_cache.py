"""The storefront read path's small pieces: the query parser equals ``parse_qsl`` on any input, and the
serving cache serves a recently expired entry while one background reload replaces it."""

from __future__ import annotations

import threading
import time
from urllib.parse import parse_qsl

from hypothesis import given, settings
from hypothesis import strategies as st

from app.shopify.verify import parse_query_pairs
from app.storefront.cache import CachedList, ServingStore
from app.storefront.ttl_cache import TTLCache

QUERY_CHARS = st.sampled_from(list("ab=&+%;2F0z é") + ["%2F", "%E9", "%zz", "%", "==", "&&"])


@settings(max_examples=400, deadline=None)
@given(st.lists(QUERY_CHARS, max_size=30).map("".join))
def test_query_pairs_are_exactly_parse_qsl(query):
    assert parse_query_pairs(query) == parse_qsl(query, keep_blank_values=True)
    raw = query.encode("utf-8")
    assert parse_query_pairs(raw) == parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)


def _expire(cache: TTLCache, key, by: float) -> None:
    """Move ``key``'s expiry ``by`` seconds into the past (as if time had passed)."""
    expires, value = cache._data[key]
    cache._data[key] = (time.monotonic() - by, value)


def _wait_reloaded(cache: TTLCache, key) -> None:
    """Until the background reload of ``key`` (marked before ``get_or_load`` returned) has finished."""
    deadline = time.monotonic() + 5
    while key in cache._refreshing:
        assert time.monotonic() < deadline, "the background reload never finished"
        time.sleep(0.005)


def test_an_expired_entry_is_served_while_one_background_reload_replaces_it():
    cache = TTLCache(ttl=30, refresh_ahead=True)
    calls: list[str] = []
    gate = threading.Event()

    def load(value: str):
        def run() -> str:
            calls.append(threading.current_thread().name)
            if value == "new":
                gate.wait(5)
            return value

        return run

    assert cache.get_or_load("k", load("old")) == "old"
    _expire(cache, "k", by=1)
    # Expired a second ago: the old value comes back at once, and one reload starts in the background,
    # however many requests ask meanwhile.
    assert [cache.get_or_load("k", load("new")) for _ in range(5)] == ["old"] * 5
    gate.set()
    _wait_reloaded(cache, "k")
    assert cache.get_or_load("k", load("never")) == "new"
    assert calls[0] == "MainThread" and calls[1:] == ["serving-refresh"]


def test_an_entry_expired_longer_than_ttl_ago_is_loaded_on_the_request():
    cache = TTLCache(ttl=30, refresh_ahead=True)
    cache.get_or_load("k", lambda: "old")
    _expire(cache, "k", by=31)
    assert cache.get_or_load("k", lambda: "new") == "new"  # too old to serve: loaded synchronously


def test_without_refresh_ahead_an_expired_entry_is_loaded_on_the_request():
    cache = TTLCache(ttl=30)
    cache.get_or_load("k", lambda: "old")
    _expire(cache, "k", by=1)
    assert cache.get_or_load("k", lambda: "new") == "new"


def test_a_reload_that_finds_the_same_list_keeps_its_rendered_answers():
    cache = TTLCache(ttl=30, refresh_ahead=True)
    same = {"product": CachedList(1, "fbt", "a", ({"product_id": 7},), "2026-12-05T00:00:00")}
    changed = {"product": CachedList(1, "fbt", "a", ({"product_id": 8},), "2026-12-05T01:00:00")}
    first = cache.get_or_load("c", lambda: same)
    first["product"].rendered["x"] = "kept"  # what was rendered from the list so far
    _expire(cache, "c", by=1)
    cache.get_or_load(
        "c",
        lambda: {k: CachedList(v.id, v.strategy, v.variant, v.items, v.computed_at) for k, v in same.items()},
    )
    _wait_reloaded(cache, "c")
    assert cache.get("c")["product"].rendered == {"x": "kept"}  # equal list: the old object stays
    _expire(cache, "c", by=1)
    cache.get_or_load("c", lambda: changed)
    _wait_reloaded(cache, "c")
    assert cache.get("c")["product"].items == ({"product_id": 8},)
    assert cache.get("c")["product"].rendered == {}


def test_a_failing_reload_keeps_serving_the_old_value_and_tries_again():
    cache = TTLCache(ttl=30, refresh_ahead=True)
    cache.get_or_load("k", lambda: "old")
    _expire(cache, "k", by=1)

    def broken() -> str:
        raise RuntimeError("database down")

    assert cache.get_or_load("k", broken) == "old"
    _wait_reloaded(cache, "k")
    assert cache.get_or_load("k", lambda: "new") == "old"  # still stale: a second reload starts
    _wait_reloaded(cache, "k")
    assert cache.get_or_load("k", lambda: "never") == "new"


def _wait(condition, what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_a_web_worker_keeps_lists_until_they_change_then_reloads_them_off_the_request(settings, session):
    from app.jobs.recommendations import refresh_for_shop
    from app.recommend.lists import ListSpec
    from app.storefront.demo_data import DEMO_CUSTOMER, seed_demo_shop
    from app.stores.lists import write_lists

    shop = seed_demo_shop(session, "attune-demo.myshopify.com")
    refresh_for_shop(shop.shop_id, settings)
    store = ServingStore(settings.database_url, None)
    store.refresh_ahead(list_ttl=600, check_every=3600)  # checks run by hand below
    customer = str(DEMO_CUSTOMER)
    before = store.list(shop.shop_id, "customer", customer, "home")
    assert before is not None
    assert store.check_lists() == [shop.shop_id]  # first look: entries may predate it, reloaded once
    assert store.list(shop.shop_id, "customer", customer, "home") == before  # served while reloading
    _wait(lambda: not store._customer_lists._refreshing, "first reload")
    assert store.check_lists() == []  # nothing changed: the lists stay cached, no reload
    assert store.list(shop.shop_id, "customer", customer, "home") == before

    new_items = [{"product_id": 424242, "variant_id": 1, "score": 1.0, "reason": "test"}]
    write_lists(
        session,
        shop.shop_id,
        [ListSpec("customer", customer, "home", "test-strategy", new_items)],
        replace_scopes={"customer": {customer}},
    )
    session.commit()
    assert store.check_lists() == [shop.shop_id]
    # The first request after the change still gets the cached list at once; the reload runs behind it.
    assert store.list(shop.shop_id, "customer", customer, "home").items == before.items
    _wait(
        lambda: store.list(shop.shop_id, "customer", customer, "home").items == tuple(new_items),
        "the changed list never reached the cache",
    )


def test_lists_warmed_at_start_are_not_reloaded_by_the_first_check(settings, session):
    from app.jobs.recommendations import refresh_for_shop
    from app.storefront.demo_data import seed_demo_shop

    shop = seed_demo_shop(session, "attune-demo.myshopify.com")
    refresh_for_shop(shop.shop_id, settings)
    store = ServingStore(settings.database_url, None)
    store.refresh_ahead(check_every=3600)
    assert store.warm()["customers"] > 0
    assert store.check_lists() == []  # versions were taken as the lists were read
    refresh_for_shop(shop.shop_id, settings)  # the nightly rebuild: every list is rewritten
    assert store.check_lists() == [shop.shop_id]
    store.stop_refresh()
