"""Accounts: creating, blocking, passwords, roles and quotas; the first admin.

Every change that could change what a credential may do queues the
``callers`` wake-up, which clears the caller cache of every server process
once the transaction commits (so a blocked user is locked out at once).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy.orm import Session

from calchub.contracts import users as wire
from calchub.domain.permissions import ProjectRole, Role, Scope, may_moderate
from calchub.server.db.tables import Cluster, Project, User, now
from calchub.server.repositories import clusters as cluster_repo
from calchub.server.repositories import projects as project_repo
from calchub.server.repositories import sessions as session_repo
from calchub.server.repositories import users as repo
from calchub.server.services.auth import Caller, hash_password, issue_agent_key, issue_token, password_matches
from calchub.server.services.errors import Conflict, Forbidden, NotFound, Unauthorized
from calchub.server.services.unit import CALLERS, wake


def quotas_of(row: User | Project) -> wire.Quotas:
    return wire.Quotas(
        max_running=row.max_running,
        max_queued=row.max_queued,
        core_hours=row.core_hours,
        quota_days=row.quota_days,
    )


def set_quotas(row: User | Project, quotas: wire.Quotas) -> None:
    row.max_running, row.max_queued = quotas.max_running, quotas.max_queued
    row.core_hours, row.quota_days = quotas.core_hours, quotas.quota_days


def to_wire(session: Session, user: User) -> wire.User:
    return _to_wire(user, project_repo.memberships_with_names(session, user.id))


def _to_wire(user: User, member_of: list[tuple[str, str]]) -> wire.User:
    return wire.User(
        id=user.id,
        username=user.username,
        email=user.email,
        role=Role(user.role),
        blocked=not user.is_active,
        created_at=user.created_at,
        quotas=quotas_of(user),
        projects=_to_wire_memberships(member_of),
    )


def _many_to_wire(session: Session, users: list[User]) -> list[wire.User]:
    """Users with their projects, from one query for the memberships however many users."""
    member_of = project_repo.named_memberships_of(session, [u.id for u in users])
    return [_to_wire(u, member_of.get(u.id, [])) for u in users]


def memberships(session: Session, user_id: int) -> list[wire.Membership]:
    return _to_wire_memberships(project_repo.memberships_with_names(session, user_id))


def _to_wire_memberships(member_of: list[tuple[str, str]]) -> list[wire.Membership]:
    return [wire.Membership(project=name, role=ProjectRole(role)) for name, role in member_of]


def named(session: Session, username: str) -> User:
    user = repo.by_username(session, username)
    if user is None:
        raise NotFound(f"no user named {username!r}", "username")
    return user


def create_user(
    session: Session, username: str, password: str | None, role: str, email: str | None = None
) -> User:
    """A user and their personal project ``~username``, which they manage."""
    if repo.by_username(session, username) is not None:
        raise Conflict(f"user {username!r} exists already", "username")
    hashed = hash_password(password) if password else None
    user = repo.add(session, User(username=username, role=role, password_hash=hashed, email=email))
    personal = Project(name=f"~{username}", description=f"{username}'s own", personal_of=user.id)
    project_repo.add(session, personal)
    project_repo.put_member(session, personal.id, user.id, ProjectRole.MANAGER.value)
    return user


def add(session: Session, caller: Caller, request: wire.UserCreate) -> wire.User:
    user = create_user(session, request.username, request.password, request.role.value, request.email)
    for name in request.projects:
        project = project_repo.by_name(session, name)
        if project is None or project.personal_of is not None:
            raise NotFound(f"no project named {name!r}", "projects")
        project_repo.put_member(session, project.id, user.id, ProjectRole.MEMBER.value)
    return to_wire(session, user)


def _moderated(caller: Caller, user: User, what: str) -> None:
    if user.id == caller.id:
        raise Conflict(f"you cannot {what} yourself")
    if not may_moderate(caller.role, user.role):
        raise Forbidden(f"a {caller.role} cannot {what} a {user.role}; ask an admin")


def block(session: Session, caller: Caller, username: str, blocked: bool) -> wire.User:
    user = named(session, username)
    _moderated(caller, user, "block" if blocked else "unblock")
    user.is_active = not blocked
    if blocked:
        session_repo.revoke_user(session, user.id, now())
    wake(session, CALLERS)
    session.flush()
    return to_wire(session, user)


def reset_password(session: Session, caller: Caller, username: str, password: str) -> None:
    user = named(session, username)
    _moderated(caller, user, "reset the password of")
    _new_password(session, user, password)


def me(session: Session, caller: Caller) -> wire.Me:
    """The caller's own account, as the credential they came with sees it."""
    user = named(session, caller.username)
    return wire.Me(
        id=user.id,
        username=user.username,
        role=Role(user.role),
        email=user.email,
        scope=Scope(caller.scope),
        projects=memberships(session, user.id),
        notify=wire.NotifyLevel(user.notify_level),
    )


def update_me(session: Session, caller: Caller, request: wire.MeUpdate) -> wire.Me:
    """Change the caller's own settings; ``email`` given as null removes the address."""
    user = named(session, caller.username)
    if "email" in request.model_fields_set:
        user.email = request.email
    if request.notify is not None:
        user.notify_level = request.notify.value
    session.flush()
    return me(session, caller)


def change_password(session: Session, caller: Caller, current: str, password: str) -> None:
    user = named(session, caller.username)
    if not password_matches(user, current):
        raise Unauthorized("the current password is wrong", "current")
    _new_password(session, user, password)


def _new_password(session: Session, user: User, password: str) -> None:
    """A new password ends every sign-in session (API tokens are left as they are)."""
    user.password_hash = hash_password(password)
    revoke_sessions_of(session, user)


def revoke_sessions_of(session: Session, user: User) -> int:
    """End every sign-in session of ``user``: their refresh tokens and the access tokens they gave."""
    ended = session_repo.revoke_user(session, user.id, now())
    wake(session, CALLERS)
    return ended


def revoke_sessions(session: Session, caller: Caller, username: str) -> int:
    user = named(session, username)
    if user.id != caller.id:
        _moderated(caller, user, "end the sessions of")
    return revoke_sessions_of(session, user)


def revoke_everyones_sessions(session: Session) -> int:
    ended = session_repo.revoke_user(session, None, now())
    wake(session, CALLERS)
    return ended


def update(session: Session, caller: Caller, username: str, request: wire.UserUpdate) -> wire.User:
    user = named(session, username)
    if request.role is not None and request.role.value != user.role:
        if user.id == caller.id:
            raise Conflict("you cannot change your own role; another admin can", "role")
        user.role = request.role.value
        wake(session, CALLERS)
    if request.email is not None:
        user.email = request.email
    if request.quotas is not None:
        set_quotas(user, request.quotas)
    session.flush()
    return to_wire(session, user)


def remove(session: Session, caller: Caller, username: str) -> None:
    user = named(session, username)
    if user.id == caller.id:
        raise Conflict("you cannot delete yourself")
    owned = repo.owned_calculations(session, user.id)
    if owned:
        raise Conflict(
            f"user {username!r} owns {owned} calculations; block them instead, or delete those first"
        )
    if studies := repo.owned_studies(session, user.id):
        raise Conflict(
            f"user {username!r} owns the studies {', '.join(studies[:5])}; block them instead, "
            "or leave the account: a study keeps who made it"
        )
    repo.remove(session, user)
    wake(session, CALLERS)


def listing(session: Session) -> list[wire.User]:
    return _many_to_wire(session, repo.listing(session))


def find(
    session: Session, text: str | None = None, role: str | None = None, blocked: bool | None = None
) -> list[wire.User]:
    """The accounts whose username or email holds ``text`` (in any case), of ``role``, blocked or not."""
    return _many_to_wire(session, repo.listing(session, (text or "").strip() or None, role, blocked))


def show(session: Session, username: str) -> wire.User:
    return to_wire(session, named(session, username))


@dataclass(frozen=True)
class Bootstrap:
    username: str
    password: str
    token: str
    cluster: str
    agent_key: str


def bootstrap(session: Session, cluster_name: str = "local") -> Bootstrap | None:
    """On an empty database: an admin, a token for the CLI, a local cluster and its key."""
    if repo.count(session) > 0:
        return None
    password = secrets.token_urlsafe(12)
    admin = create_user(session, "admin", password, Role.ADMIN.value)
    _, token = issue_token(session, admin.id, "calchub up", None)
    cluster = cluster_repo.add(session, Cluster(name=cluster_name, description="this machine"))
    _, key = issue_agent_key(session, cluster.id)
    return Bootstrap("admin", password, token, cluster_name, key)
