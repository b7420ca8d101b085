"""Notices (the outbox of what to tell people) and their deliveries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from calchub.domain.states import TERMINAL
from calchub.server.db.tables import Calculation, Delivery, ModelVersion, Notice, Study, User, Webhook


def projects_of(session: Session, calc_ids: Sequence[int]) -> dict[int, int]:
    stmt = select(Calculation.id, Calculation.project_id).where(Calculation.id.in_(sorted(set(calc_ids))))
    return {calc_id: project_id for calc_id, project_id in session.execute(stmt)}


def add(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(Notice), rows)


def unspread(session: Session, limit: int) -> list[Notice]:
    """The first notices not yet spread into deliveries, locked (others skip them)."""
    stmt = (
        select(Notice)
        .where(Notice.spread.is_(False))
        .order_by(Notice.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(session.scalars(stmt))


def calculations(session: Session, ids: Sequence[int]) -> dict[int, Calculation]:
    stmt = select(Calculation).where(Calculation.id.in_(sorted(set(ids))))
    return {c.id: c for c in session.scalars(stmt)}


def models(session: Session, ids: Sequence[int]) -> dict[int, ModelVersion]:
    stmt = select(ModelVersion).where(ModelVersion.id.in_(sorted(set(ids))))
    return {m.id: m for m in session.scalars(stmt)}


def users(session: Session, ids: Sequence[int]) -> dict[int, User]:
    return {u.id: u for u in session.scalars(select(User).where(User.id.in_(sorted(set(ids)))))}


def admins(session: Session) -> list[User]:
    stmt = select(User).where(User.role == "admin", User.is_active.is_(True))
    return list(session.scalars(stmt))


def studies_named(session: Session, pairs: Sequence[tuple[int, str]]) -> dict[tuple[int, str], Study]:
    found: dict[tuple[int, str], Study] = {}
    for project_id, name in sorted(set(pairs)):
        study = session.scalar(select(Study).where(Study.project_id == project_id, Study.name == name))
        if study is not None:
            found[(project_id, name)] = study
    return found


def unfinished_in(session: Session, study: Study) -> int:
    stmt = (
        select(func.count())
        .select_from(Calculation)
        .where(
            Calculation.project_id == study.project_id,
            Calculation.study == study.name,
            Calculation.state.not_in([s.value for s in TERMINAL]),
        )
    )
    return session.scalar(stmt) or 0


def add_deliveries(session: Session, rows: list[dict[str, Any]]) -> None:
    """Add deliveries; one that exists already (notice, channel, recipient) is left as it is."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    maker = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = maker(Delivery).on_conflict_do_nothing(index_elements=["notice_id", "channel", "recipient"])
    session.execute(stmt, rows)


def last_sent(session: Session, channel: str, recipients: Sequence[str], level: str) -> dict[str, datetime]:
    """When each recipient was last sent a notice of this level."""
    stmt = (
        select(Delivery.recipient, func.max(Delivery.sent_at))
        .where(
            Delivery.channel == channel,
            Delivery.recipient.in_(sorted(set(recipients))),
            Delivery.level == level,
            Delivery.state == "sent",
        )
        .group_by(Delivery.recipient)
    )
    return {recipient: at for recipient, at in session.execute(stmt) if at is not None}


def due(session: Session, channels: Sequence[str], at: datetime, limit: int) -> list[Delivery]:
    stmt = (
        select(Delivery)
        .where(Delivery.state == "pending", Delivery.channel.in_(list(channels)), Delivery.next_at <= at)
        .order_by(Delivery.next_at, Delivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(session.scalars(stmt))


def next_due(session: Session, channels: Sequence[str]) -> datetime | None:
    stmt = select(func.min(Delivery.next_at)).where(
        Delivery.state == "pending", Delivery.channel.in_(list(channels))
    )
    return session.scalar(stmt)


def notices(session: Session, ids: Sequence[int]) -> dict[int, Notice]:
    return {n.id: n for n in session.scalars(select(Notice).where(Notice.id.in_(sorted(set(ids)))))}


def set_deliveries(session: Session, ids: Sequence[int], **values: Any) -> None:
    if ids:
        session.execute(update(Delivery).where(Delivery.id.in_(sorted(set(ids)))).values(**values))


def study_told_since(session: Session, study_id: int, at: datetime) -> bool:
    """Whether the study's finish was noticed at or after ``at`` already."""
    stmt = select(Notice.id).where(
        Notice.study_id == study_id, Notice.kind == "study.finished", Notice.at >= at
    )
    return session.scalar(stmt.limit(1)) is not None


def failed_in(session: Session, study: Study, limit: int) -> list[Calculation]:
    """The study's first ``limit`` calculations that ended without completing, by id."""
    stmt = (
        select(Calculation)
        .where(
            Calculation.project_id == study.project_id,
            Calculation.study == study.name,
            Calculation.state.in_([s.value for s in TERMINAL if s.value != "completed"]),
        )
        .order_by(Calculation.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def deliveries(session: Session, ids: Sequence[int]) -> list[Delivery]:
    return list(
        session.scalars(select(Delivery).where(Delivery.id.in_(sorted(set(ids)))).order_by(Delivery.id))
    )


def webhooks_of(session: Session, project_ids: Sequence[int]) -> dict[int, list[Webhook]]:
    found: dict[int, list[Webhook]] = {}
    stmt = select(Webhook).where(Webhook.project_id.in_(sorted(set(project_ids)))).order_by(Webhook.id)
    for hook in session.scalars(stmt):
        found.setdefault(hook.project_id, []).append(hook)
    return found


def webhooks(session: Session, ids: Sequence[int]) -> dict[int, Webhook]:
    return {h.id: h for h in session.scalars(select(Webhook).where(Webhook.id.in_(sorted(set(ids)))))}
