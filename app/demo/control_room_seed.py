"""The demo's control room: a lift for every agent, from simulated experiments, labelled as simulated.

A demo shop has too few shoppers, and too little time, for any agent's lift to show. So for each agent the demo
runs a randomised experiment on synthetic shoppers with a known true effect: each shopper's arm is drawn by the
real holdout hash (the agent's own share in the demo shop, and the global holdout), their outcome is a purchase
with the agent's base rate plus the true uplift when treated, and the lift is measured with the control room's
always-valid interval (``app.measurement.sequential.rate_difference``). The result is stored as the agent's
``agent_lift_snapshot`` with ``simulated`` set, so the control room says the figures are simulated. Checkout
rescue uses the true effect of its own closed-loop simulator (``app.demo.rescue_sim.Truth``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from app.demo.rescue_sim import Truth
from app.measurement.holdout import GLOBAL_DEFAULT_SHARE, in_global_holdout, in_holdout
from app.measurement.sequential import rate_difference
from app.stores.control_room import save_snapshot

SHOPPERS = 4000
HOLDOUT_SHARE = 0.1  # each agent's default


@dataclass(frozen=True)
class Simulated:
    base: float  # purchase within the window without the agent
    uplift: float  # the true effect of the agent on it


def truths() -> dict[str, Simulated]:
    rescue = Truth()
    return {
        "recommendations": Simulated(0.06, 0.012),
        "browse_abandonment": Simulated(0.05, 0.015),
        "rescue": Simulated(rescue.base, rescue.incremental),
        "replenishment": Simulated(0.20, 0.04),
        "support": Simulated(0.08, 0.01),
        # the journey agent's flows (each its own agent and holdout): synthetic truths, labelled as simulated
        "cross_sell": Simulated(0.08, 0.012),
        "win_back": Simulated(0.04, 0.008),
        "welcome": Simulated(0.05, 0.01),
        "vip": Simulated(0.30, 0.01),
        # back in stock (issue 19): shoppers who asked to be told; many come back unprompted, the message
        # brings more of them back while the units last (a synthetic truth, labelled as simulated)
        "back_in_stock": Simulated(0.12, 0.06),
        # in-session help (issue 16): at-risk sessions' purchase within the window, with and without the help
        # rung (a synthetic truth, labelled as simulated; ``attune simulate rescue`` measures the real path)
        "nudge": Simulated(0.25, 0.03),
    }


def simulate(shop_id: int, agent: str, truth: Simulated, seed: int, n: int = SHOPPERS) -> dict[str, Any]:
    """One agent's synthetic experiment: counts per arm, the measured difference and the truth."""
    rng = random.Random(f"{seed}:{agent}")
    x1 = n1 = x2 = n2 = 0
    for i in range(n):
        who = f"sim-{agent}-{i}"
        held = in_global_holdout(shop_id, "customer", who, GLOBAL_DEFAULT_SHARE) or in_holdout(
            shop_id, agent, "customer", who, HOLDOUT_SHARE
        )
        bought = rng.random() < truth.base + (0 if held else truth.uplift)
        if held:
            n2, x2 = n2 + 1, x2 + bought
        else:
            n1, x1 = n1 + 1, x1 + bought
    found = rate_difference(x1, n1, x2, n2)
    return {"agent": agent, "treated": n1, "holdout": n2, "true_uplift": truth.uplift, "found": found}


def seed_control_room(session: Session, shop_id: int, seed: int = 1) -> list[dict[str, Any]]:
    """Store each agent's simulated lift for the demo shop (no commit); returns what was measured."""
    out = []
    for agent, truth in truths().items():
        result = simulate(shop_id, agent, truth, seed)
        found = result["found"]
        if found is not None:
            save_snapshot(
                session,
                shop_id,
                agent,
                "conversion_rate",
                found.interval.estimate,
                found.standard_error,
                result["treated"] + result["holdout"],
                simulated=True,
            )
        out.append(result)
    return out
