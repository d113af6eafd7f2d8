"""Persistent identity stitching (the flat union-find of ``app.identity`` in ``identity_link``). No commits.

Callers: the pixel batch job (a client id with its cart and checkout tokens, never a customer: the pixel's
customer id is unverified), ``refresh_profile`` (order/checkout webhooks give cart and checkout tokens with a
customer id) and the app proxy (``POST /proxy/identify``: the signed ``logged_in_customer_id`` next to the
browser's client id).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import insert, update
from sqlmodel import Session, select

from app.identity import Conflict, IdentityGraph, Merge
from app.models.base import utcnow
from app.models.events import IdentityLink


@dataclass
class LinkResult:
    roots: dict[str, str] = field(default_factory=dict)
    merges: list[Merge] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)


def roots_of(session: Session, shop_id: int, nodes: Iterable[str]) -> dict[str, str]:
    """The stored root of each node (nodes never seen are absent)."""
    wanted = sorted(set(nodes))
    if not wanted:
        return {}
    rows = session.exec(
        select(IdentityLink.node, IdentityLink.root).where(
            IdentityLink.shop_id == shop_id,
            IdentityLink.node.in_(wanted),  # type: ignore[attr-defined]
        )
    ).all()
    return {node: root for node, root in rows}


def members_of(session: Session, shop_id: int, root: str) -> list[str]:
    return sorted(
        session.exec(
            select(IdentityLink.node).where(IdentityLink.shop_id == shop_id, IdentityLink.root == root)
        ).all()
    )


def link_identifiers(session: Session, shop_id: int, nodes: Iterable[str | None]) -> LinkResult:
    """Record that ``nodes`` are one shopper. Returns every node's root and the merges performed
    (in order: move what was keyed by ``absorbed`` to ``root``)."""
    present = list(dict.fromkeys(n for n in nodes if n))
    if not present:
        return LinkResult()
    known = roots_of(session, shop_id, present)
    parent = {n: known.get(n, n) for n in present}
    parent.update({r: r for r in known.values()})
    graph = IdentityGraph(parent=parent)
    merges = graph.link_all(present)
    now = utcnow()
    stored_roots = set(known.values())
    for merge in merges:
        # Roots point at themselves, so only a stored root has stored members to move: a node seen for the
        # first time in this call (the usual case for a new cart or checkout token) has none.
        if merge.absorbed not in stored_roots:
            continue
        session.execute(
            update(IdentityLink)
            .where(IdentityLink.shop_id == shop_id, IdentityLink.root == merge.absorbed)  # type: ignore[arg-type]
            .values(root=merge.root, updated_at=now)
        )
    new_rows = [
        {"shop_id": shop_id, "node": n, "root": graph.find(n), "created_at": now, "updated_at": now}
        for n in present
        if n not in known
    ]
    if new_rows:  # one multi-row INSERT, without building ORM objects (the fold's hot path)
        session.execute(insert(IdentityLink.__table__), new_rows)  # type: ignore[attr-defined]
    session.flush()
    return LinkResult(roots={n: graph.find(n) for n in present}, merges=merges, conflicts=graph.conflicts)


def resolve(session: Session, shop_id: int, node: str) -> str:
    """The root of ``node`` (the node itself when it was never linked)."""
    return roots_of(session, shop_id, [node]).get(node, node)
