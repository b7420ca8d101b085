"""Served ML model versions: SQL only."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from calchub.server.db.tables import ModelVersion, Project, User


def add(session: Session, model: ModelVersion) -> ModelVersion:
    session.add(model)
    session.flush()
    return model


def by_id(session: Session, model_id: int) -> ModelVersion | None:
    return session.get(ModelVersion, model_id)


def by_ids(session: Session, ids: Collection[int]) -> list[ModelVersion]:
    if not ids:
        return []
    return list(session.scalars(select(ModelVersion).where(ModelVersion.id.in_(list(ids)))))


def versions(session: Session, name: str) -> list[ModelVersion]:
    """Every version of a model, oldest first."""
    query = select(ModelVersion).where(ModelVersion.name == name).order_by(ModelVersion.id)
    return list(session.scalars(query))


def version(session: Session, name: str, version: str) -> ModelVersion | None:
    query = select(ModelVersion).where(ModelVersion.name == name, ModelVersion.version == version)
    return session.scalar(query)


def current(session: Session, name: str) -> ModelVersion | None:
    query = select(ModelVersion).where(ModelVersion.name == name, ModelVersion.current.is_(True))
    return session.scalar(query)


def listing(session: Session, project_ids: Collection[int] | None) -> list[ModelVersion]:
    """Every version in these projects (all, for None), by name then age."""
    query = select(ModelVersion).order_by(ModelVersion.name, ModelVersion.id)
    if project_ids is not None:
        query = query.where(ModelVersion.project_id.in_(list(project_ids)))
    return list(session.scalars(query))


def to_run(session: Session) -> list[ModelVersion]:
    """The versions someone wants running, or that are not yet marked stopped."""
    query = select(ModelVersion).where((ModelVersion.wanted.is_(True)) | (ModelVersion.state != "stopped"))
    return list(session.scalars(query.order_by(ModelVersion.id)))


def make_current(session: Session, model: ModelVersion) -> None:
    """``model`` becomes the version its name's invocations reach; the others stop being it."""
    session.execute(
        update(ModelVersion)
        .where(ModelVersion.name == model.name, ModelVersion.id != model.id)
        .values(current=False)
    )
    model.current = True
    session.flush()


def project_names(session: Session, ids: Collection[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(select(Project.id, Project.name).where(Project.id.in_(list(ids))))
    return {row.id: row.name for row in rows}


def usernames(session: Session, ids: Collection[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(select(User.id, User.username).where(User.id.in_(list(ids))))
    return {row.id: row.username for row in rows}


def remove(session: Session, model: ModelVersion) -> None:
    session.delete(model)
    session.flush()
