"""The orchestrator's policy: one decision per proposal, for every agent and channel of one shop.

Per shopper, the proposals compete for one contact budget in order of expected incremental value (highest
first; ties by agent and dedupe key, so the outcome never depends on the order they arrived in). Each one goes
through these steps, and the first that stops it gives the decision and its reason:

1. **dedupe**: a key already sent, scheduled or held out (or earlier in this batch) is suppressed;
2. **holdout**: the arm is drawn before anything else is looked at (intention to treat): first the shop's global
   holdout (a stable hash of shop + shopper under the name ``global``: shoppers no agent ever contacts), then
   the agent's own, a stable hash of shop + agent + shopper; a held-out proposal is recorded and never sent;
   2b. **the agent's card**: an agent the merchant switched off is suppressed; its channels are narrowed to those
   its card allows, its allowed hours narrowed to the card's, and past its weekly budget it is suppressed;
3. **purchase**: a ``cancel_on_purchase`` proposal (browse, rescue) made before the shopper's last purchase is
   suppressed;
4. **stock**: a proposal about an out-of-stock product is suppressed;
5. **channel and consent**: the first allowed channel the shopper can be reached on and, for marketing on a
   consent channel, has SUBSCRIBED to (transactional messages need no marketing consent); a channel the shopper
   asked for this very message on (``Proposal.requested``, a back-in-stock request) is both. The same choice is
   recorded on every decision, held out or not, as ``intended_channel`` (read before the arm is applied), so
   lift can be measured per agent × channel;
6. **quiet hours and window**: the first instant from ``max(earliest, now)`` inside the recipient's allowed
   local hours; past ``latest`` the proposal is suppressed, later than now it is deferred;
7. **budget**: a budget-counted marketing message must fit ``per_day`` in every 24 h and ``per_week`` in every
   7 days, counting messages already sent or scheduled and the winners of this batch; a loser is suppressed,
   naming the winner.

Pure: proposals, facts and the policy in, decisions out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from app.measurement.holdout import in_global_holdout, in_holdout
from app.orchestrator.budget import fits
from app.orchestrator.clock import next_allowed
from app.orchestrator.proposal import (
    CHANNELS,
    DAY,
    SUBSCRIBED,
    WEEK,
    Action,
    Arm,
    ContactPolicy,
    Decision,
    Proposal,
    ProposalError,
    Purpose,
    Shopper,
    ShopperFacts,
)
from app.orchestrator.timezones import recipient_timezone


def globally_held_out(shop_id: int, shopper: Shopper, policy: ContactPolicy) -> bool:
    """The shopper is in the shop's global holdout: no agent touches them."""
    g = policy.global_holdout
    return in_global_holdout(shop_id, shopper.kind, shopper.id, g.share, g.salt)


def shopper_arm(shop_id: int, agent: str, shopper: Shopper, policy: ContactPolicy) -> Arm:
    """The shopper's arm for ``agent``: the global holdout first, then the agent's own (stable per shop, agent
    and shopper; the same hashes as the storefront's holdout). What the agent shows on the storefront follows
    it too, so its holdout sees none of it."""
    if globally_held_out(shop_id, shopper, policy):
        return Arm.HOLDOUT
    holdout = policy.holdout_for(agent)
    held = in_holdout(shop_id, agent, shopper.kind, shopper.id, holdout.share, holdout.salt)
    return Arm.HOLDOUT if held else Arm.TREATMENT


def draw_arm(proposal: Proposal, policy: ContactPolicy) -> Arm:
    """The proposal's arm (``shopper_arm``)."""
    return shopper_arm(proposal.shop_id, proposal.agent, proposal.shopper, policy)


def _order(proposals: Iterable[tuple[int, Proposal]]) -> list[tuple[int, Proposal]]:
    return sorted(proposals, key=lambda ip: (-ip[1].expected_value, ip[1].agent, ip[1].dedupe_key, ip[0]))


def _channel(proposal: Proposal, facts: ShopperFacts) -> tuple[str | None, str]:
    """The first usable channel, or None and why none is."""
    why = []
    for channel in proposal.channels:
        spec = CHANNELS[channel]
        if channel in proposal.requested:  # the shopper asked for this message here: reachable and consented
            return channel, ""
        if channel not in facts.reachable:
            why.append(f"no {channel} address")
            continue
        if proposal.purpose is Purpose.MARKETING and spec.needs_consent:
            state = facts.consents.get(channel) or "no consent recorded"
            if state != SUBSCRIBED:
                why.append(f"{channel} marketing consent is {state.lower().replace('_', ' ')}")
                continue
        return channel, ""
    return None, "no channel it may use: " + "; ".join(why)


class _Agents:
    """The shop-wide state of one batch: each agent's weekly budget used so far."""

    def __init__(self, policy: ContactPolicy) -> None:
        self.used = dict(policy.agent_week_counts)


def _switched(proposal: Proposal, policy: ContactPolicy) -> tuple[Proposal, str | None]:
    """The proposal as the agent's card allows it (its channels narrowed), or why the card stops it."""
    sw = policy.switch_for(proposal.agent)
    if not sw.enabled:
        return proposal, f"{proposal.agent} is switched off on its card"
    if sw.channels:
        allowed = tuple(c for c in proposal.channels if c in sw.channels)
        if not allowed:
            return proposal, f"none of its channels is allowed on {proposal.agent}'s card"
        proposal = replace(proposal, channels=allowed)
    return proposal, None


class _Shopper:
    """One shopper's state while their proposals are decided: the budget so far and the keys taken."""

    def __init__(self, facts: ShopperFacts) -> None:
        self.facts = facts
        self.times = list(facts.marketing_times)
        self.keys = set(facts.taken_keys)
        self.winners: list[tuple[Proposal, datetime]] = []


def _budget_loss(proposal: Proposal, state: _Shopper, policy: ContactPolicy, send_at: datetime) -> str | None:
    for limit, length, label in ((policy.per_day, DAY, "24 h"), (policy.per_week, WEEK, "7 days")):
        if not fits(state.times, send_at, limit, length):
            reason = f"contact budget: {limit} marketing message(s) per {label} already used"
            beaten = [w for w, at in state.winners if abs(at - send_at) < length]
            if beaten:
                w = beaten[0]
                reason += (
                    f" (by {w.agent}, expected value {w.expected_value:g} ≥ {proposal.expected_value:g})"
                )
            return reason
    return None


def _decide_one(
    proposal: Proposal, state: _Shopper, policy: ContactPolicy, now: datetime, agents: _Agents
) -> Decision:
    """The decision, with the channel the proposal would go by whatever its arm (``intended_channel``): read
    from reachability and consent before the arm is applied, the same way for both arms, so a held-out
    shopper's counterfactual channel and a treated one's are comparable."""
    narrowed, stopped = _switched(proposal, policy)
    intended = _channel(narrowed, state.facts)[0]
    decision = _decide(narrowed, state, policy, now, agents, stopped)
    return replace(decision, proposal=proposal, intended_channel=intended)


def _decide(
    proposal: Proposal,
    state: _Shopper,
    policy: ContactPolicy,
    now: datetime,
    agents: _Agents,
    stopped: str | None = None,
) -> Decision:
    facts = state.facts

    def suppress(arm: Arm, reason: str, **kw: object) -> Decision:
        return Decision(proposal, Action.SUPPRESS, arm, reason, **kw)  # type: ignore[arg-type]

    if proposal.dedupe_key in state.keys:
        return suppress(
            draw_arm(proposal, policy), f"already sent or scheduled (dedupe key {proposal.dedupe_key})"
        )
    arm = draw_arm(proposal, policy)
    if arm is Arm.HOLDOUT:
        state.keys.add(proposal.dedupe_key)
        if globally_held_out(proposal.shop_id, proposal.shopper, policy):
            why = (
                "in the shop's global holdout: no agent contacts this shopper, to measure the agents together"
            )
            return Decision(proposal, Action.HOLD_OUT, arm, why)
        return Decision(proposal, Action.HOLD_OUT, arm, f"held out from {proposal.agent} to measure its lift")
    if stopped:
        return suppress(arm, stopped)
    bought = facts.last_purchase_at
    if (
        proposal.cancel_on_purchase
        and bought is not None
        and bought >= (proposal.proposed_at or proposal.earliest)
    ):
        return suppress(arm, "the shopper bought since this was proposed")
    gone = sorted(set(proposal.product_ids) & facts.out_of_stock)
    if gone:
        return suppress(arm, f"out of stock: product {', '.join(map(str, gone))}")
    channel, why = _channel(proposal, facts)
    if channel is None:
        return suppress(arm, why)
    spec = CHANNELS[channel]
    zone, source = recipient_timezone(
        facts.country, facts.province, facts.browser_timezone, policy.shop_timezone
    )
    start = max(proposal.earliest, now)
    quiet = spec.quiet_hours and proposal.purpose is Purpose.MARKETING
    first, last = policy.window_for(proposal.agent)
    send_at = next_allowed(start, zone, first, last) if quiet else start
    kw = {"channel": channel, "timezone": zone}
    if send_at > proposal.latest:
        window = f"{first:%H:%M}-{last:%H:%M}"
        return suppress(
            arm, f"no time inside quiet hours ({window} {zone}, from {source}) before the latest", **kw
        )
    counted = proposal.purpose is Purpose.MARKETING and spec.counts_toward_budget
    if counted:
        loss = _budget_loss(proposal, state, policy, send_at)
        if loss:
            return suppress(arm, loss, **kw)
    cap = policy.switch_for(proposal.agent).weekly_budget
    if cap is not None and agents.used.get(proposal.agent, 0) >= cap:
        return suppress(arm, f"{proposal.agent}'s weekly budget of {cap} message(s) is used", **kw)
    if counted:
        state.times.append(send_at)
        state.winners.append((proposal, send_at))
    agents.used[proposal.agent] = agents.used.get(proposal.agent, 0) + 1
    state.keys.add(proposal.dedupe_key)
    action = Action.SEND if send_at <= now else Action.DEFER
    local = f"{send_at.astimezone(ZoneInfo(zone)):%H:%M} {zone}"
    reason = (
        proposal.reason if action is Action.SEND else f"{proposal.reason} (deferred to {local}, quiet hours)"
    )
    return Decision(proposal, action, arm, reason, channel=channel, send_at=send_at, timezone=zone)


def decide(
    proposals: Sequence[Proposal],
    facts: Mapping[str, ShopperFacts],
    policy: ContactPolicy,
    now: datetime,
) -> list[Decision]:
    """One decision per proposal (in the proposals' order). ``facts`` is keyed by ``Shopper.key``; a shopper
    without facts is known only by their key (no address, no consent, nothing sent)."""
    if now.tzinfo is None:
        raise ProposalError("now must be timezone-aware")
    shops = {p.shop_id for p in proposals}
    if len(shops) > 1:
        raise ProposalError("one shop's proposals at a time")
    by_shopper: dict[str, list[tuple[int, Proposal]]] = defaultdict(list)
    for i, p in enumerate(proposals):
        by_shopper[p.shopper.key].append((i, p))
    decided: dict[int, Decision] = {}
    agents = _Agents(policy)
    for key, group in by_shopper.items():
        state = _Shopper(facts.get(key, ShopperFacts()))
        for i, p in _order(group):
            decided[i] = _decide_one(p, state, policy, now, agents)
    return [decided[i] for i in range(len(proposals))]
