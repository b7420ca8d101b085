"""The log feed's entries: adding them, reading them newest first by id, deleting old ones."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, bindparam, delete, func, insert, or_, select, true
from sqlalchemy.orm import Session

from calchub.domain.permissions import LogScope
from calchub.server.db.tables import Calculation, Cluster, LogEntry, Project


@dataclass
class FeedQuery:
    """What to read: the viewer's scope, the filters, and where the page starts."""

    scope: LogScope
    levels: Sequence[str] = ()
    source: str | None = None
    #: Kinds that start with this: "agent" finds "agent.connected" and "agent.upgraded".
    kind: str | None = None
    cluster_id: int | None = None
    calculation_id: int | None = None
    #: Words in the message, case ignored.
    text: str | None = None
    since: datetime | None = None
    before: datetime | None = None
    #: Older than this id (the next page down).
    before_id: int | None = None
    #: Newer than this id (the live tail): the first ``limit`` after it.
    after_id: int | None = None
    limit: int = 50


def add(session: Session, entry: LogEntry) -> None:
    """Added to the caller's transaction; written with its next flush or commit."""
    session.add(entry)


def add_about_calculations(session: Session, rows: list[dict[str, Any]]) -> None:
    """Entries about calculations, each with its calculation's project and cluster, in one statement.

    Each row has ``calculation_id``, ``at``, ``level``, ``source``, ``kind``, ``actor``,
    ``message`` and ``data``; the project and cluster are read by the insert itself.
    """
    if not rows:
        return
    about = bindparam("about", type_=Integer)
    stmt = insert(LogEntry.__table__).values(  # type: ignore[arg-type]
        calculation_id=about,
        project_id=select(Calculation.project_id).where(Calculation.id == about).scalar_subquery(),
        cluster_id=select(Calculation.cluster_id).where(Calculation.id == about).scalar_subquery(),
    )
    params = []
    for row in rows:
        param = dict(row)
        param["about"] = param.pop("calculation_id")
        params.append(param)
    session.connection().execute(stmt, params)


def _visible(scope: LogScope) -> ColumnElement[bool]:
    """``LogScope.sees`` as SQL."""
    if scope.every_project and scope.service:
        return true()
    seen: list[ColumnElement[bool]] = [and_(LogEntry.project_id.is_(None), LogEntry.cluster_id.is_not(None))]
    if scope.every_project:
        seen.append(LogEntry.project_id.is_not(None))
    elif scope.projects:
        seen.append(LogEntry.project_id.in_(sorted(scope.projects)))
    if scope.service:
        seen.append(and_(LogEntry.project_id.is_(None), LogEntry.cluster_id.is_(None)))
    return or_(*seen)


def _filters(query: FeedQuery) -> list[ColumnElement[bool]]:
    where = [_visible(query.scope)]
    if query.levels:
        where.append(LogEntry.level.in_(list(query.levels)))
    if query.source:
        where.append(LogEntry.source == query.source)
    if query.kind:
        where.append(LogEntry.kind.startswith(query.kind, autoescape=True))
    if query.cluster_id is not None:
        where.append(LogEntry.cluster_id == query.cluster_id)
    if query.calculation_id is not None:
        where.append(LogEntry.calculation_id == query.calculation_id)
    if query.text:
        where.append(LogEntry.message.icontains(query.text, autoescape=True))
    if query.since is not None:
        where.append(LogEntry.at >= query.since)
    if query.before is not None:
        where.append(LogEntry.at < query.before)
    if query.before_id is not None:
        where.append(LogEntry.id < query.before_id)
    if query.after_id is not None:
        where.append(LogEntry.id > query.after_id)
    return where


def feed(session: Session, query: FeedQuery) -> list[tuple[LogEntry, str | None, str | None]]:
    """Entries with their cluster's and project's names, newest first.

    Keyset pages by id, so a page costs the same however deep it is. With ``after_id`` the
    ``limit`` entries just after it are taken (oldest of them first in the query, so none is
    skipped when more came than fit), and still returned newest first.
    """
    tailing = query.after_id is not None
    order = LogEntry.id.asc() if tailing else LogEntry.id.desc()
    stmt = (
        select(LogEntry, Cluster.name, Project.name)
        .outerjoin(Cluster, Cluster.id == LogEntry.cluster_id)
        .outerjoin(Project, Project.id == LogEntry.project_id)
        .where(*_filters(query))
        .order_by(order)
        .limit(query.limit)
    )
    rows: list[tuple[LogEntry, str | None, str | None]] = [
        (entry, cluster, project) for entry, cluster, project in session.execute(stmt)
    ]
    return rows[::-1] if tailing else rows


def latest_id(session: Session) -> int:
    """The id of the newest entry anyone may see (0 when there is none)."""
    return session.scalar(select(func.max(LogEntry.id))) or 0


def count_before(session: Session, before: datetime) -> int:
    return session.scalar(select(func.count()).select_from(LogEntry).where(LogEntry.at < before)) or 0


def delete_before(session: Session, before: datetime) -> int:
    """Delete the entries older than ``before``; how many went."""
    result = session.execute(delete(LogEntry).where(LogEntry.at < before))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
