"""Projects: who sees them, who manages their members, and their settings.

A project is seen by its members, moderators and admins; anyone else is
told it does not exist (404), so names are not probed. Admins create,
change and delete projects; a project's managers add and remove members.
Personal projects (``~username``) belong to one user and take no members.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from calchub.contracts import projects as wire
from calchub.domain.permissions import Action, ProjectRole
from calchub.server.db.tables import Project
from calchub.server.repositories import projects as repo
from calchub.server.services import quotas
from calchub.server.services.auth import Caller
from calchub.server.services.errors import Conflict, Forbidden, Invalid, NotFound
from calchub.server.services.people import named, quotas_of, set_quotas
from calchub.server.services.unit import CALLERS, wake


def to_wire(project: Project, caller: Caller, members: int = 0) -> wire.Project:
    role = caller.projects.get(project.id)
    return wire.Project(
        id=project.id,
        name=project.name,
        description=project.description,
        personal=project.personal_of is not None,
        requires_approval=project.requires_approval,
        priority_min=project.priority_min,
        priority_max=project.priority_max,
        quotas=quotas_of(project),
        created_at=project.created_at,
        my_role=ProjectRole(role) if role else None,
        members=members,
    )


def visible(session: Session, caller: Caller, name: str, field: str = "project") -> Project:
    project = repo.by_name(session, name)
    if project is None or not caller.sees(project.id):
        raise NotFound(
            f"no project named {name!r} that you belong to; `calchub project ls` lists yours", field
        )
    return project


def _managed(session: Session, caller: Caller, name: str) -> Project:
    project = visible(session, caller, name)
    if not caller.manages(project.id):
        raise Forbidden(f"only the managers of {name!r} and admins can change its members")
    return project


def listing(session: Session, caller: Caller) -> list[wire.Project]:
    found = repo.listing(session, None if caller.sees_all else list(caller.projects))
    counts = repo.member_counts(session, [p.id for p in found])
    return [to_wire(p, caller, counts.get(p.id, 0)) for p in found]


def listing_with_usage(session: Session, caller: Caller) -> list[tuple[wire.Project, wire.Usage]]:
    """The caller's projects (every project, for those who see all) with what each uses of its quotas."""
    found = repo.listing(session, None if caller.sees_all else list(caller.projects))
    counts = repo.member_counts(session, [p.id for p in found])
    used = quotas.usage_of(session, found)
    return [(to_wire(p, caller, counts.get(p.id, 0)), used[p.id]) for p in found]


def usage(session: Session, caller: Caller, name: str) -> wire.Usage:
    return quotas.usage(session, visible(session, caller, name))


def show(session: Session, caller: Caller, name: str) -> wire.Project:
    project = visible(session, caller, name)
    return to_wire(project, caller, repo.member_counts(session, [project.id]).get(project.id, 0))


def create(session: Session, caller: Caller, request: wire.ProjectCreate) -> wire.Project:
    if repo.by_name(session, request.name) is not None:
        raise Conflict(f"a project named {request.name!r} exists already", "name")
    project = Project(
        name=request.name,
        description=request.description,
        requires_approval=request.requires_approval,
        priority_min=request.priority_min,
        priority_max=request.priority_max,
    )
    set_quotas(project, request.quotas)
    repo.add(session, project)
    for username in request.managers:
        repo.put_member(session, project.id, named(session, username).id, ProjectRole.MANAGER.value)
    if request.managers:
        wake(session, CALLERS)
    return to_wire(project, caller, len(request.managers))


def update(session: Session, caller: Caller, name: str, request: wire.ProjectUpdate) -> wire.Project:
    project = visible(session, caller, name)
    for column in ("description", "requires_approval", "priority_min", "priority_max"):
        value = getattr(request, column)
        if value is not None:
            setattr(project, column, value)
    if project.priority_min > project.priority_max:
        raise Invalid("priority_min must not be above priority_max", "priority_min")
    if request.quotas is not None:
        set_quotas(project, request.quotas)
    session.flush()
    return show(session, caller, name)


def remove(session: Session, caller: Caller, name: str) -> None:
    project = visible(session, caller, name)
    if project.personal_of is not None:
        raise Conflict(f"{name!r} is a personal project; it goes when its user is deleted")
    held = repo.calculation_count(session, project.id)
    if held:
        raise Conflict(f"project {name!r} has {held} calculations; delete them first")
    repo.remove(session, project)
    wake(session, CALLERS)


def members(session: Session, caller: Caller, name: str) -> list[wire.Member]:
    project = visible(session, caller, name)
    return [
        wire.Member(username=username, role=ProjectRole(m.role), added_at=m.added_at)
        for m, username in repo.members(session, project.id)
    ]


def put_member(session: Session, caller: Caller, name: str, username: str, role: ProjectRole) -> wire.Member:
    project = _managed(session, caller, name)
    if project.personal_of is not None:
        raise Conflict(f"{name!r} is a personal project and takes no members; share a group project instead")
    user = named(session, username)
    member = repo.put_member(session, project.id, user.id, role.value)
    wake(session, CALLERS)
    return wire.Member(username=user.username, role=role, added_at=member.added_at)


def remove_member(session: Session, caller: Caller, name: str, username: str) -> None:
    project = _managed(session, caller, name)
    user = named(session, username)
    member = repo.membership(session, project.id, user.id)
    if member is None:
        raise NotFound(f"{username!r} is not a member of {name!r}", "username")
    if project.personal_of == user.id:
        raise Conflict(f"{username!r} owns the personal project {name!r}")
    repo.remove_member(session, member)
    wake(session, CALLERS)


def for_submission(session: Session, caller: Caller, name: str | None, field: str = "project") -> Project:
    """The project a new calculation goes to: the one named, or the caller's personal project."""
    if name is None:
        project = repo.personal_of(session, caller.id)
        if project is None:
            raise NotFound("you have no personal project; name a project", field)
        return project
    project = repo.by_name(session, name)
    if project is None or not (project.id in caller.projects or caller.may(Action.PROJECTS_MANAGE)):
        raise NotFound(
            f"no project named {name!r} that you belong to; `calchub project ls` lists yours", field
        )
    if project.personal_of not in (None, caller.id):
        raise Forbidden(f"{name!r} is someone's personal project; only its owner submits to it", field)
    return project
