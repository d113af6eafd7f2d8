"""What an agent proposes, what the orchestrator knows about the shopper and the shop, and what it decides.

Plain frozen dataclasses. A ``Proposal`` is checked when it is built: a bad one raises ``ProposalError`` (a
``ValueError``) naming the field, so an agent's bug never reaches the outbox.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any


class ProposalError(ValueError):
    """A proposal or a contact policy that cannot be decided on."""


class Purpose(StrEnum):
    MARKETING = "marketing"
    TRANSACTIONAL = "transactional"


class Action(StrEnum):
    SEND = "send"  # an outbox row, due now
    DEFER = "defer"  # an outbox row, due at ``send_at`` (the next allowed time in the window)
    HOLD_OUT = "hold_out"  # the shopper is in the agent's holdout: recorded, never sent
    SUPPRESS = "suppress"  # not sent, with the reason


class Arm(StrEnum):
    TREATMENT = "treatment"
    HOLDOUT = "holdout"


SUBSCRIBED = "SUBSCRIBED"


@dataclass(frozen=True)
class ChannelSpec:
    """How the policy treats a channel: whether marketing on it needs the shopper's SUBSCRIBED consent, counts
    against the contact budget, and keeps to quiet hours."""

    needs_consent: bool
    counts_toward_budget: bool
    quiet_hours: bool


# On-site messages wait for the shopper's own visit: no consent, no budget, no quiet hours. Flow hands the
# shopper to the merchant's own Shopify automation (which checks consent itself) but still counts as a contact.
CHANNELS: Mapping[str, ChannelSpec] = {
    "email": ChannelSpec(needs_consent=True, counts_toward_budget=True, quiet_hours=True),
    "sms": ChannelSpec(needs_consent=True, counts_toward_budget=True, quiet_hours=True),
    "push": ChannelSpec(needs_consent=True, counts_toward_budget=True, quiet_hours=True),
    "onsite": ChannelSpec(needs_consent=False, counts_toward_budget=False, quiet_hours=False),
    "flow": ChannelSpec(needs_consent=False, counts_toward_budget=True, quiet_hours=True),
}
MAX_KEY = 128
MAX_REASON = 280
MAX_ADDRESS = 320
REQUESTABLE = ("email", "sms")  # channels a shopper can ask for one message on by giving an address


def _aware(name: str, value: datetime) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ProposalError(f"{name} must be a timezone-aware datetime")


@dataclass(frozen=True)
class Shopper:
    """A signed-in customer (Shopify id) or an anonymous visitor (the pixel's client id)."""

    customer_id: int | None = None
    client_id: str | None = None

    def __post_init__(self) -> None:
        if self.customer_id is None and not self.client_id:
            raise ProposalError("a shopper needs a customer id or a client id")
        if self.customer_id is not None and (not isinstance(self.customer_id, int) or self.customer_id <= 0):
            raise ProposalError("customer id must be a positive integer")
        if self.client_id is not None and (not isinstance(self.client_id, str) or len(self.client_id) > 64):
            raise ProposalError("client id must be a string of at most 64 characters")

    @property
    def kind(self) -> str:
        return "customer" if self.customer_id is not None else "client"

    @property
    def id(self) -> str:
        return str(self.customer_id) if self.customer_id is not None else str(self.client_id)

    @property
    def key(self) -> str:
        """``customer:<id>`` or ``client:<id>``: the shopper's key in the budget, holdout and thread."""
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True)
class Content:
    """The message to render: a template name and its (JSON-able) data."""

    template: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.template or not self.template.replace("_", "").replace("-", "").isalnum():
            raise ProposalError("template must be a plain name (letters, digits, '_' or '-')")
        if not isinstance(self.data, Mapping):
            raise ProposalError("content data must be a mapping")


@dataclass(frozen=True)
class Proposal:
    """One message an agent would like to send, and why."""

    agent: str
    shop_id: int
    shopper: Shopper
    purpose: Purpose
    content: Content
    channels: tuple[str, ...]  # in the agent's order of preference
    earliest: datetime
    latest: datetime
    dedupe_key: str
    reason: str  # plain language: why this shopper, why now
    expected_value: float = 0.0  # expected incremental value (uplift × value); the budget's tie-breaker
    product_ids: tuple[
        int, ...
    ] = ()  # the products the message is about (never sent when one is out of stock)
    cancel_on_purchase: bool = (
        False  # browse / rescue messages: a purchase after ``proposed_at`` cancels them
    )
    proposed_at: datetime | None = None
    # what the agent knew of the shopper when it proposed (numbers or labels), recorded with the decision: the
    # agent's uplift model learns from these, never from what the shopper became after the message
    features: Mapping[str, float | str | None] = field(default_factory=dict)
    # channel → the address the shopper gave when they asked for this very message (a back-in-stock request):
    # the request is their consent for this one message on that channel, and the message goes to that address
    requested: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.agent or len(self.agent) > 32:
            raise ProposalError("agent must be a name of 1-32 characters")
        try:
            object.__setattr__(self, "purpose", Purpose(self.purpose))
        except ValueError as exc:
            raise ProposalError(f"purpose must be one of {[p.value for p in Purpose]}") from exc
        if not self.channels or any(c not in CHANNELS for c in self.channels):
            raise ProposalError(f"channels must be a non-empty list of {sorted(CHANNELS)}")
        object.__setattr__(self, "channels", tuple(dict.fromkeys(self.channels)))
        _aware("earliest", self.earliest)
        _aware("latest", self.latest)
        if self.latest < self.earliest:
            raise ProposalError("latest must not be before earliest")
        if self.proposed_at is not None:
            _aware("proposed_at", self.proposed_at)
        if not self.dedupe_key or len(self.dedupe_key) > MAX_KEY:
            raise ProposalError(f"dedupe key must be 1-{MAX_KEY} characters")
        if not self.reason or len(self.reason) > MAX_REASON:
            raise ProposalError(f"reason must be 1-{MAX_REASON} characters")
        if not isinstance(self.expected_value, int | float) or not math.isfinite(self.expected_value):
            raise ProposalError("expected value must be a finite number")
        object.__setattr__(self, "product_ids", tuple(int(p) for p in self.product_ids))
        if not isinstance(self.features, Mapping) or not all(
            isinstance(k, str) and (v is None or isinstance(v, int | float | str))
            for k, v in self.features.items()
        ):
            raise ProposalError("features must map names to numbers, labels or None")
        if not isinstance(self.requested, Mapping) or not all(
            c in REQUESTABLE and isinstance(a, str) and 0 < len(a) <= MAX_ADDRESS
            for c, a in self.requested.items()
        ):
            raise ProposalError(
                f"requested must map {list(REQUESTABLE)} to an address of 1-{MAX_ADDRESS} characters"
            )


@dataclass(frozen=True)
class ShopperFacts:
    """What the policy needs to know about one shopper, loaded by ``app.stores.orchestrator``."""

    consents: Mapping[str, str] = field(default_factory=dict)  # channel → Shopify state (SUBSCRIBED …)
    reachable: frozenset[str] = frozenset()  # channels the shopper has an address on
    country: str | None = None  # the customer's default address (ISO 3166 code)
    province: str | None = None  # its province / state code
    browser_timezone: str | None = None  # the pixel's last reported browser time zone
    marketing_times: tuple[datetime, ...] = ()  # budget-counted marketing messages sent or scheduled
    taken_keys: frozenset[str] = frozenset()  # dedupe keys already sent, scheduled or held out
    last_purchase_at: datetime | None = None
    out_of_stock: frozenset[int] = frozenset()


@dataclass(frozen=True)
class HoldoutShare:
    share: float = 0.1
    salt: str = ""


MAX_GLOBAL_HOLDOUT = 0.5


@dataclass(frozen=True)
class AgentSwitch:
    """What the merchant set on an agent's card: on or off, the channels it may use (empty: its own choice), a
    weekly message budget across the shop (None: only the contact budget) and stricter allowed hours."""

    enabled: bool = True
    channels: tuple[str, ...] = ()
    weekly_budget: int | None = None
    quiet_start: time | None = None
    quiet_end: time | None = None


DEFAULT_START = time(8, 0)
DEFAULT_END = time(21, 0)


@dataclass(frozen=True)
class ContactPolicy:
    """One shop's contact policy. The budget is merchant-configurable; quiet hours may only be made stricter
    than the default 08:00-21:00 (recipient's local time)."""

    per_day: int = 1
    per_week: int = 3
    quiet_start: time = DEFAULT_START  # first allowed local minute
    quiet_end: time = DEFAULT_END  # first quiet local minute again
    shop_timezone: str = "UTC"
    holdouts: Mapping[str, HoldoutShare] = field(default_factory=dict)
    default_holdout: HoldoutShare = HoldoutShare()
    # shoppers no agent ever touches (the control room's comparison); the store loads the shop's 5 % default
    global_holdout: HoldoutShare = HoldoutShare(0.0)
    agents: Mapping[str, AgentSwitch] = field(default_factory=dict)  # the agents' cards
    # each agent's messages sent or scheduled in the last 7 days, shop-wide (its weekly budget's use so far)
    agent_week_counts: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (0 <= self.per_day <= 24 and 0 <= self.per_week <= 100):
            raise ProposalError("budget must be 0-24 per day and 0-100 per week")
        if self.per_day > self.per_week:
            raise ProposalError("the daily budget cannot exceed the weekly one")
        if self.quiet_start < DEFAULT_START or self.quiet_end > DEFAULT_END:
            raise ProposalError("quiet hours may only be stricter than 08:00-21:00")
        if self.quiet_start >= self.quiet_end:
            raise ProposalError("the allowed window must start before it ends")
        for share in [self.default_holdout, *self.holdouts.values()]:
            if not 0 <= share.share <= 1:
                raise ProposalError("a holdout share must be between 0 and 1")
        if not 0 <= self.global_holdout.share <= MAX_GLOBAL_HOLDOUT:
            raise ProposalError(f"the global holdout share must be between 0 and {MAX_GLOBAL_HOLDOUT:g}")

    def switch_for(self, agent: str) -> AgentSwitch:
        return self.agents.get(agent, AgentSwitch())

    def window_for(self, agent: str) -> tuple[time, time]:
        """The allowed local hours for the agent: the shop's, narrowed by its card."""
        sw = self.switch_for(agent)
        return max(self.quiet_start, sw.quiet_start or self.quiet_start), min(
            self.quiet_end, sw.quiet_end or self.quiet_end
        )

    def holdout_for(self, agent: str) -> HoldoutShare:
        return self.holdouts.get(agent, self.default_holdout)


DAY = timedelta(hours=24)
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class Decision:
    """The orchestrator's answer to one proposal."""

    proposal: Proposal
    action: Action
    arm: Arm
    reason: str
    channel: str | None = None
    send_at: datetime | None = None
    timezone: str | None = None  # the recipient's time zone the quiet hours were kept in
    # the channel the policy picks for this shopper from reachability and consent alone, decided for both arms
    # before the arm is applied (intention to treat): a held-out shopper's counterfactual channel, so lift can
    # be compared per agent × channel
    intended_channel: str | None = None

    @property
    def creates_message(self) -> bool:
        return self.action in (Action.SEND, Action.DEFER)
