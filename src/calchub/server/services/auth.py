"""Who is asking: users with API tokens, agents with their cluster's key."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from sqlalchemy.orm import Session

from calchub.server.db.tables import AgentKey, ApiToken, Cluster, User, now
from calchub.server.repositories import clusters as cluster_repo
from calchub.server.repositories import users as user_repo
from calchub.server.services.errors import Conflict, NotFound, Unauthorized

USER_PREFIX = "chu_"
AGENT_PREFIX = "cha_"
_hasher = PasswordHasher()


@dataclass(frozen=True)
class Caller:
    id: int
    username: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def actor(self) -> str:
        return f"user:{self.username}"


@dataclass(frozen=True)
class AgentCaller:
    cluster_id: int
    cluster: str
    enabled: bool


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def user_for_token(session: Session, token: str) -> Caller:
    if not token.startswith(USER_PREFIX):
        raise Unauthorized("this is not a user token (user tokens start with chu_)")
    found = user_repo.token_by_hash(session, digest(token))
    if found is None:
        raise Unauthorized("unknown token: log in again or create a new token")
    record, user = found
    if record.revoked_at is not None:
        raise Unauthorized("this token was revoked")
    if record.expires_at is not None and record.expires_at < now():
        raise Unauthorized("this token has expired: log in again")
    if not user.is_active:
        raise Unauthorized(f"user {user.username!r} is blocked")
    return Caller(user.id, user.username, user.role)


def agent_for_key(session: Session, key: str) -> AgentCaller:
    if not key.startswith(AGENT_PREFIX):
        raise Unauthorized("this is not an agent key (agent keys start with cha_)")
    found = cluster_repo.key_by_hash(session, digest(key))
    if found is None:
        raise Unauthorized("unknown agent key")
    record, cluster = found
    if record.revoked_at is not None:
        raise Unauthorized("this agent key was revoked: issue a new one with `calchub cluster key`")
    return AgentCaller(cluster.id, cluster.name, cluster.enabled)


def login(session: Session, username: str, password: str, days: int = 30) -> tuple[ApiToken, str]:
    user = user_repo.by_username(session, username)
    if user is None or user.password_hash is None or not user.is_active:
        raise Unauthorized("wrong username or password")
    try:
        _hasher.verify(user.password_hash, password)
    except VerificationError:
        raise Unauthorized("wrong username or password") from None
    return issue_token(session, user.id, "login", now() + timedelta(days=days))


def issue_token(
    session: Session, user_id: int, name: str, expires_at: datetime | None
) -> tuple[ApiToken, str]:
    secret = new_secret(USER_PREFIX)
    record = ApiToken(
        user_id=user_id,
        name=name,
        prefix=secret[:10],
        token_hash=digest(secret),
        expires_at=expires_at,
    )
    return user_repo.add_token(session, record), secret


def tokens_of(session: Session, caller: Caller) -> list[ApiToken]:
    return user_repo.tokens_of(session, caller.id)


def revoke_token(session: Session, caller: Caller, token_id: int) -> ApiToken:
    record = user_repo.token_of(session, caller.id, token_id)
    if record is None:
        raise NotFound(f"you have no token {token_id}")
    if record.revoked_at is None:
        user_repo.revoke_token(session, record, now())
    return record


def create_user(session: Session, username: str, password: str | None, role: str) -> User:
    if user_repo.by_username(session, username) is not None:
        raise Conflict(f"user {username!r} exists already")
    hashed = hash_password(password) if password else None
    return user_repo.add(session, User(username=username, role=role, password_hash=hashed))


@dataclass(frozen=True)
class Bootstrap:
    username: str
    password: str
    token: str
    cluster: str
    agent_key: str


def bootstrap(session: Session, cluster_name: str = "local") -> Bootstrap | None:
    """On an empty database: an admin, a token for the CLI, a local cluster and its key."""
    if user_repo.count(session) > 0:
        return None
    password = secrets.token_urlsafe(12)
    admin = create_user(session, "admin", password, "admin")
    _, token = issue_token(session, admin.id, "calchub up", None)
    cluster = cluster_repo.add(session, Cluster(name=cluster_name, description="this machine"))
    key = new_secret(AGENT_PREFIX)
    cluster_repo.add_key(session, AgentKey(cluster_id=cluster.id, prefix=key[:10], key_hash=digest(key)))
    return Bootstrap("admin", password, token, cluster_name, key)
