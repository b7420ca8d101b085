"""Who may do what: the roles, the actions, and the one table that joins them.

Every endpoint (and, later, every page) names the action it performs; the
server checks it here and nowhere else. The OpenAPI description carries each
operation's action (``x-calchub-permission``), so the permission-matrix test
is generated from it.

Roles, as the users described them:

- ``user``: calculations and analyses in the projects they belong to, their
  own tokens and settings;
- ``moderator``: a user's rights, plus blocking and unblocking users,
  resetting their passwords, approving and rejecting calculations, raising
  priorities and seeing every project;
- ``admin``: everything, including users, clusters, keys and projects.

Inside a project a member is a ``member`` or a ``manager``; managers add and
remove members and act on every calculation of the project.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    USER = "user"
    MODERATOR = "moderator"
    ADMIN = "admin"


class ProjectRole(StrEnum):
    MEMBER = "member"
    MANAGER = "manager"


class Scope(StrEnum):
    """What a personal API token may do: ``read`` only looks, ``full`` acts too."""

    READ = "read"
    FULL = "full"


class Action(StrEnum):
    # Calculations, results, files and logs in the caller's projects.
    CALCULATIONS_READ = "calculations:read"
    CALCULATIONS_WRITE = "calculations:write"
    CALCULATIONS_APPROVE = "calculations:approve"
    PRIORITY_RAISE = "calculations:raise-priority"
    # Projects.
    PROJECTS_READ = "projects:read"
    PROJECTS_SEE_ALL = "projects:see-all"
    PROJECTS_MEMBERS = "projects:members"
    PROJECTS_MANAGE = "projects:manage"
    # People.
    SELF = "self"
    USERS_READ = "users:read"
    USERS_BLOCK = "users:block"
    USERS_PASSWORD = "users:reset-password"
    USERS_MANAGE = "users:manage"
    SESSIONS_REVOKE_ALL = "sessions:revoke-all"
    # Compute sites.
    CLUSTERS_READ = "clusters:read"
    CLUSTERS_MANAGE = "clusters:manage"
    # The feed of agent and service events.
    LOGS_READ = "logs:read"
    LOGS_DELETE = "logs:delete"
    # Served ML models in the caller's projects.
    MODELS_READ = "models:read"
    MODELS_INVOKE = "models:invoke"
    MODELS_WRITE = "models:write"
    MODELS_DELETE = "models:delete"


_USER = frozenset(
    {
        Action.CALCULATIONS_READ,
        Action.CALCULATIONS_WRITE,
        Action.PROJECTS_READ,
        Action.PROJECTS_MEMBERS,
        Action.SELF,
        Action.CLUSTERS_READ,
        Action.LOGS_READ,
        Action.MODELS_READ,
        Action.MODELS_INVOKE,
        Action.MODELS_WRITE,
    }
)
_MODERATOR = _USER | {
    Action.CALCULATIONS_APPROVE,
    Action.PRIORITY_RAISE,
    Action.PROJECTS_SEE_ALL,
    Action.USERS_READ,
    Action.USERS_BLOCK,
    Action.USERS_PASSWORD,
}

#: The permission matrix: what each role may do.
ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.USER: _USER,
    Role.MODERATOR: frozenset(_MODERATOR),
    Role.ADMIN: frozenset(Action),
}

#: Actions a read-only token may perform: they change nothing.
READ_ONLY = frozenset(
    {
        Action.CALCULATIONS_READ,
        Action.PROJECTS_READ,
        Action.PROJECTS_SEE_ALL,
        Action.USERS_READ,
        Action.CLUSTERS_READ,
        Action.LOGS_READ,
        Action.MODELS_READ,
        # A prediction changes nothing.
        Action.MODELS_INVOKE,
        Action.SELF,
    }
)

#: Roles a moderator may block or reset the password of; an admin may act on anyone else.
MODERATED = frozenset({Role.USER})


def allows(role: Role | str, action: Action) -> bool:
    return action in ROLE_ACTIONS[Role(role)]


def scope_allows(scope: Scope | str, action: Action, method: str) -> bool:
    """A read-only token reads (GET and HEAD) with read actions; a full token does anything."""
    if Scope(scope) is Scope.FULL:
        return True
    return action in READ_ONLY and method.upper() in {"GET", "HEAD"}


def may_moderate(actor: Role | str, target: Role | str) -> bool:
    """Whether ``actor`` may block, unblock or reset the password of a ``target`` user."""
    if Role(actor) is Role.ADMIN:
        return True
    return Role(actor) is Role.MODERATOR and Role(target) in MODERATED


def sees_all_projects(role: Role | str) -> bool:
    return allows(role, Action.PROJECTS_SEE_ALL)


# -- rules about one record, on top of the role's actions -------------------------------


def may_change_calculation(role: Role | str, *, owner: bool, project_role: ProjectRole | str | None) -> bool:
    """Rename, re-prioritise within range, delete: its owner, its project's managers, admins."""
    return Role(role) is Role.ADMIN or owner or project_role == ProjectRole.MANAGER


def may_cancel_calculation(role: Role | str, *, owner: bool, project_role: ProjectRole | str | None) -> bool:
    """Cancel: whoever may change it, and moderators."""
    return (
        may_change_calculation(role, owner=owner, project_role=project_role) or Role(role) is Role.MODERATOR
    )


def may_change_model(role: Role | str, *, owner: bool, project_role: ProjectRole | str | None) -> bool:
    """Register a new version, start, stop, describe: its owner, its project's managers, admins."""
    return may_change_calculation(role, owner=owner, project_role=project_role)


def may_manage_members(role: Role | str, project_role: ProjectRole | str | None) -> bool:
    """Add, remove and re-role a project's members: its managers and admins."""
    return Role(role) is Role.ADMIN or project_role == ProjectRole.MANAGER


#: Roles that see the service's own log entries (of no project and no cluster: a user blocked ...).
SERVICE_LOG_READERS = frozenset({Role.MODERATOR, Role.ADMIN})


@dataclass(frozen=True)
class LogScope:
    """Which entries of the log feed a viewer sees, by what the entry is about.

    An entry of a project is its members' (and of those who see every project); an entry of a
    cluster alone is everyone's, as the cluster list is; an entry of neither is the service's
    own, for moderators and admins. The repository turns this into its query.
    """

    every_project: bool
    projects: frozenset[int]
    service: bool

    def sees(self, project_id: int | None, cluster_id: int | None) -> bool:
        if project_id is not None:
            return self.every_project or project_id in self.projects
        return cluster_id is not None or self.service


def log_scope(role: Role | str, projects: Collection[int]) -> LogScope:
    """The log entries a ``role`` who belongs to ``projects`` may see."""
    return LogScope(
        every_project=sees_all_projects(role),
        projects=frozenset(projects),
        service=Role(role) in SERVICE_LOG_READERS,
    )
