"""Profile rows: load, save (compare-and-set on ``version``), merge two shoppers' rows into one, and stitch
identifiers seen together outside the pixel. No commits.

Invariant: a profile is written only through ``save_profile``, which inserts or updates where the row's
``version`` is still the one read, so two writers never silently overwrite each other (the loser raises
``StaleProfile`` and its job recomputes on the fresh row).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlmodel import Session, select

from app.identity import customer_id_of, node
from app.models.base import utcnow
from app.models.profiles import CustomerProfile
from app.profiles.merge import merge_profiles
from app.profiles.state import parse_iso
from app.stores.identity import link_identifiers

STATE_KEYS = ("behavioural", "contextual", "working")


class StaleProfile(RuntimeError):
    """Another job updated the profile first; the job is retried (RQ) and folds on the fresh row."""


def load_profile(session: Session, shop_id: int, customer_key: str) -> CustomerProfile | None:
    return session.exec(
        select(CustomerProfile).where(
            CustomerProfile.shop_id == shop_id, CustomerProfile.customer_key == customer_key
        )
    ).first()


def load_profiles(session: Session, shop_id: int, keys: list[str]) -> dict[str, CustomerProfile]:
    """The profile rows of ``keys`` (those that exist), by key."""
    if not keys:
        return {}
    rows = session.exec(
        select(CustomerProfile).where(
            CustomerProfile.shop_id == shop_id,
            CustomerProfile.customer_key.in_(sorted(set(keys))),  # type: ignore[attr-defined]
        )
    ).all()
    return {row.customer_key: row for row in rows}


def state_of(row: CustomerProfile | None) -> dict[str, Any] | None:
    if row is None or not row.behavioural:
        return None
    return {key: getattr(row, key) for key in STATE_KEYS} | {"explicit": row.explicit, "derived": row.derived}


def save_profile(
    session: Session, shop_id: int, customer_key: str, row: CustomerProfile | None, state: dict[str, Any]
) -> None:
    """Insert, or compare-and-set update on ``version``; raises StaleProfile when another writer won."""
    behavioural = state["behavioural"]
    values: dict[str, Any] = {key: state[key] for key in STATE_KEYS}
    values.update(
        customer_shopify_id=customer_id_of(customer_key),
        event_count=behavioural["events"],
        last_seen_at=parse_iso(behavioural["last_seen"]) if behavioural["last_seen"] else None,
        updated_at=utcnow(),
    )
    for key in ("explicit", "derived"):
        if key in state:
            values[key] = state[key] or {}
    values.update(scalar_columns(values.get("derived") or {}))
    if row is None:
        session.add(CustomerProfile(shop_id=shop_id, customer_key=customer_key, **values))
        session.flush()
        return
    result = session.execute(
        update(CustomerProfile)
        .where(CustomerProfile.id == row.id, CustomerProfile.version == row.version)  # type: ignore[arg-type]
        .values(version=row.version + 1, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise StaleProfile(f"profile {customer_key} of shop {shop_id} changed concurrently")
    session.expire(row)


def scalar_columns(derived: dict[str, Any]) -> dict[str, Any]:
    """The indexed columns mirrored from the derived section (None where not derived yet)."""

    def value(name: str) -> float | None:
        entry = derived.get(name)
        v = entry.get("value") if isinstance(entry, dict) else None
        return float(v) if isinstance(v, int | float) else None

    rfm = derived.get("rfm")
    return {
        "intent": value("intent"),
        "clv": value("clv"),
        "churn_risk": value("churn_risk"),
        "rfm_segment": rfm.get("segment") if isinstance(rfm, dict) else None,
    }


def merge_into(session: Session, shop_id: int, root: str, absorbed: str) -> None:
    """Identity merged ``absorbed`` into ``root``: the two profiles become one row keyed by ``root``."""
    gone = load_profile(session, shop_id, absorbed)
    if gone is None:
        return
    keep = load_profile(session, shop_id, root)
    merged = merge_profiles(state_of(keep), state_of(gone))
    session.delete(gone)
    session.flush()
    save_profile(session, shop_id, root, keep, merged)


def link_commerce_identity(
    session: Session,
    shop_id: int,
    customer_id: int | None,
    *,
    cart_token: str | None = None,
    checkout_token: str | None = None,
    client_id: str | None = None,
) -> str | None:
    """Stitch identifiers seen together outside the pixel (order/checkout webhooks, the app proxy's
    ``logged_in_customer_id`` next to a client id). Merges the profiles involved; returns the root."""
    nodes = [
        node("customer", customer_id),
        node("checkout", checkout_token),
        node("cart", cart_token),
        node("client", client_id),
    ]
    present = [n for n in nodes if n]
    if not present:
        return None
    result = link_identifiers(session, shop_id, present)
    for merge in result.merges:
        merge_into(session, shop_id, merge.root, merge.absorbed)
    return result.roots[present[0]]


def link_signed_in_client(
    session: Session, shop_id: int, customer_id: int, client_id: str
) -> tuple[bool, bool]:
    """The app proxy's signed ``logged_in_customer_id`` next to the browser's client id: the one link from the
    storefront that ties a browser to a customer (the pixel's customer id is only a claim). The browser's
    anonymous history merges into the customer's profile. Returns ``(linked, changed)``: linked is False when
    the browser already belongs to another customer (a shared device stays apart, nothing changes)."""
    customer, client = node("customer", customer_id), node("client", client_id)
    if customer is None or client is None:
        raise ValueError("a customer id and a client id are required")
    result = link_identifiers(session, shop_id, [customer, client])
    for merge in result.merges:
        merge_into(session, shop_id, merge.root, merge.absorbed)
    return result.roots[client] == result.roots[customer], bool(result.merges)
