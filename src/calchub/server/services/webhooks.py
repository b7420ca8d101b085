"""A project's webhooks: added and removed by its managers and admins, listed by its members.

A webhook receives the project's notices (``services.notices`` spreads them, one delivery per
webhook whose level admits the notice; ``notify.webhooks`` sends them). Its secret is made here,
returned once by :func:`create` and never again: a lost secret means a new webhook.
"""

from __future__ import annotations

import secrets

from sqlalchemy.orm import Session

from calchub.contracts import webhooks as wire
from calchub.server.db.tables import Project, Webhook
from calchub.server.repositories import webhooks as repo
from calchub.server.services.auth import Caller
from calchub.server.services.errors import Conflict, Forbidden, NotFound
from calchub.server.services.projects import visible


def to_wire(hook: Webhook, project: str) -> wire.Webhook:
    return wire.Webhook(
        id=hook.id,
        project=project,
        url=hook.url,
        level=wire.WebhookLevel(hook.level),
        created_at=hook.created_at,
    )


def listing(session: Session, caller: Caller, name: str) -> list[wire.Webhook]:
    """The project's webhooks, without their secrets (its members, and those who see every project)."""
    project = visible(session, caller, name)
    return [to_wire(hook, project.name) for hook in repo.of_project(session, project.id)]


def create(session: Session, caller: Caller, name: str, request: wire.WebhookCreate) -> wire.WebhookCreated:
    project = _managed(session, caller, name)
    repo.lock_project(session, project.id)
    held = repo.count(session, project.id)
    if held >= wire.MAX_WEBHOOKS:
        raise Conflict(f"{name!r} has {held} webhooks, the most a project may have; remove one first", "url")
    hook = Webhook(
        project_id=project.id,
        url=request.url,
        level=request.level.value,
        secret=secrets.token_urlsafe(32),
    )
    repo.add(session, hook)
    return wire.WebhookCreated(**to_wire(hook, project.name).model_dump(), secret=hook.secret)


def remove(session: Session, caller: Caller, name: str, webhook_id: int) -> None:
    """Remove a webhook; what was still to be sent to it is not sent."""
    project = _managed(session, caller, name)
    hook = repo.in_project(session, project.id, webhook_id)
    if hook is None:
        raise NotFound(
            f"{name!r} has no webhook {webhook_id}; `calchub project webhook ls {name}` lists them",
            "webhook_id",
        )
    repo.remove(session, hook)


def _managed(session: Session, caller: Caller, name: str) -> Project:
    project = visible(session, caller, name)
    if not caller.manages(project.id):
        raise Forbidden(f"only the managers of {name!r} and admins can change its webhooks")
    return project
