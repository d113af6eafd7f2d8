"""Holdout assignment of the storefront's lists: the shared stable hash (``app.measurement.holdout``) under the
storefront's agent name and default share."""

from __future__ import annotations

from app.measurement.holdout import BUCKETS, holdout_bucket, in_holdout

AGENT = "recommendations"  # the storefront's agent: its holdout policy, hash and served-list log entries
DEFAULT_SHARE = 0.1

__all__ = ["AGENT", "BUCKETS", "DEFAULT_SHARE", "holdout_bucket", "in_holdout"]
