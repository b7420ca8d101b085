"""A project's webhooks (the notifier reads them through ``repositories.notices``)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from calchub.server.db.tables import Project, Webhook


def add(session: Session, hook: Webhook) -> Webhook:
    session.add(hook)
    session.flush()
    return hook


def of_project(session: Session, project_id: int) -> list[Webhook]:
    """The project's webhooks, oldest first."""
    return list(session.scalars(select(Webhook).where(Webhook.project_id == project_id).order_by(Webhook.id)))


def count(session: Session, project_id: int) -> int:
    return (
        session.scalar(select(func.count()).select_from(Webhook).where(Webhook.project_id == project_id)) or 0
    )


def lock_project(session: Session, project_id: int) -> None:
    """Hold the project's row until commit, so two additions at once cannot both take its last place
    (PostgreSQL; SQLite has one writer at a time already)."""
    session.execute(select(Project.id).where(Project.id == project_id).with_for_update())


def in_project(session: Session, project_id: int, webhook_id: int) -> Webhook | None:
    return session.scalar(select(Webhook).where(Webhook.id == webhook_id, Webhook.project_id == project_id))


def remove(session: Session, hook: Webhook) -> None:
    session.delete(hook)
    session.flush()
