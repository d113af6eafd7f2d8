"""The newsletter agent (pure): each recipient's send hour is their own usual hour, in their time zone, the next
time it comes round, and the orchestrator schedules the message for then (and keeps quiet hours)."""

from __future__ import annotations

from datetime import UTC, datetime

from app.agents.newsletter import Newsletter, Recipient, propose
from app.orchestrator.policy import decide
from app.orchestrator.proposal import Action, ContactPolicy, HoldoutShare, Shopper, ShopperFacts

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)  # 11:00 in Paris, 05:00 in New York
NEWS = Newsletter(campaign_id=3, subject="{first_name}, our winter edit", body="Warm things.")


def _active_at(hour: int) -> list[int]:
    return [9 if h == hour else (1 if h == 12 else 0) for h in range(24)]


def recipient(cid: int, hours: list[int], zone: str | None) -> Recipient:
    return Recipient(shopper=Shopper(customer_id=cid), first_name="Ada", hours=hours, time_zone=zone)


def test_each_recipient_gets_their_own_send_hour_and_the_orchestrator_keeps_it():
    evening = propose(1, "Shop", NEWS, recipient(1, _active_at(19), "Europe/Paris"), NOW, 40.0)
    morning = propose(1, "Shop", NEWS, recipient(2, _active_at(9), "America/New_York"), NOW, 40.0)
    now_hour = propose(1, "Shop", NEWS, recipient(3, _active_at(11), "Europe/Paris"), NOW, 40.0)
    unknown = propose(1, "Shop", NEWS, recipient(4, [0] * 24, "Europe/Paris"), NOW, 40.0)
    assert evening.earliest == datetime(2026, 12, 7, 18, 0, tzinfo=UTC)  # 19:00 in Paris today
    assert morning.earliest == datetime(2026, 12, 7, 14, 0, tzinfo=UTC)  # 09:00 in New York today
    assert now_hour.earliest == NOW  # inside their hour already: now
    assert unknown.earliest == NOW  # no evidence of a better hour: not delayed (11:00 is a pleasant hour)
    assert evening.content.data["subject_template"] == NEWS.subject and "usual hour" in evening.reason

    proposals = [evening, morning, now_hour]
    facts = {
        p.shopper.key: ShopperFacts(consents={"email": "SUBSCRIBED"}, reachable=frozenset({"email"}))
        for p in proposals
    }
    policy = ContactPolicy(default_holdout=HoldoutShare(0.0))
    decided = {d.proposal.shopper.customer_id: d for d in decide(proposals, facts, policy, NOW)}
    assert decided[1].action is Action.DEFER and decided[1].send_at == evening.earliest
    assert decided[2].action is Action.DEFER and decided[2].send_at == morning.earliest
    assert decided[3].action is Action.SEND
