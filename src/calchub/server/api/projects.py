"""/projects: a group's projects, their members, settings, quota usage and webhooks."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from calchub.contracts import projects as wire
from calchub.contracts import webhooks as hooks
from calchub.server.api.deps import HubDep, InProject, ProjectAdmin, ProjectMembers, ProjectReader, RecordId
from calchub.server.services import projects, quotas, webhooks

router = APIRouter(prefix="/projects", tags=["projects"])


@router.get("", response_model=list[wire.Project])
def list_(hub: HubDep, user: ProjectReader) -> list[wire.Project]:
    """Your projects (every project, for moderators and admins)."""
    with hub.uow() as session:
        return projects.listing(session, user)


@router.post("", response_model=wire.Project, status_code=status.HTTP_201_CREATED)
def create(hub: HubDep, user: ProjectAdmin, body: wire.ProjectCreate) -> wire.Project:
    with hub.uow() as session:
        return projects.create(session, user, body)


@router.get("/{name}", response_model=wire.Project)
def show(hub: HubDep, user: InProject, name: str) -> wire.Project:
    with hub.uow() as session:
        return projects.show(session, user, name)


@router.patch("/{name}", response_model=wire.Project)
def update(hub: HubDep, user: ProjectAdmin, name: str, body: wire.ProjectUpdate) -> wire.Project:
    """Description, approval, the priority range and quotas."""
    with hub.uow() as session:
        return projects.update(session, user, name, body)


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete(hub: HubDep, user: ProjectAdmin, name: str) -> Response:
    with hub.uow() as session:
        projects.remove(session, user, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{name}/members", response_model=list[wire.Member])
def members(hub: HubDep, user: InProject, name: str) -> list[wire.Member]:
    with hub.uow() as session:
        return projects.members(session, user, name)


@router.put("/{name}/members/{username}", response_model=wire.Member)
def put_member(
    hub: HubDep, user: ProjectMembers, name: str, username: str, body: wire.MemberSet
) -> wire.Member:
    """Add a member, or change their role (managers of the project and admins)."""
    with hub.uow() as session:
        return projects.put_member(session, user, name, username, body.role)


@router.delete("/{name}/members/{username}", status_code=status.HTTP_204_NO_CONTENT)
def remove_member(hub: HubDep, user: ProjectMembers, name: str, username: str) -> Response:
    with hub.uow() as session:
        projects.remove_member(session, user, name, username)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{name}/usage", response_model=wire.Usage)
def usage(hub: HubDep, user: InProject, name: str) -> wire.Usage:
    """What the project uses of its quotas, and what is left."""
    with hub.uow() as session:
        return quotas.usage(session, projects.visible(session, user, name))


@router.get("/{name}/webhooks", response_model=list[hooks.Webhook])
def list_webhooks(hub: HubDep, user: InProject, name: str) -> list[hooks.Webhook]:
    """The URLs that receive the project's notices (their secrets are never shown again)."""
    with hub.uow() as session:
        return webhooks.listing(session, user, name)


@router.post("/{name}/webhooks", response_model=hooks.WebhookCreated, status_code=status.HTTP_201_CREATED)
def add_webhook(
    hub: HubDep, user: ProjectMembers, name: str, body: hooks.WebhookCreate
) -> hooks.WebhookCreated:
    """Add a webhook (managers of the project and admins); the answer holds its secret, this once."""
    with hub.uow() as session:
        return webhooks.create(session, user, name, body)


@router.delete("/{name}/webhooks/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_webhook(hub: HubDep, user: ProjectMembers, name: str, webhook_id: RecordId) -> Response:
    with hub.uow() as session:
        webhooks.remove(session, user, name, webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
