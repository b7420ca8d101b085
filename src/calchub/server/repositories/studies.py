"""Studies: their rows, and the counts of their calculations by state."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from calchub.server.db.tables import Calculation, Study


def by_id(session: Session, study_id: int) -> Study | None:
    return session.get(Study, study_id)


def by_name(session: Session, project_id: int, name: str) -> Study | None:
    return session.scalar(select(Study).where(Study.project_id == project_id, Study.name == name))


def add(session: Session, study: Study) -> Study:
    session.add(study)
    session.flush()
    return study


def ensure(session: Session, named: Sequence[tuple[int, str]], owner_id: int, at: datetime) -> None:
    """A row for each (project, name) a submission names that has none yet."""
    wanted = set(named)
    if not wanted:
        return
    stmt = select(Study.project_id, Study.name).where(
        tuple_(Study.project_id, Study.name).in_(sorted(wanted))
    )
    known = {(project_id, name) for project_id, name in session.execute(stmt)}
    for project_id, name in sorted(wanted - known):
        session.add(Study(project_id=project_id, name=name, owner_id=owner_id, created_at=at, spec={}))
    session.flush()


def listed(session: Session, project_ids: Sequence[int] | None, limit: int = 500) -> list[Study]:
    stmt = select(Study).order_by(Study.id.desc()).limit(limit)
    if project_ids is not None:
        stmt = stmt.where(Study.project_id.in_(project_ids))
    return list(session.scalars(stmt))


def state_counts(session: Session, studies: Sequence[Study]) -> dict[int, dict[str, int]]:
    """For each study, how many of its calculations are in each state."""
    ids = {(s.project_id, s.name): s.id for s in studies}
    found: dict[int, dict[str, int]] = {s.id: {} for s in studies}
    if not ids:
        return found
    stmt = (
        select(Calculation.project_id, Calculation.study, Calculation.state, func.count())
        .where(Calculation.study.in_({name for _, name in ids}))
        .group_by(Calculation.project_id, Calculation.study, Calculation.state)
    )
    for project_id, name, state, count in session.execute(stmt):
        study_id = ids.get((project_id, name or ""))
        if study_id is not None:
            found[study_id][state] = count
    return found


def step_counts(session: Session, study: Study) -> dict[str, dict[str, int]]:
    """For each step of a pipeline study, how many of its calculations are in each state."""
    stmt = (
        select(Calculation.step, Calculation.state, func.count())
        .where(Calculation.project_id == study.project_id, Calculation.study == study.name)
        .group_by(Calculation.step, Calculation.state)
    )
    found: dict[str, dict[str, int]] = {}
    for step, state, count in session.execute(stmt):
        found.setdefault(step or "", {})[state] = count
    return found


def unfinished(session: Session, study: Study, states: Sequence[str]) -> list[Calculation]:
    """Its calculations in these states, locked for this transaction, in the order of their ids."""
    stmt = (
        select(Calculation)
        .where(
            Calculation.project_id == study.project_id,
            Calculation.study == study.name,
            Calculation.state.in_(list(states)),
        )
        .order_by(Calculation.id)
        .with_for_update()
    )
    return list(session.scalars(stmt))
