"""Price sensitivity: how much of a shopper's spend comes through discounts, and where they buy in price.

Signals: discount share of spend (markdowns / compare-at savings + coupons), share of lines bought on markdown,
coupon use, and price tier (unit price vs the category median). The score is the expected share of the next
period's spend that comes through discounts, shrunk toward the shop average for thin histories.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from app.modelling.explain import Explanation, Signal

DEFAULT_PRIOR_SPEND = 25.0  # pseudo-spend at the shop's average discount share


@dataclass(frozen=True)
class PurchaseLine:
    """One purchased line: ``paid`` after discounts; ``markdown`` = compare-at/list savings; ``coupon`` savings."""

    customer_id: str
    category: str
    quantity: float
    paid: float
    markdown: float = 0.0
    coupon: float = 0.0

    @property
    def gross(self) -> float:
        return self.paid + self.markdown + self.coupon


@dataclass(frozen=True)
class PriceSensitivity:
    customer_id: str
    score: float  # expected discount share of spend, 0..1
    index: float  # score / shop average (1 = typical)
    discount_share: float
    markdown_line_share: float
    coupon_line_share: float
    price_tier: float  # mean log(unit price / category median); < 0 buys cheaper than typical
    explanation: Explanation


@dataclass(frozen=True)
class ShopPriceStats:
    discount_share: float
    category_median_unit_price: dict[str, float]


def shop_stats(lines: Iterable[PurchaseLine]) -> ShopPriceStats:
    lines = list(lines)
    gross = sum(ln.gross for ln in lines)
    disc = sum(ln.markdown + ln.coupon for ln in lines)
    per_cat: dict[str, list[float]] = {}
    for ln in lines:
        if ln.quantity > 0 and ln.gross > 0:
            per_cat.setdefault(ln.category, []).append(ln.gross / ln.quantity)
    medians = {c: float(np.median(v)) for c, v in per_cat.items()}
    return ShopPriceStats(disc / gross if gross > 0 else 0.0, medians)


def score_customers(
    lines: Iterable[PurchaseLine],
    stats: ShopPriceStats | None = None,
    prior_spend: float = DEFAULT_PRIOR_SPEND,
) -> dict[str, PriceSensitivity]:
    """Price sensitivity for every customer in ``lines`` (stats default to the lines' own shop stats)."""
    lines = list(lines)
    stats = stats or shop_stats(lines)
    acc: dict[str, list[float]] = {}
    tiers: dict[str, list[float]] = {}
    for ln in lines:
        a = acc.setdefault(ln.customer_id, [0.0, 0.0, 0, 0, 0])
        a[0] += ln.gross
        a[1] += ln.markdown + ln.coupon
        a[2] += 1
        a[3] += ln.markdown > 0
        a[4] += ln.coupon > 0
        med = stats.category_median_unit_price.get(ln.category)
        if med and ln.quantity > 0 and ln.gross > 0:
            tiers.setdefault(ln.customer_id, []).append(float(np.log(ln.gross / ln.quantity / med)))
    mu = stats.discount_share
    out = {}
    for cid, (gross, disc, n, n_md, n_cp) in acc.items():
        share = disc / gross if gross > 0 else 0.0
        score = (disc + prior_spend * mu) / (gross + prior_spend)
        tier = float(np.mean(tiers[cid])) if tiers.get(cid) else 0.0
        md_share, cp_share = n_md / n, n_cp / n
        weight = gross / (gross + prior_spend)
        signals = [
            Signal(
                "discount_share",
                round(share, 4),
                weight * (share - mu),
                f"{share:.0%} of spend came through discounts (shop average {mu:.0%})",
            ),
            Signal(
                "markdown_lines",
                round(md_share, 4),
                0.1 * (md_share - 0.5) * weight,
                f"{md_share:.0%} of items bought on markdown / compare-at price",
            ),
            Signal(
                "coupon_lines",
                round(cp_share, 4),
                0.1 * cp_share * weight,
                f"used a coupon on {cp_share:.0%} of items",
            ),
            Signal(
                "price_tier",
                round(tier, 3),
                -0.05 * tier * weight,
                f"pays {np.exp(tier):.2f}× the category median unit price",
            ),
        ]
        out[cid] = PriceSensitivity(
            customer_id=cid,
            score=score,
            index=score / mu if mu > 0 else 1.0,
            discount_share=share,
            markdown_line_share=md_share,
            coupon_line_share=cp_share,
            price_tier=tier,
            explanation=Explanation.build(
                "price_sensitivity",
                round(score, 4),
                signals,
                summary=f"expects {score:.0%} of spend through discounts ({score / mu if mu else 1:.1f}× shop)",
            ),
        )
    return out
