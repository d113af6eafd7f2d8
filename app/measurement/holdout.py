"""Holdout arms: a stable hash bucket per shop × agent × shopper, compared with the agent's share.

Pure functions shared by the storefront's lists and the orchestrator's messages. The same shopper always lands
in the same bucket for one agent, and buckets of different agents are independent (the agent is part of the
hash), so each agent's lift is measured on its own. The global holdout (``in_global_holdout``) is one more draw under
the name ``global``: the shoppers in it are held out by every agent, so the control room can compare shoppers
under the agents with shoppers no agent ever touched.
"""

from __future__ import annotations

import hashlib

BUCKETS = 10_000
# the global holdout's name in the hash and in ``holdout_policy``: shoppers no agent touches
GLOBAL = "global"
GLOBAL_DEFAULT_SHARE = 0.05


def holdout_bucket(shop_id: int, agent: str, subject_kind: str, subject: str, salt: str = "") -> int:
    """A bucket in ``[0, BUCKETS)`` that never changes for this shop, agent and shopper."""
    key = f"{shop_id}:{agent}:{subject_kind}:{subject}:{salt}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") % BUCKETS


def in_holdout(
    shop_id: int, agent: str, subject_kind: str, subject: str, share: float, salt: str = ""
) -> bool:
    """True when the shopper is held out. Shoppers without an id are never held out (and not measured)."""
    if not subject or share <= 0:
        return False
    threshold = round(min(share, 1.0) * BUCKETS)
    return holdout_bucket(shop_id, agent, subject_kind, subject, salt) < threshold


def in_global_holdout(shop_id: int, subject_kind: str, subject: str, share: float, salt: str = "") -> bool:
    """True when the shopper is in the shop's global holdout: every agent leaves them alone (the same draw
    for every agent, independent of each agent's own holdout)."""
    return in_holdout(shop_id, GLOBAL, subject_kind, subject, share, salt)
