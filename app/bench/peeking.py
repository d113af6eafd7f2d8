"""``attune bench peeking``: the control room's always-valid intervals under daily peeking, against the peer a
merchant would otherwise get (a fixed-sample Welch interval, looked at every day).

Seeded simulations of shops: shoppers arrive over ``days`` days, each randomised to the treated arm with the
designed share, and buy with a base rate plus the true effect when treated. Every day the merchant looks; a shop
"misses" when any day's interval excludes the true effect. The error rate should stay at or under 5 % for the
confidence sequence, whatever the number of looks; the fixed interval's grows with them. With pre-period spend
correlated to revenue, CUPED's interval width is compared with the plain one.
"""

from __future__ import annotations

import json
import time

import click
import numpy as np

from app.measurement.sequential import difference_interval, difference_sequence
from app.measurement.stats import welch_difference

DAYS = 30
MIN_PER_ARM = 20  # the control room shows no interval before each arm has this many shoppers


def simulate_shop(rng: np.random.Generator, n: int, share: float, effect: float, base: float = 0.08):
    """Shoppers in arrival order: their arm, a purchase, and pre-period spend."""
    z = rng.random(n) < share
    spend = rng.gamma(0.8, 60.0, n)
    y = (rng.random(n) < np.clip(base + effect * z, 0, 1)).astype(float)
    return y, z, spend


def simulate_revenue(rng: np.random.Generator, n: int, effect: float):
    """Revenue per shopper in the period, correlated with pre-period spend (what CUPED uses)."""
    z = rng.random(n) < 0.5
    spend = rng.gamma(0.8, 60.0, n)
    y = np.maximum(0.6 * spend + rng.normal(0, 25, n) + effect * z, 0)
    return y, z, spend


def peeks(z: np.ndarray, days: int = DAYS) -> np.ndarray:
    """The last shopper of each day, from the first day both arms have ``MIN_PER_ARM`` shoppers."""
    n = len(z)
    ends = np.linspace(n / days, n, days).astype(int) - 1
    enough = (np.cumsum(z)[ends] >= MIN_PER_ARM) & (np.cumsum(~z)[ends] >= MIN_PER_ARM)
    return ends[enough]


def ever_misses(sims: int, n: int, share: float, effect: float, seed: int) -> float:
    """Share of shops whose confidence sequence excludes the true effect on any day."""
    rng = np.random.default_rng(seed)
    misses = 0
    for _ in range(sims):
        y, z, _ = simulate_shop(rng, n, share, effect)
        seq = difference_sequence(y, z, share)
        days = peeks(z)
        misses += bool(np.any((seq.low[days] > effect) | (seq.high[days] < effect)))
    return misses / sims


def naive_misses(sims: int, n: int, share: float, effect: float, seed: int) -> float:
    """The same for a fixed-sample Welch interval recomputed every day."""
    rng = np.random.default_rng(seed)
    misses = 0
    for _ in range(sims):
        y, z, _ = simulate_shop(rng, n, share, effect)
        for t in peeks(z):
            a, b = y[: t + 1][z[: t + 1]], y[: t + 1][~z[: t + 1]]
            test = welch_difference(a.mean(), a.var(ddof=1), len(a), b.mean(), b.var(ddof=1), len(b))
            if test is not None and not test.difference.contains(effect):
                misses += 1
                break
    return misses / sims


def cuped_width_ratio(sims: int, n: int, seed: int) -> float:
    """Median width of CUPED's interval over the plain one's, on revenue."""
    rng = np.random.default_rng(seed)
    ratios = []
    for _ in range(sims):
        y, z, spend = simulate_revenue(rng, n, 5.0)
        plain, cuped = difference_interval(y, z, 0.5), difference_interval(y, z, 0.5, spend)
        if plain is not None and cuped is not None:
            ratios.append((cuped.high - cuped.low) / (plain.high - plain.low))
    return float(np.median(ratios))


@click.command()
@click.option("--sims", default=1000, show_default=True, help="Simulated shops per setting.")
@click.option("--shoppers", default=4000, show_default=True, help="Shoppers per shop over 30 days.")
@click.option("--seed", default=1, show_default=True)
@click.option("--json-out", "json_out", type=click.Path(dir_okay=False), default=None)
def peeking(sims: int, shoppers: int, seed: int, json_out: str | None) -> None:
    """Error rates under daily peeking: the confidence sequence against a fixed interval looked at daily."""
    rows = []
    t0 = time.perf_counter()
    for share in (0.5, 0.95):
        for effect in (0.0, 0.02):
            cs = ever_misses(sims, shoppers, share, effect, seed)
            naive = naive_misses(sims, shoppers, share, effect, seed)
            rows.append({"treated_share": share, "effect": effect, "sequence": cs, "fixed_daily": naive})
            click.echo(
                f"treated {share:.0%}, true effect {effect:+.2f}: confidence sequence misses {cs:.1%}, "
                f"fixed interval peeked daily {naive:.1%} ({sims} shops × 30 looks)"
            )
    ratio = cuped_width_ratio(min(sims, 300), shoppers, seed)
    click.echo(f"CUPED on pre-period spend: interval width × {ratio:.2f} of the plain one (median)")
    click.echo(f"{time.perf_counter() - t0:.1f} s")
    if json_out:
        with open(json_out, "w") as f:
            json.dump(
                {"rows": rows, "cuped_width_ratio": ratio, "sims": sims, "shoppers": shoppers}, f, indent=2
            )
