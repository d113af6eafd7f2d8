"""One shop's journey stages (``journey_stage``) and stage moves (``journey_transition``). No commits."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, select

from app.models.journey import JourneyStage, JourneyTransition
from app.profiles.journey import Stage


def save_stages(session: Session, shop_id: int, stages: Iterable[tuple[str, Stage]], now: datetime) -> int:
    """Write each shopper's stage; a changed stage also records the move. Returns how many moved."""
    stages = dict(stages)
    if not stages:
        return 0
    rows = {
        r.shopper_key: r
        for r in session.exec(
            select(JourneyStage).where(
                JourneyStage.shop_id == shop_id, JourneyStage.shopper_key.in_(list(stages))
            )  # type: ignore[attr-defined]
        ).all()
    }
    moved = 0
    for key, stage in stages.items():
        row = rows.get(key)
        if row is None:
            row = JourneyStage(shop_id=shop_id, shopper_key=key, stage="", explanation="", entered_at=now)
        if row.stage != stage.stage:
            session.add(
                JourneyTransition(
                    shop_id=shop_id, shopper_key=key, from_stage=row.stage, to_stage=stage.stage, at=now
                )
            )
            row.stage, row.entered_at = stage.stage, now
            moved += 1
        row.explanation, row.updated_at = stage.explanation[:400], now
        session.add(row)
    return moved


def forget_shoppers(session: Session, shop_id: int, keys: Iterable[str]) -> None:
    """Drop the stage rows of shoppers merged into another (their moves stay, as history)."""
    for row in session.exec(
        select(JourneyStage).where(JourneyStage.shop_id == shop_id, JourneyStage.shopper_key.in_(list(keys)))  # type: ignore[attr-defined]
    ).all():
        session.delete(row)


def stage_counts(session: Session, shop_id: int) -> dict[str, int]:
    rows = session.exec(
        select(JourneyStage.stage, func.count())
        .where(JourneyStage.shop_id == shop_id)
        .group_by(JourneyStage.stage)
    ).all()
    return {stage: int(n) for stage, n in rows}


def flow_counts(session: Session, shop_id: int, since: datetime) -> dict[tuple[str, str], int]:
    """(from stage, to stage) → moves since ``since`` (from "" is a shopper's first stage)."""
    rows = session.exec(
        select(JourneyTransition.from_stage, JourneyTransition.to_stage, func.count())
        .where(JourneyTransition.shop_id == shop_id, JourneyTransition.at >= since)
        .group_by(JourneyTransition.from_stage, JourneyTransition.to_stage)
    ).all()
    return {(a, b): int(n) for a, b, n in rows}


def shopper_stage(session: Session, shop_id: int, key: str) -> JourneyStage | None:
    return session.exec(
        select(JourneyStage).where(JourneyStage.shop_id == shop_id, JourneyStage.shopper_key == key)
    ).first()
