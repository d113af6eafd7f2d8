"""The ``attune backtest support`` command and its text and Markdown reports (protocol: ``app.backtest.support``)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import click
import numpy as np

from app.backtest.similarity import machine_description
from app.backtest.support import (
    DEFAULT_DATA,
    SPLITS,
    answers,
    file_digest,
    load,
    load_cache,
    run,
    save_cache,
    write_predictions,
)
from app.bench.report import write_report
from app.knowledge.ranker import MODEL_PATH

NAMES = {
    "ours": "ours: hybrid ranker (BM25 + MiniLM + source, logistic)",
    "minilm": "MiniLM cosine (the run's embedder)",
    "bm25": "BM25 (bm25s)",
    "random": "random",
}


def _f(value: float | None) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def format_report(report: dict) -> str:
    lines = [
        f"Support retrieval on {report['questions']} questions ({report['split']} split), "
        f"{report['candidates']} candidates, {report['passages']} passages; seed {report['seed']}; "
        f"threshold {report['threshold']:.3f}",
        f"  {'method':<56} P@1   P@1≥1 MRR   prec@30% prec@50% coverage/prec at threshold",
    ]
    for key, m in report.get("methods", {}).items():
        at = (
            f"{_f(m.get('coverage_at_threshold'))} / {_f(m.get('precision_at_threshold'))}"
            if "threshold" in m
            else ""
        )
        lines.append(
            f"  {NAMES[key]:<56} {_f(m['p_at_1'])} {_f(m['p_at_1_helpful'])} {_f(m['mrr'])} "
            f"{_f(m['precision_at_30'])}    {_f(m['precision_at_50'])}    {at}"
        )
    for name, t in report.get("targets", {}).items():
        lines.append(
            f"  target {name} ≥ {t['target']}: {_f(t['value'])} ({'met' if t['met'] else 'NOT met'})"
        )
    return "\n".join(lines)


def markdown_report(report: dict, command: str, data: str) -> str:
    rows = "\n".join(
        f"| {NAMES[k]} | {'**' if k == 'ours' else ''}{_f(m['p_at_1'])}{'**' if k == 'ours' else ''} | "
        f"{_f(m['p_at_1_helpful'])} | {_f(m['mrr'])} | {_f(m['precision_at_30'])} | {_f(m['precision_at_50'])} | "
        + (
            f"{_f(m['coverage_at_threshold'])} / {_f(m['precision_at_threshold'])}"
            if "threshold" in m
            else "–"
        )
        + " |"
        for k, m in report["methods"].items()
    )
    targets = "\n".join(
        f"- {name} ≥ {t['target']}: **{_f(t['value'])}**, {'met' if t['met'] else 'NOT met'}"
        + ("" if t["met"] else f" (short by {t['target'] - t['value']:.3f})")
        for name, t in report["targets"].items()
    )
    return f"""# Support agent retrieval: ePQA backtest

Command: `{command}`

Machine: {report["machine"]}

Data: {data}. {report["questions"]} questions of the **{report["split"]}** half ({report["candidates"]}
candidates, {report["passages"]} passages in the index), candidates shuffled per question (seed
{report["seed"]}); the model and its threshold ({report["threshold"]:.3f}) were fitted on the other half
(`attune backtest support --fit`). Embedder: {report["embedder"]}. All methods in the same run, on the same
questions.

| method | P@1 (fully) | P@1 (≥ helpful) | MRR | precision at 30 % coverage | at 50 % | coverage / precision at the threshold |
|---|---|---|---|---|---|---|
{rows}

Targets (issue #18):
{targets}

Time: {report["seconds"]:.0f} s in all, of which embedding {report["embed_seconds"]:.0f} s.
"""


@click.command("support")
@click.option("--data", "data", type=click.Path(path_type=Path), default=DEFAULT_DATA, show_default=True,
              help="CSV in ePQA's layout: qid, question, candidate, qa_pair_id, source[, label, title].")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--predictions-out", type=click.Path(path_type=Path), default=None,
              help="Write qid,qa_pair_id,score,answer for every candidate of the file (answer 1: the one the agent answers with).")  # fmt: skip
@click.option("--split", type=click.Choice(SPLITS), default="report", show_default=True,
              help="Which questions to evaluate (the model is fitted on 'calibration').")  # fmt: skip
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the candidate shuffle.")
@click.option("--embedder", "embedder_kind", type=click.Choice(["minilm", "minilm-numpy", "hashing"]),
              default=None, help="Default: ATTUNE_EMBEDDER.")  # fmt: skip
@click.option("--fit", "fit_out", type=click.Path(path_type=Path), default=None,
              help=f"Fit the model and threshold on the calibration half and write them here (e.g. {MODEL_PATH.name}).")  # fmt: skip
@click.option("--embed-cache", type=click.Path(path_type=Path), default=None,
              help="An .npz of vectors kept between runs (same embedder): repeated runs skip the embedding.")  # fmt: skip
@click.option("--markdown", "markdown_out", type=click.Path(path_type=Path), default=None,
              help="Also write the report as Markdown (e.g. benchmarks/support.md).")  # fmt: skip
def support(
    data: Path,
    as_json: bool,
    predictions_out: Path | None,
    split: str,
    seed: int,
    embedder_kind: str | None,
    fit_out: Path | None,
    embed_cache: Path | None,
    markdown_out: Path | None,
) -> None:
    """The support agent's grounded retrieval vs random, BM25 and MiniLM cosine on graded product questions."""
    from app.embedding import get_embedder

    if not data.exists():
        raise click.UsageError(f"{data} not found (use --data CSV)")
    try:
        df = load(data, seed=seed)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    if markdown_out is not None and "label" not in df.columns:
        raise click.UsageError("--markdown needs a label column")
    embedder = get_embedder(embedder_kind)
    cache = load_cache(embed_cache, embedder)
    try:
        report, scores, model = run(
            df, embedder, split=split, seed=seed, fit=fit_out is not None, quiet=as_json, cache=cache
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    save_cache(embed_cache, embedder, cache)
    report["machine"] = machine_description()
    report["data_sha256"] = file_digest(data)
    if fit_out is not None:
        fitted = model.to_json()
        fitted["about"] = {**fitted["about"], "data_sha256": report["data_sha256"], "seed": seed}
        fit_out.write_text(json.dumps(fitted, indent=1) + "\n")
    if predictions_out is not None:  # every candidate of the file, whichever half the metrics are on
        answered = answers(df, scores["ours"], model.threshold)
        write_predictions(predictions_out, df, scores["ours"], answered, np.ones(len(df), dtype=bool))
    if markdown_out is not None:
        command = ("attune backtest support " + " ".join(sys.argv[3:] if len(sys.argv) > 3 else [])).strip()
        write_report(
            markdown_out,
            markdown_report(report, command, f"`{data.name}` (sha256 {report['data_sha256'][:12]}…)"),
        )
    click.echo(json.dumps(report, indent=2) if as_json else format_report(report))
