"""Pick the replenishment model's one configuration on *earlier* cut-offs than the benchmark's (no test period).

``python -m app.backtest.replenishment_tune KEY=V1,V2 … [--data-dir var/datasets]``: every combination of the
given :class:`~app.recommend.replenishment.Config` fields is run on each dataset's tuning split (the rows before
its benchmark cut-off, cut again earlier) and printed with its distance to the issue's targets.
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from app.backtest.datasets import read_transactions
from app.backtest.replenishment import run_backtest, targets
from app.recommend.replenishment import Config


@dataclass(frozen=True)
class Split:
    dataset: str
    benchmark_cutoff: str
    tuning_cutoff: str
    end_of_data: str = "global"
    gap_cap: float | None = None


SPLITS = (
    Split("completejourney_8451", "2017-10-01", "2017-07-01"),
    Split("instacart_sample", "2017-06-01", "2017-04-01", "customer", 30.0),
)


def tuning_frame(split: Split, data_dir: Path) -> pd.DataFrame:
    frame = read_transactions(data_dir / f"{split.dataset}.csv.gz")
    return frame[frame["ordered_at"] < pd.Timestamp(split.benchmark_cutoff, tz="UTC")]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("grid", nargs="*", help="FIELD=V1,V2,… (Config fields)")
    parser.add_argument("--data-dir", type=Path, default=Path("var/datasets"))
    args = parser.parse_args(argv)
    fields = {k: [type(getattr(Config(), k))(v) if v != "False" else False for v in vs.split(",")]
              for k, vs in (g.split("=", 1) for g in args.grid)}  # fmt: skip
    frames = {s.dataset: tuning_frame(s, args.data_dir) for s in SPLITS}
    for combo in itertools.product(*fields.values()) if fields else [()]:
        cfg = Config(**dict(zip(fields, combo, strict=True)))
        cells = []
        for s in SPLITS:
            res, _ = run_backtest(frames[s.dataset], pd.Timestamp(s.tuning_cutoff, tz="UTC"), cfg,
                                  s.end_of_data, s.gap_cap)  # fmt: skip
            t = targets(res)
            a = res["overall"]["attune"]
            cells.append(
                f"{s.dataset[:10]}: MAE {a['mae_days']:.2f} ({t['mae_reduction_vs_best']:+.1%}) "
                f"AUC14 {a['auc_14d']:.4f} ({t['auc14_gain_vs_best']:+.4f}) Brier14 {a['brier_14d']:.4f}"
            )
        print(dict(zip(fields, combo, strict=True)), " | ".join(cells), flush=True)


if __name__ == "__main__":
    main()
