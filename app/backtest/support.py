"""``attune backtest support``: the support agent's retrieval on graded product questions (ePQA's layout).

Protocol (issue #18):
- CSV columns ``qid, question, candidate, qa_pair_id, source`` and, when known, ``label`` and ``title``.
  A community answer (``cqa``) carries the question it answered after `` Question: ``: that question becomes the
  passage's FAQ question, its answer the passage text.
- Each question's candidates are **shuffled first** (seeded): the file's own order is pre-sorted.
- Questions are split in two halves by a hash of ``qid``: ``calibration`` (where ``--fit`` fits the model and
  its abstention threshold) and ``report`` (what is reported by default). The figures are never measured on
  the questions the shipped model was fitted on.
- Ours: every candidate is split into passages and put in one index with all the file's passages (the
  "shop"); each question is ranked among its own candidates' passages by ``app.knowledge.ranker.rank``, the
  function the storefront answers with. A candidate scores its best passage's confidence; the agent answers
  with the top candidate when the confidence reaches the threshold, else abstains.
- Baselines in the same run on the same questions: random, BM25 (the full candidate, the same index), MiniLM
  cosine (the full candidate's vector).
- Metrics: ``app.backtest.support_metrics``.
"""

from __future__ import annotations

import csv
import hashlib
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from app.backtest.support_metrics import Question, evaluate, fit_model
from app.knowledge.passages import KINDS, Passage, Source, split_source
from app.knowledge.ranker import FEATURES, KnowledgeIndex, Model, load_model, rank

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "epqa" / "epqa_dev.csv"
SAMPLE = ROOT / "app" / "data" / "epqa_sample.csv"
REQUIRED = ("qid", "question", "candidate", "qa_pair_id", "source")
SPLITS = ("report", "calibration", "all")
TARGETS = {"p_at_1": 0.60, "precision_at_50": 0.75}
QUESTION_MARK = " Question: "


def _neutral() -> Model:
    """A model that scores nothing (only its features are used before the first fit)."""
    n = len(FEATURES)
    return Model(np.zeros(n), np.ones(n), np.zeros(n), 0.0, 0.5, {})


def split_of(qid: str) -> str:
    """``calibration`` or ``report``: a stable half of the questions, the same on every machine."""
    return "calibration" if zlib.crc32(str(qid).encode()) % 2 == 0 else "report"


def load(path: Path, *, seed: int = 0) -> pd.DataFrame:
    """The CSV, checked, each question's candidates shuffled (seeded), questions in first-seen order."""
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise ValueError(f"{path} lacks the column(s) {', '.join(missing)} (needs {', '.join(REQUIRED)})")
    if df.empty:
        raise ValueError(f"{path} has no rows")
    if "label" in df.columns:
        labels = pd.to_numeric(df["label"], errors="coerce")
        if labels.isna().any() or not labels.isin([0, 1, 2]).all():
            raise ValueError("label must be 0, 1 or 2 on every row")
        df["label"] = labels.astype(int)
    if "title" not in df.columns:
        df["title"] = ""
    first_seen = {q: i for i, q in enumerate(dict.fromkeys(df["qid"]))}
    rng = np.random.default_rng(seed)
    df = df.assign(_q=df["qid"].map(first_seen), _r=rng.random(len(df)))
    df = df.sort_values(["_q", "_r"], kind="stable").drop(columns=["_q", "_r"]).reset_index(drop=True)
    df["split"] = df["qid"].map(split_of)
    return df


def candidate_source(row_id: int, candidate: str, kind: str, title: str) -> Source:
    text, _, asked = candidate.partition(QUESTION_MARK)
    kind = kind.strip().lower() if kind.strip().lower() in KINDS else "description"
    return Source(f"c:{row_id}", kind, title, text.strip() or candidate, question=asked.strip() or None)


@dataclass
class Built:
    index: KnowledgeIndex
    owner: np.ndarray  # passage position -> row
    question_vectors: dict[str, np.ndarray]
    candidate_vectors: np.ndarray  # the full candidate's text, for the MiniLM baseline
    embed_seconds: float


def load_cache(path: Path | None, embedder) -> dict[str, np.ndarray]:
    """Vectors of earlier runs with the same embedder (``--embed-cache``), else nothing."""
    if path is None or not Path(path).exists():
        return {}
    with np.load(path, allow_pickle=False) as data:
        if str(data["embedder"]) != embedder.name:
            return {}
        return dict(zip(str(data["texts"]).split("\x00"), data["vectors"], strict=True))


def save_cache(path: Path | None, embedder, vectors: dict[str, np.ndarray]) -> None:
    if path is None or not vectors:
        return
    texts = [t for t in vectors if "\x00" not in t]
    joined = "\x00".join(texts)
    np.savez(path, embedder=embedder.name, texts=joined, vectors=np.stack([vectors[t] for t in texts]))


def build(df: pd.DataFrame, embedder, *, progress=None, cache: dict[str, np.ndarray] | None = None) -> Built:
    """One index over every candidate's passages, and the vectors the run needs (each distinct text once;
    texts already in ``cache`` are not embedded again, and new ones are added to it)."""
    passages: list[Passage] = []
    owner: list[int] = []
    for row, (cand, kind, title) in enumerate(zip(df["candidate"], df["source"], df["title"], strict=True)):
        found = split_source(candidate_source(row, cand, kind, title)) or [
            Passage(f"c:{row}", 0, "description", title, cand.strip() or "-")
        ]
        passages.extend(found)
        owner.extend([row] * len(found))
    questions = list(dict.fromkeys(df["question"]))
    texts = list(
        dict.fromkeys(
            [p.text for p in passages]
            + [p.question for p in passages if p.question]
            + questions
            + list(df["candidate"])
        )
    )
    t0 = time.perf_counter()
    vectors: dict[str, np.ndarray] = cache if cache is not None else {}
    texts = [t for t in texts if t not in vectors]
    step = 512
    for start in range(0, len(texts), step):
        chunk = texts[start : start + step]
        vectors.update(zip(chunk, embedder.embed(chunk), strict=True))
        if progress is not None:
            progress(len(chunk))
    seconds = time.perf_counter() - t0
    zero = np.zeros(embedder.dim, dtype=np.float32)
    index = KnowledgeIndex(
        passages,
        np.stack([vectors[p.text] for p in passages]),
        np.stack([vectors[p.question] if p.question else zero for p in passages]),
    )
    return Built(
        index,
        np.asarray(owner),
        {q: vectors[q] for q in questions},
        np.stack([vectors[c] for c in df["candidate"]]),
        seconds,
    )


def score(df: pd.DataFrame, built: Built, model: Model, *, seed: int = 0) -> dict[str, np.ndarray]:
    """Every method's score of every row (``ours``, ``bm25``, ``minilm``, ``random``) and ours' features for
    fitting (``features``, ``feature_rows``)."""
    n = len(df)
    ours, bm25, minilm = np.zeros(n), np.zeros(n), np.zeros(n)
    rows_of = {q: np.asarray(ix) for q, ix in df.groupby("qid", sort=False).groups.items()}
    passages_of: dict[int, list[int]] = {}
    for pos, row in enumerate(built.owner):
        passages_of.setdefault(int(row), []).append(pos)
    lexical = KnowledgeIndex(
        [Passage(f"c:{r}", 0, "description", "", c) for r, c in enumerate(df["candidate"])],
        np.zeros((n, 1), np.float32),
    )
    feats, feat_rows = [], []
    for qid, rows in rows_of.items():
        question = df.at[rows[0], "question"]
        qvec = built.question_vectors[question]
        among = [p for r in rows for p in passages_of[int(r)]]
        for hit in rank(built.index, question, qvec, model=model, among=among):
            row = built.owner[hit.position]
            ours[row] = max(ours[row], hit.confidence)
        feats.append(built.index.features(question, qvec, np.asarray(among)))
        feat_rows.append(built.owner[among])
        bm25[rows] = lexical.bm25(question)[rows]
        minilm[rows] = built.candidate_vectors[rows] @ qvec
        del qid
    rng = np.random.default_rng(seed + 1)
    return {
        "ours": ours,
        "bm25": bm25,
        "minilm": minilm,
        "random": rng.random(n),
        "features": np.vstack(feats),
        "feature_rows": np.concatenate(feat_rows),
    }


def questions_of(df: pd.DataFrame, scores: np.ndarray, mask: np.ndarray) -> list[Question]:
    out = []
    for qid, rows in df[mask].groupby("qid", sort=False).groups.items():
        rows = np.asarray(rows)
        out.append(Question(str(qid), df.loc[rows, "label"].to_numpy(), scores[rows]))
    return out


def answers(df: pd.DataFrame, scores: np.ndarray, threshold: float) -> np.ndarray:
    """1 on the row the agent answers each question with (its top candidate, when confident enough)."""
    out = np.zeros(len(df), dtype=int)
    for rows in df.groupby("qid", sort=False).groups.values():
        rows = np.asarray(rows)
        top = rows[int(np.argmax(scores[rows]))]
        if scores[top] >= threshold:
            out[top] = 1
    return out


def write_predictions(path: Path, df: pd.DataFrame, scores: np.ndarray, answered: np.ndarray, mask) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["qid", "qa_pair_id", "score", "answer"])
        for i in np.flatnonzero(mask):
            writer.writerow([df.at[i, "qid"], df.at[i, "qa_pair_id"], f"{scores[i]:.6f}", int(answered[i])])


def file_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def run(
    df: pd.DataFrame,
    embedder,
    *,
    split: str = "report",
    seed: int = 0,
    model: Model | None = None,
    fit: bool = False,
    quiet: bool = True,
    cache: dict[str, np.ndarray] | None = None,
) -> tuple[dict, dict[str, np.ndarray], Model]:
    """Score, optionally fit the model on the calibration half first, and evaluate ``split``. Returns the
    report, the scores and the model used."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}")
    from tqdm import tqdm

    t0 = time.perf_counter()
    with tqdm(desc="embedding", unit="text", disable=quiet, file=sys.stderr, leave=False) as bar:
        built = build(df, embedder, progress=bar.update, cache=cache)
    if model is None:
        model = _neutral() if fit else load_model()  # a fit scores with the model it makes
    scores = score(df, built, model, seed=seed)
    if fit:
        fitting = df.loc[scores["feature_rows"], "split"].to_numpy() == "calibration"
        if "label" not in df.columns or not fitting.any():
            raise ValueError("--fit needs labels and calibration questions")
        rows = scores["feature_rows"][fitting]
        model = fit_model(
            scores["features"][fitting],
            (df.loc[rows, "label"].to_numpy() == 2).astype(int),
            df.loc[rows, "qid"].to_numpy(),
            about={"fitted_on": "calibration half (crc32(qid) even)", "embedder": embedder.name},
        )
        scores = score(df, built, model, seed=seed)
    mask = np.ones(len(df), dtype=bool) if split == "all" else (df["split"] == split).to_numpy()
    report: dict = {
        "split": split,
        "questions": int(df.loc[mask, "qid"].nunique()),
        "candidates": int(mask.sum()),
        "passages": len(built.index),
        "seed": seed,
        "embedder": embedder.name,
        "threshold": model.threshold,
        "embed_seconds": round(built.embed_seconds, 1),
    }
    if "label" in df.columns:
        methods = {"ours": model.threshold, "minilm": None, "bm25": None, "random": None}
        report["methods"] = {
            name: evaluate(questions_of(df, scores[name], mask), threshold)
            for name, threshold in methods.items()
        }
        ours = report["methods"]["ours"]
        report["targets"] = {
            k: {"target": v, "value": ours[k], "met": bool(ours[k] >= v)} for k, v in TARGETS.items()
        }
    report["seconds"] = round(time.perf_counter() - t0, 1)
    return report, scores, model
