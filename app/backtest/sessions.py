"""``attune backtest sessions``: next-click HR@20 / MRR@20 on the YOOCHOOSE 100k sample (session-rec split).

Every test session with at least two clicks is replayed: after each click, every method ranks items for the next
click, as session-rec does. Items never seen in training are skipped as targets (they cannot be recommended).
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np
import pandas as pd

DEFAULT = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "yoochoose_clicks_100k"
K = 20


def load_sessions(path: Path, item_index: dict | None = None) -> tuple[list[np.ndarray], dict]:
    """Sessions (item index arrays in click order) from a session-rec TSV; new items get new indices."""
    frame = pd.read_csv(path, sep="\t").sort_values(["SessionId", "Time"], kind="stable")
    index = dict(item_index or {})
    if item_index is None:
        for item in pd.unique(frame["ItemId"]):
            index[item] = len(index)
    codes = frame["ItemId"].map(index).fillna(-1).astype(np.int64).to_numpy()
    bounds = np.flatnonzero(np.diff(frame["SessionId"].to_numpy())) + 1
    return [s for s in np.split(codes, bounds) if len(s)], index


def replay(
    model, sessions: list[np.ndarray], n_items: int, k: int = K, batch: int = 2048
) -> dict[str, float]:
    """HR@k and MRR@k over every (prefix -> next click) event of ``sessions``."""
    prefixes, targets = [], []
    for s in sessions:
        for t in range(1, len(s)):
            if s[t] >= 0 and s[t - 1] >= 0:
                prefixes.append(s[:t][s[:t] >= 0])
                targets.append(s[t])
    hits, rr = 0.0, 0.0
    targets_arr = np.asarray(targets)
    for lo in range(0, len(prefixes), batch):
        scores = model.score(prefixes[lo : lo + batch])
        tgt = targets_arr[lo : lo + batch]
        own = scores[np.arange(len(tgt)), tgt]
        rank = (scores >= own[:, None]).sum(axis=1) - 1  # 0-based; ties count against the target
        ok = (rank < k) & (own > 0)
        hits += ok.sum()
        rr += (1.0 / (rank[ok] + 1)).sum()
    n = max(len(prefixes), 1)
    return {f"hr@{k}": float(hits / n), f"mrr@{k}": float(rr / n), "events": len(prefixes)}


def run(folder: Path) -> dict[str, dict]:
    from app.recommend.sessions import AssociationRules, SequentialRules, SessionHybrid, SessionKNN

    train, index = load_sessions(folder / "yoochoose-clicks-100k_train_full.txt.gz")
    test, _ = load_sessions(folder / "yoochoose-clicks-100k_test.txt.gz", index)
    n_items = len(index)
    out = {}
    for model in (AssociationRules(), SequentialRules(), SessionKNN(), SessionHybrid()):
        model.fit(train, n_items)
        out[model.name] = replay(model, test, n_items)
        click.echo(f"{model.name}: {out[model.name]}", err=True)
    return out


@click.command("sessions")
@click.option(
    "--data",
    "folder",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Folder with yoochoose-clicks-100k_{train_full,test}.txt.gz (default ../shared/data/…).",
)
@click.option("--json", "as_json", is_flag=True)
def sessions(folder: Path | None, as_json: bool) -> None:
    """Next-click HR@20 / MRR@20: Attune's session recommender vs association and sequential rules."""
    folder = folder or DEFAULT
    if not (folder / "yoochoose-clicks-100k_test.txt.gz").exists():
        raise click.ClickException(f"{folder}: YOOCHOOSE sample not found")
    results = run(folder)
    if as_json:
        click.echo(json.dumps(results, indent=2))
        return
    for name, r in results.items():
        click.echo(f"{name:<18} HR@20={r['hr@20']:.4f}  MRR@20={r['mrr@20']:.4f}  ({r['events']} events)")
