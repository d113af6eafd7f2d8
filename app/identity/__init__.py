"""Identity stitching, pure: which identifiers (pixel client ids, cart and checkout tokens, customer ids)
belong to one shopper.

Identifiers are nodes ``kind:value`` (``client:…``, ``cart:…``, ``checkout:…``, ``customer:…``). A set of
linked nodes is one shopper; its root is the node the profile is keyed by. The structure is a *flat*
union-find: every node points straight at its root, so finding a root is one lookup and listing a
shopper's identifiers is one query (the persistent copy in ``app.stores.identity`` keeps the same shape).

Rules:
- a customer node always wins the root, so a visitor who logs in or checks out is keyed by the customer;
- only verified sources link a customer node (the app proxy's signed ``logged_in_customer_id``, Shopify's
  order and checkout webhooks): the storefront pixel's customer id is a claim anyone can forge, so pixel
  batches link only their browser's client id with the cart and checkout tokens it holds;
- a set never holds two customers: linking a device already stitched to customer A with customer B is
  refused (shared devices stay apart) and reported as a conflict;
- otherwise the higher-ranked kind wins (customer > client > cart > checkout), then the smaller key, so an
  anonymous shopper is keyed by the browser's client id rather than a short-lived token.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

KINDS = ("client", "cart", "checkout", "customer")
KIND_RANK = {"checkout": 0, "cart": 1, "client": 2, "customer": 3}
MAX_VALUE_LEN = 150
_GID_RE = re.compile(r"^gid://shopify/[A-Za-z]+/")
_DIGITS_RE = re.compile(r"^\d{1,19}$")


def normalize_customer_id(value: object) -> int | None:
    """``123``, ``"123"`` or ``"gid://shopify/Customer/123"`` -> 123; anything else -> None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    text = _GID_RE.sub("", str(value).strip())
    if not _DIGITS_RE.match(text):
        return None
    number = int(text)
    return number if 0 < number < 2**63 else None


def normalize_token(value: object) -> str | None:
    """Cart/checkout tokens as webhooks spell them: the pixel's ``gid://shopify/Cart/TOKEN?key=…`` -> TOKEN."""
    if value is None:
        return None
    text = _GID_RE.sub("", str(value).strip()).split("?", 1)[0]
    if not text or len(text) > MAX_VALUE_LEN:
        return None
    return text


def node(kind: str, value: object) -> str | None:
    """The node key of one identifier, or None when the value is empty or malformed."""
    if kind not in KIND_RANK:
        raise ValueError(f"unknown identity kind {kind!r}")
    if kind == "customer":
        cid = normalize_customer_id(value)
        return None if cid is None else f"customer:{cid}"
    text = normalize_token(value) if kind in ("cart", "checkout") else _plain(value)
    return None if text is None else f"{kind}:{text}"


def _plain(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text if 0 < len(text) <= MAX_VALUE_LEN else None


def kind_of(key: str) -> str:
    return key.split(":", 1)[0]


def customer_id_of(key: str) -> int | None:
    """The Shopify customer id a root stands for, or None for an anonymous shopper."""
    return int(key.split(":", 1)[1]) if kind_of(key) == "customer" else None


def choose_root(a: str, b: str) -> str:
    ra, rb = KIND_RANK[kind_of(a)], KIND_RANK[kind_of(b)]
    if ra != rb:
        return a if ra > rb else b
    return min(a, b)


@dataclass(frozen=True)
class Merge:
    """Two shoppers became one: everything keyed by ``absorbed`` now belongs to ``root``."""

    root: str
    absorbed: str


@dataclass(frozen=True)
class Conflict:
    """A link refused because both sides already belong to different customers."""

    a: str
    b: str


@dataclass
class IdentityGraph:
    """In-memory flat union-find for one shop (tests, rebuilds, benchmarks, and the job's working copy)."""

    parent: dict[str, str] = field(default_factory=dict)
    conflicts: list[Conflict] = field(default_factory=list)

    def find(self, key: str) -> str:
        return self.parent.setdefault(key, key)

    def members(self, root: str) -> set[str]:
        return {k for k, r in self.parent.items() if r == root}

    def link(self, a: str, b: str) -> Merge | None:
        """Put ``a`` and ``b`` in one set; returns the merge done, None when already together or refused."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return None
        if kind_of(ra) == "customer" and kind_of(rb) == "customer":
            self.conflicts.append(Conflict(a, b))
            return None
        root = choose_root(ra, rb)
        absorbed = rb if root == ra else ra
        for k, r in self.parent.items():
            if r == absorbed:
                self.parent[k] = root
        return Merge(root=root, absorbed=absorbed)

    def link_all(self, keys: Iterable[str | None]) -> list[Merge]:
        """Link every given identifier together (None entries are skipped)."""
        present = [k for k in keys if k]
        merges: list[Merge] = []
        for other in present[1:]:
            merge = self.link(present[0], other)
            if merge:
                merges.append(merge)
        return merges
