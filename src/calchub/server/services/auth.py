"""Who is asking: users (access tokens, personal API tokens) and agents (their cluster's key).

Three kinds of credential arrive as ``Authorization: Bearer``:

- an access token (a JWT, from signing in; minutes long),
- a personal API token (``chu_...``; named, scoped, expiring, revocable),
- an agent key (``cha_...``; valid only for its cluster's agent endpoints).

Only SHA-256 digests of tokens and keys are stored. A blocked user's every
credential fails at once, because each check reads the user's row.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from calchub.domain.permissions import (
    Action,
    Scope,
    allows,
    may_cancel_calculation,
    may_change_calculation,
    may_manage_members,
    sees_all_projects,
)
from calchub.server.db.tables import AgentKey, ApiToken, User, now
from calchub.server.repositories import clusters as cluster_repo
from calchub.server.repositories import projects as project_repo
from calchub.server.repositories import sessions as session_repo
from calchub.server.repositories import users as user_repo
from calchub.server.services import access
from calchub.server.services.errors import NotFound, Unauthorized
from calchub.server.services.unit import CALLERS, wake

USER_PREFIX = "chu_"
AGENT_PREFIX = "cha_"
_hasher = PasswordHasher()


@dataclass(frozen=True)
class Caller:
    id: int
    username: str
    role: str
    scope: str = Scope.FULL.value
    #: The caller's projects: project id -> role in it.
    projects: Mapping[int, str] = field(default_factory=dict)
    #: When the credential stops working by itself (it may be revoked sooner).
    valid_until: datetime | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def sees_all(self) -> bool:
        return sees_all_projects(self.role)

    @property
    def actor(self) -> str:
        return f"user:{self.username}"

    def may(self, action: Action) -> bool:
        return allows(self.role, action)

    def sees(self, project_id: int) -> bool:
        return self.sees_all or project_id in self.projects

    def manages(self, project_id: int) -> bool:
        return may_manage_members(self.role, self.projects.get(project_id))

    def may_change(self, owner_id: int, project_id: int) -> bool:
        return may_change_calculation(
            self.role, owner=owner_id == self.id, project_role=self.projects.get(project_id)
        )

    def may_cancel(self, owner_id: int, project_id: int) -> bool:
        return may_cancel_calculation(
            self.role, owner=owner_id == self.id, project_role=self.projects.get(project_id)
        )


@dataclass(frozen=True)
class AgentCaller:
    cluster_id: int
    cluster: str
    enabled: bool
    valid_until: datetime | None = None


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@functools.cache
def _stand_in(hasher: PasswordHasher) -> str:
    return hasher.hash(secrets.token_urlsafe(16))


def password_matches(user: User | None, password: str) -> bool:
    """Argon2 verification; an unknown account or one without a password costs the same time."""
    stored = user.password_hash if user is not None else None
    try:
        _hasher.verify(stored or _stand_in(_hasher), password)
    except (VerificationError, InvalidHashError):
        return False
    return stored is not None


def user_for_token(session: Session, token: str, key: str) -> Caller:
    if access.looks_like_jwt(token):
        return _user_for_access_token(session, token, key)
    if not token.startswith(USER_PREFIX):
        raise Unauthorized("this is not a user token (user tokens start with chu_; access tokens are JWTs)")
    found = user_repo.token_by_hash(session, digest(token))
    if found is None:
        raise Unauthorized("unknown token: log in again or create a new token")
    record, user = found
    if record.revoked_at is not None:
        raise Unauthorized("this token was revoked")
    if record.expires_at is not None and record.expires_at < now():
        raise Unauthorized("this token has expired: log in again")
    return _caller(session, user, record.scope, record.expires_at)


def _user_for_access_token(session: Session, token: str, key: str) -> Caller:
    claims = access.verify(key, token)
    user = user_repo.by_id(session, claims.user_id)
    if user is None:
        raise Unauthorized("the account of this access token is gone")
    if not session_repo.family_alive(session, claims.session, now()):
        raise Unauthorized("this session was ended: sign in again")
    return _caller(session, user, Scope.FULL.value, claims.expires_at)


def _caller(session: Session, user: User, scope: str, valid_until: datetime | None) -> Caller:
    if not user.is_active:
        raise Unauthorized(f"user {user.username!r} is blocked; a moderator can unblock them")
    memberships = {m.project_id: m.role for m in project_repo.memberships_of(session, user.id)}
    return Caller(user.id, user.username, user.role, scope, memberships, valid_until)


def agent_for_key(session: Session, key: str) -> AgentCaller:
    if not key.startswith(AGENT_PREFIX):
        raise Unauthorized("this is not an agent key (agent keys start with cha_)")
    found = cluster_repo.key_by_hash(session, digest(key))
    if found is None:
        raise Unauthorized("unknown agent key")
    record, cluster = found
    if record.revoked_at is not None:
        raise Unauthorized("this agent key was revoked: issue a new one with `calchub cluster key`")
    if record.expires_at is not None and record.expires_at < now():
        raise Unauthorized(
            "this agent key was rotated and its grace period is over: give the agent the new key"
        )
    return AgentCaller(cluster.id, cluster.name, cluster.enabled, record.expires_at)


def issue_token(
    session: Session, user_id: int, name: str, expires_at: datetime | None, scope: str = Scope.FULL.value
) -> tuple[ApiToken, str]:
    secret = new_secret(USER_PREFIX)
    record = ApiToken(
        user_id=user_id,
        name=name,
        prefix=secret[:10],
        token_hash=digest(secret),
        expires_at=expires_at,
        scope=scope,
    )
    return user_repo.add_token(session, record), secret


def issue_agent_key(session: Session, cluster_id: int) -> tuple[AgentKey, str]:
    secret = new_secret(AGENT_PREFIX)
    key = cluster_repo.add_key(
        session, AgentKey(cluster_id=cluster_id, prefix=secret[:10], key_hash=digest(secret))
    )
    return key, secret


def token_lifetime(days: int | None) -> datetime | None:
    return now() + timedelta(days=days) if days else None


def tokens_of(session: Session, caller: Caller) -> list[ApiToken]:
    return user_repo.tokens_of(session, caller.id)


def revoke_token(session: Session, caller: Caller, token_id: int) -> ApiToken:
    record = user_repo.token_of(session, caller.id, token_id)
    if record is None:
        raise NotFound(f"you have no token {token_id}")
    if record.revoked_at is None:
        user_repo.revoke_token(session, record, now())
        wake(session, CALLERS)
    return record
