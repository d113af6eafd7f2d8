"""How much of a product one unit of each variant holds, where its variants differ in size: "12 pack" and "24
pack", "500 g" and "1 kg". The replenishment model counts consumption in the product's smallest variant, so two
24-packs last about four times as long as one 12-pack (issue 17: "variant where it matters").

Pure. A size is read from the variant's title (or option values): a count (``12 pack``, ``x 6``, ``30 ct``,
``60 capsules``) or a weight or volume (``500 g``, ``1 kg``, ``16 oz``, ``1 lb``, ``750 ml``, ``1.5 l``). A
product whose variants do not all state a size of one kind (count, weight or volume) is not scaled: its
variants differ in something else (colour, flavour), and a unit is a unit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

_UNITS: dict[str, tuple[str, float]] = {
    "g": ("mass", 1.0), "gr": ("mass", 1.0), "kg": ("mass", 1000.0), "oz": ("mass", 28.3495),
    "lb": ("mass", 453.592), "lbs": ("mass", 453.592),
    "ml": ("volume", 1.0), "cl": ("volume", 10.0), "l": ("volume", 1000.0), "fl oz": ("volume", 29.5735),
    "pack": ("count", 1.0), "pk": ("count", 1.0), "count": ("count", 1.0), "ct": ("count", 1.0),
    "pcs": ("count", 1.0), "pieces": ("count", 1.0), "capsules": ("count", 1.0), "pods": ("count", 1.0),
    "tablets": ("count", 1.0), "bags": ("count", 1.0), "rolls": ("count", 1.0),
}  # fmt: skip
_AMOUNT_UNIT = re.compile(
    r"(\d+(?:[.,]\d+)?)\s*(fl oz|"
    + "|".join(sorted((u for u in _UNITS if u != "fl oz"), key=len, reverse=True))
    + r")\b",
    re.IGNORECASE,
)
_TIMES = re.compile(r"(?:\bx\s*(\d+)\b|\b(\d+)\s*x\b)", re.IGNORECASE)


def pack_size(title: str | None) -> tuple[str, float] | None:
    """(kind, amount in the kind's base unit) the title states, or None: "Big pack (24 pack)" → ("count", 24),
    "Coffee 1 kg" → ("mass", 1000), "2 x 500 g" → ("mass", 1000)."""
    if not title:
        return None
    found = _AMOUNT_UNIT.search(title)
    times = _TIMES.search(title)
    if found is None:
        if times is None:
            return None
        return "count", float(times.group(1) or times.group(2))
    kind, scale = _UNITS[found.group(2).lower()]
    amount = float(found.group(1).replace(",", ".")) * scale
    if times is not None and kind != "count":
        amount *= float(times.group(1) or times.group(2))
    return (kind, amount) if amount > 0 else None


def pack_factors(variants: Iterable[tuple[int, int, str | None]]) -> dict[int, float]:
    """Variant → how many of its product's smallest variant one unit of it holds, for ``(variant, product,
    title)``; 1.0 where the product's variants do not all state a size of one kind."""
    by_product: dict[int, list[tuple[int, tuple[str, float] | None]]] = {}
    for variant, product, title in variants:
        by_product.setdefault(product, []).append((variant, pack_size(title)))
    out: dict[int, float] = {}
    for sized in by_product.values():
        kinds = {s[0] for _, s in sized if s is not None}
        if len(sized) < 2 or any(s is None for _, s in sized) or len(kinds) != 1:
            out.update({v: 1.0 for v, _ in sized})
            continue
        smallest = min(s[1] for _, s in sized if s is not None)
        out.update({v: s[1] / smallest for v, s in sized if s is not None})
    return out


def of_variant(units: float, factors: Mapping[int, float], variant: int | None) -> int:
    """How many of ``variant`` make ``units`` (at least one): the quantity a reorder puts in the cart."""
    factor = factors.get(variant, 1.0) if variant is not None else 1.0
    return max(1, round(units / factor))
