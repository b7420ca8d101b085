"""Projects, their members, and what their calculations use of the quotas."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Row, case, delete, func, literal, select, union_all
from sqlalchemy.orm import Session

from calchub.domain.states import HELD, WAITING_TO_RUN
from calchub.server.db.functions import epoch
from calchub.server.db.tables import Calculation, Project, ProjectMember, User

_HELD = [s.value for s in HELD]
_WAITING = [s.value for s in WAITING_TO_RUN]


def add(session: Session, project: Project) -> Project:
    session.add(project)
    session.flush()
    return project


def by_name(session: Session, name: str) -> Project | None:
    return session.scalar(select(Project).where(Project.name == name))


def by_ids(session: Session, ids: Iterable[int]) -> dict[int, Project]:
    wanted = set(ids)
    if not wanted:
        return {}
    return {p.id: p for p in session.scalars(select(Project).where(Project.id.in_(wanted)))}


def personal_of(session: Session, user_id: int) -> Project | None:
    return session.scalar(select(Project).where(Project.personal_of == user_id))


def listing(session: Session, ids: Iterable[int] | None) -> list[Project]:
    """Every project (``ids`` None), or those of ``ids``, by name."""
    stmt = select(Project).order_by(Project.name)
    if ids is not None:
        stmt = stmt.where(Project.id.in_(set(ids)))
    return list(session.scalars(stmt))


def member_counts(session: Session, ids: Sequence[int]) -> dict[int, int]:
    stmt = (
        select(ProjectMember.project_id, func.count())
        .where(ProjectMember.project_id.in_(ids))
        .group_by(ProjectMember.project_id)
    )
    return {row[0]: row[1] for row in session.execute(stmt)}


def memberships_of(session: Session, user_id: int) -> list[ProjectMember]:
    return list(session.scalars(select(ProjectMember).where(ProjectMember.user_id == user_id)))


def memberships_with_names(session: Session, user_id: int) -> list[tuple[str, str]]:
    return named_memberships_of(session, [user_id]).get(user_id, [])


def named_memberships_of(session: Session, user_ids: Sequence[int]) -> dict[int, list[tuple[str, str]]]:
    """Each user's (project name, role), by project name, for many users in one query."""
    stmt = (
        select(ProjectMember.user_id, Project.name, ProjectMember.role)
        .join(ProjectMember, ProjectMember.project_id == Project.id)
        .where(ProjectMember.user_id.in_(user_ids))
        .order_by(Project.name)
    )
    found: dict[int, list[tuple[str, str]]] = {}
    for user_id, name, role in session.execute(stmt):
        found.setdefault(user_id, []).append((name, role))
    return found


def members(session: Session, project_id: int) -> list[tuple[ProjectMember, str]]:
    stmt = (
        select(ProjectMember, User.username)
        .join(User, User.id == ProjectMember.user_id)
        .where(ProjectMember.project_id == project_id)
        .order_by(User.username)
    )
    return [(row[0], row[1]) for row in session.execute(stmt)]


def membership(session: Session, project_id: int, user_id: int) -> ProjectMember | None:
    return session.get(ProjectMember, (project_id, user_id))


def put_member(session: Session, project_id: int, user_id: int, role: str) -> ProjectMember:
    found = membership(session, project_id, user_id)
    if found is None:
        found = ProjectMember(project_id=project_id, user_id=user_id, role=role)
        session.add(found)
    else:
        found.role = role
    session.flush()
    return found


def remove_member(session: Session, member: ProjectMember) -> None:
    session.delete(member)
    session.flush()


def remove(session: Session, project: Project) -> None:
    session.execute(delete(ProjectMember).where(ProjectMember.project_id == project.id))
    session.delete(project)
    session.flush()


def calculation_count(session: Session, project_id: int) -> int:
    stmt = select(func.count()).select_from(Calculation).where(Calculation.project_id == project_id)
    return session.scalar(stmt) or 0


# -- quotas ---------------------------------------------------------------------------


def counts(session: Session, column: Any, key: int) -> tuple[int, int]:
    """(held by agents, waiting to run) of one project (``column`` project_id) or owner."""
    return counts_of(session, column, [key]).get(key, (0, 0))


def counts_of(session: Session, column: Any, keys: Sequence[int]) -> dict[int, tuple[int, int]]:
    """(held by agents, waiting to run) of each of these projects or owners, in one query."""
    stmt = (
        select(column, Calculation.state, func.count())
        .where(column.in_(keys), Calculation.state.in_(_HELD + _WAITING))
        .group_by(column, Calculation.state)
    )
    found: dict[int, tuple[int, int]] = {}
    for key, state, n in session.execute(stmt):
        held, waiting = found.get(key, (0, 0))
        found[key] = (held + n, waiting) if state in _HELD else (held, waiting + n)
    return found


def core_seconds_finished(
    session: Session, column: Any, keys: Sequence[int], since: datetime
) -> dict[int, float]:
    """Core-seconds of the runs of these projects or owners that finished since ``since``, the
    part of each run after ``since``: summed by the database from the ``(key, finished_at)``
    index, never reading the runs themselves nor the whole history."""
    start, from_ = epoch(Calculation.started_at), literal(int(since.timestamp()), BigInteger)
    seconds = epoch(Calculation.finished_at) - case((start > from_, start), else_=from_)
    # An agent's clock stamps the start, the server's may stamp the end: never a negative run.
    counted = case((seconds > 0, seconds), else_=0)
    stmt = (
        select(column, func.sum(Calculation.cores * counted))
        .where(column.in_(keys), Calculation.started_at.is_not(None), Calculation.finished_at >= since)
        .group_by(column)
    )
    return {key: float(total or 0) for key, total in session.execute(stmt)}


def running(session: Session, column: Any, keys: Sequence[int]) -> Sequence[Row[Any]]:
    """(key, cores, started_at) of the runs of these projects or owners going on now."""
    stmt = select(column.label("key"), Calculation.cores, Calculation.started_at).where(
        column.in_(keys),
        Calculation.state.in_(_HELD),
        Calculation.started_at.is_not(None),
        Calculation.finished_at.is_(None),
    )
    return list(session.execute(stmt))


def _limited(session: Session, limit: int | None = None) -> list[tuple[str, int, int]]:
    """("p" or "u", id, max_running) of each project and user that has a ``max_running``."""
    limited = union_all(
        select(literal("p").label("kind"), Project.id, Project.max_running).where(
            Project.max_running.is_not(None)
        ),
        select(literal("u").label("kind"), User.id, User.max_running).where(User.max_running.is_not(None)),
    )
    if limit is not None:
        limited = limited.limit(limit)
    return [(r[0], r[1], r[2] or 0) for r in session.execute(limited)]


def has_running_limits(session: Session) -> bool:
    return bool(_limited(session, limit=1))


def running_limits(session: Session) -> tuple[dict[int, int], dict[int, int]]:
    """What is left under ``max_running``, of each project and each user that has one.

    One query while no such quota exists (the common case), which is asked on every claim.
    Otherwise the limited rows are locked until the claim commits, so two claims at once (two
    replicas, two clusters) cannot both take the last place.
    """
    rows = _limited(session)
    if not rows:
        return {}, {}
    projects = {key: limit for kind, key, limit in rows if kind == "p"}
    users = {key: limit for kind, key, limit in rows if kind == "u"}
    for table, keys in ((Project, projects), (User, users)):
        if keys:
            session.execute(select(table.id).where(table.id.in_(list(keys))).with_for_update())
    return _left(session, projects, Calculation.project_id), _left(session, users, Calculation.owner_id)


def _left(session: Session, limits: dict[int, int], column: Any) -> dict[int, int]:
    if not limits:
        return {}
    counted = (
        select(column, func.count())
        .where(column.in_(list(limits)), Calculation.state.in_(_HELD))
        .group_by(column)
    )
    held: dict[int, int] = {row[0]: row[1] for row in session.execute(counted)}
    return {key: max(limit - held.get(key, 0), 0) for key, limit in limits.items()}
