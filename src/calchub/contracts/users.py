"""People and their credentials: accounts, sign-in sessions, personal API tokens."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, Field

from calchub.contracts.calculations import NAME, Strict
from calchub.domain.permissions import ProjectRole, Role, Scope

Username = Annotated[str, Field(pattern=NAME, description="letters, digits, '.', '_' and '-'")]
Password = Annotated[str, Field(min_length=8, max_length=1000, description="at least 8 characters")]


Email = Annotated[str, Field(max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")]


class NotifyLevel(StrEnum):
    """How much a user is told about their own calculations and studies."""

    INFO = "info"  # every state change
    ERROR = "error"  # failed, invalid or lost only
    NONE = "none"


class Quotas(Strict):
    """Limits of a project or a user; a limit left unset is no limit."""

    max_running: int | None = Field(None, ge=0, le=1_000_000, description="calculations held by agents")
    max_queued: int | None = Field(
        None, ge=0, le=10_000_000, description="calculations waiting: queued, waiting or pending approval"
    )
    core_hours: float | None = Field(None, ge=0, le=1e12, description="core-hours per period")
    quota_days: int = Field(30, ge=1, le=3660, description="the period of core_hours, in days")


class Membership(BaseModel):
    project: str
    role: ProjectRole


class User(BaseModel):
    id: int
    username: str
    email: str | None
    role: Role
    blocked: bool
    created_at: datetime
    quotas: Quotas
    projects: list[Membership] = []


class UserCreate(Strict):
    username: Username
    password: Password | None = Field(None, description="none: the user cannot sign in until one is set")
    email: Email | None = None
    role: Role = Role.USER
    projects: list[Annotated[str, Field(max_length=100)]] = Field(
        default_factory=list, max_length=100, description="projects to join as a member"
    )


class UserUpdate(Strict):
    role: Role | None = None
    email: Email | None = None
    quotas: Quotas | None = None


class PasswordSet(Strict):
    password: Password


class PasswordChange(Strict):
    current: str = Field(min_length=1, max_length=1000)
    password: Password


class Login(Strict):
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)


class AccessToken(BaseModel):
    """A short-lived access token (a JWT); the refresh token travels in an HttpOnly cookie."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="seconds")
    username: str
    role: Role


class TokenCreate(Strict):
    name: str = Field(min_length=1, max_length=100)
    days: int | None = Field(None, ge=1, le=3650, description="never expires when unset")
    scope: Scope = Field(Scope.FULL, description="read: may only look; full: may act too")


class Token(BaseModel):
    id: int
    name: str
    prefix: str
    scope: Scope
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class TokenIssued(Token):
    token: str = Field(description="shown once")


class Me(BaseModel):
    id: int
    username: str
    role: Role
    email: str | None = None
    scope: Scope = Scope.FULL
    projects: list[Membership] = []
    notify: NotifyLevel = NotifyLevel.ERROR


class MeUpdate(Strict):
    """Your own settings; what is left out stays as it is, and ``email: null`` removes the address."""

    email: Email | None = None
    notify: NotifyLevel | None = Field(
        None, description="info: every state change of your calculations; error: failures only; none"
    )


class Revoked(BaseModel):
    revoked: int = Field(description="how many sessions (refresh token families) were ended")
