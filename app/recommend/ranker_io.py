"""A shop's :class:`~app.recommend.nextbasket.Ranker` as bytes and back (what ``app.stores.ranker`` stores).

One compressed ``.npz``: the shop's signals as plain arrays (``ShopSignals.arrays``), the boosters as LightGBM's
own model text, and a small JSON header (kind, why, configuration, format version). No pickle: a stored model
can only ever be data. ``dumps`` stores the ranker as served (``Ranker.for_serving``: exact for lists computed
at or after the last order it was trained on).
"""

from __future__ import annotations

import io
import json

import numpy as np

from app.recommend.nextbasket import Ranker
from app.recommend.nextbasket_features import FEATURES
from app.recommend.nextbasket_state import ShopSignals

FORMAT = 1


def dumps(ranker: Ranker) -> bytes:
    served = ranker.for_serving()
    header = {
        "format": FORMAT,
        "kind": served.kind,
        "why": served.why,
        "own_cap": served.own_cap,
        "extra": served.extra,
        "features": FEATURES,
        "boosters": len(served.boosters),
    }
    arrays: dict[str, np.ndarray] = {
        "header": np.frombuffer(json.dumps(header).encode(), np.uint8),
        "popular": served.popular,
        "void": served.void,
    }
    for n, booster in enumerate(served.boosters):
        arrays[f"booster_{n}"] = np.frombuffer(booster.model_to_string().encode(), np.uint8)
    if served.shop is not None:
        arrays.update({f"shop_{k}": v for k, v in served.shop.arrays().items()})
    out = io.BytesIO()
    np.savez_compressed(out, **arrays)
    return out.getvalue()


def loads(blob: bytes) -> Ranker:
    with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
        a = {k: npz[k] for k in npz.files}
    header = json.loads(a["header"].tobytes().decode())
    if header["format"] != FORMAT or header["features"] != FEATURES:
        raise ValueError("stored ranker of another format or feature set: retrain it")
    boosters = []
    if header["boosters"]:
        import lightgbm as lgb  # heavy: only a worker that serves a trained ranker needs it

        boosters = [
            lgb.Booster(model_str=a[f"booster_{n}"].tobytes().decode()) for n in range(header["boosters"])
        ]
    shop_arrays = {k[5:]: v for k, v in a.items() if k.startswith("shop_")}
    return Ranker(
        kind=header["kind"],
        popular=a["popular"],
        shop=ShopSignals.from_arrays(shop_arrays) if shop_arrays else None,
        boosters=boosters,
        void=a["void"],
        own_cap=int(header["own_cap"]),
        extra=int(header["extra"]),
        why=header["why"],
    )
