"""Holdout assignment of the storefront's lists: the shared stable hash (``app.measurement.holdout``) under the
storefront's agent name and default share."""

from __future__ import annotations

from app.measurement.holdout import (
    BUCKETS,
    GLOBAL,
    GLOBAL_DEFAULT_SHARE,
    holdout_bucket,
    in_global_holdout,
    in_holdout,
)

AGENT = "recommendations"  # the storefront's agent: its holdout policy, hash and served-list log entries
DEFAULT_SHARE = 0.1

__all__ = [
    "AGENT",
    "BUCKETS",
    "DEFAULT_SHARE",
    "GLOBAL",
    "GLOBAL_DEFAULT_SHARE",
    "default_share",
    "holdout_bucket",
    "in_global_holdout",
    "in_holdout",
]


def default_share(agent: str) -> float:
    """The share held out when the shop stored none: 5 % for the global holdout, 10 % for an agent."""
    return GLOBAL_DEFAULT_SHARE if agent == GLOBAL else DEFAULT_SHARE
