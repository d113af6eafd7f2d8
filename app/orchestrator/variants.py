"""Message variants tested by a bandit, with the holdout kept outside it.

A merchant may give any agent's messages variants (a subject, a heading, an opening paragraph: the tone and the
content block they lead with). Every proposal of that agent is given one variant by **Thompson sampling**: each
variant's conversion among the *treated* shoppers who got it has a Beta(1 + converters, 1 + non-converters)
posterior; one draw per variant, the highest draw wins. The outcome is the incremental one: the holdout's
conversion is the same baseline for every variant, so the variant with the highest treated conversion is the
one with the highest lift, and the readout reports each variant's lift against the holdout.

The holdout is never the bandit's to allocate: a proposal's arm is drawn afterwards by the orchestrator's stable
hash (``app.orchestrator.policy.shopper_arm``), whatever variant it carries, so the share held out stays the
designed share however sure the bandit becomes (``tests/test_variants_bandit.py`` checks both: it converges on
a simulated better variant and never starves the holdout). A held-out shopper's variant is recorded and ignored.

The draw is seeded by the shop, agent, shopper and dedupe key, so a proposal proposed again gets the same
variant (idempotent), and a batch's draws do not depend on the order of the shoppers in it.

Pure: variants and counts in, choices and readouts out.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.measurement.sequential import rate_difference

MAX_VARIANTS = 6
PLACEHOLDER = re.compile(r"\{(first_name|shop|interest)\}")
READOUT_DRAWS = 4000


@dataclass(frozen=True)
class Variant:
    """One variant of an agent's message: the words it replaces (None keeps the message's own)."""

    key: str
    subject: str | None = None
    heading: str | None = None
    body: str | None = None  # the opening paragraph


@dataclass(frozen=True)
class Counts:
    """Shoppers who got the variant (treated) and how many of them bought within the window."""

    shoppers: int = 0
    converters: int = 0


def _rng(*parts: object) -> random.Random:
    seed = hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:8]
    return random.Random(int.from_bytes(seed, "big"))


def thompson_pick(keys: Sequence[str], counts: Mapping[str, Counts], rng: random.Random) -> str:
    """The variant whose Beta posterior draw is highest (ties: the first key)."""
    if not keys:
        raise ValueError("no variants to pick from")
    best, best_draw = keys[0], -1.0
    for key in keys:
        c = counts.get(key, Counts())
        draw = rng.betavariate(1 + c.converters, 1 + max(c.shoppers - c.converters, 0))
        if draw > best_draw:
            best, best_draw = key, draw
    return best


def pick_for(
    shop_id: int,
    agent: str,
    shopper_key: str,
    dedupe_key: str,
    keys: Sequence[str],
    counts: Mapping[str, Counts],
) -> str:
    """``thompson_pick`` with the draw seeded by the proposal (the same proposal gets the same variant)."""
    return thompson_pick(keys, counts, _rng(shop_id, agent, shopper_key, dedupe_key))


def fill(text: str, facts: Mapping[str, Any]) -> str:
    """The merchant's text with ``{first_name}``, ``{shop}`` and ``{interest}`` filled in (an empty fact leaves
    nothing; no other braces are read, so a template can never reach an attribute)."""
    return PLACEHOLDER.sub(lambda m: str(facts.get(m[1]) or "").strip(), text).replace("  ", " ").strip()


def apply(data: Mapping[str, Any], variant: Variant) -> dict[str, Any]:
    """A message's (localised) data with the variant's words in place, and the variant's key recorded."""
    facts = {
        "first_name": data.get("first_name"),
        "shop": data.get("shop_name"),
        "interest": data.get("interest"),
    }
    out = {**data, "variant": variant.key}
    if variant.subject:
        out["subject"] = fill(variant.subject, facts)
    if variant.heading:
        out["heading"] = fill(variant.heading, facts)
    if variant.body:
        paragraphs = list(out.get("paragraphs") or [])
        out["paragraphs"] = [fill(variant.body, facts), *paragraphs[1:]]
    return out


def probability_best(
    counts: Mapping[str, Counts], draws: int = READOUT_DRAWS, seed: int = 0
) -> dict[str, float]:
    """Each variant's posterior probability of having the highest conversion (Monte Carlo over the Betas)."""
    keys = sorted(counts)
    if not keys:
        return {}
    rng = random.Random(seed)
    wins = dict.fromkeys(keys, 0)
    for _ in range(draws):
        wins[thompson_pick(keys, counts, rng)] += 1
    return {k: wins[k] / draws for k in keys}


def readout(
    by_segment: Mapping[str, Mapping[str, Counts]], holdout: Mapping[str, Counts]
) -> list[dict[str, Any]]:
    """Per segment (and ``all``): each variant's treated conversion, its lift against the segment's holdout with
    the always-valid interval (None while an arm has too few shoppers), its probability of being best, and the
    best variant (the most probably best) with its interval."""
    segments = dict(by_segment)
    overall: dict[str, Counts] = {}
    for per in segments.values():
        for key, c in per.items():
            o = overall.get(key, Counts())
            overall[key] = Counts(o.shoppers + c.shoppers, o.converters + c.converters)
    held_all = Counts(sum(c.shoppers for c in holdout.values()), sum(c.converters for c in holdout.values()))
    out = []
    for name, per, held in [("all", overall, held_all)] + [
        (s, segments[s], holdout.get(s, Counts())) for s in sorted(segments)
    ]:
        p_best = probability_best(per)
        rows = []
        for key in sorted(per):
            c = per[key]
            found = rate_difference(c.converters, c.shoppers, held.converters, held.shoppers)
            rows.append(
                {
                    "variant": key,
                    "shoppers": c.shoppers,
                    "converters": c.converters,
                    "conversion": c.converters / c.shoppers if c.shoppers else None,
                    "lift": found.interval.as_dict() if found else None,
                    "probability_best": round(p_best.get(key, 0.0), 4),
                }
            )
        best = max(rows, key=lambda r: (r["probability_best"], r["shoppers"]), default=None)
        out.append(
            {
                "segment": name,
                "holdout": {
                    "shoppers": held.shoppers,
                    "converters": held.converters,
                    "conversion": held.converters / held.shoppers if held.shoppers else None,
                },
                "variants": rows,
                "best": best["variant"] if best and best["shoppers"] else None,
                "best_lift": best["lift"] if best else None,
            }
        )
    return out
