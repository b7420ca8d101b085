"""Projects (a group's proposal or topic), their members, quotas and usage."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, model_validator

from calchub.contracts.calculations import NAME, Strict
from calchub.contracts.users import Quotas
from calchub.domain.permissions import ProjectRole

ProjectName = Annotated[str, Field(pattern=NAME)]


class Priorities(Strict):
    priority_min: int = Field(-100, ge=-1000, le=1000)
    priority_max: int = Field(100, ge=-1000, le=1000)

    @model_validator(mode="after")
    def _ordered(self) -> Priorities:
        if self.priority_min > self.priority_max:
            raise ValueError("priority_min must not be above priority_max")
        return self


class ProjectCreate(Priorities):
    name: ProjectName
    description: str = Field("", max_length=5000)
    requires_approval: bool = Field(False, description="calculations wait for a moderator's approval")
    quotas: Quotas = Field(default_factory=lambda: Quotas())
    managers: list[Annotated[str, Field(max_length=100)]] = Field(default_factory=list, max_length=100)


class ProjectUpdate(Strict):
    description: str | None = Field(None, max_length=5000)
    requires_approval: bool | None = None
    priority_min: int | None = Field(None, ge=-1000, le=1000)
    priority_max: int | None = Field(None, ge=-1000, le=1000)
    quotas: Quotas | None = None


class Member(BaseModel):
    username: str
    role: ProjectRole
    added_at: datetime


class MemberSet(Strict):
    role: ProjectRole = ProjectRole.MEMBER


class Project(BaseModel):
    id: int
    name: str
    description: str
    personal: bool
    requires_approval: bool
    priority_min: int
    priority_max: int
    quotas: Quotas
    created_at: datetime
    #: The caller's role in it, if a member.
    my_role: ProjectRole | None = None
    members: int = 0


class QuotaUse(BaseModel):
    """How much of one quota is used, and what is left (None: no limit)."""

    quota: str
    used: float
    limit: float | None
    left: float | None


class Usage(BaseModel):
    project: str
    running: int
    queued: int
    core_hours: float
    since: datetime
    quotas: list[QuotaUse]


class Decision(Strict):
    comment: str | None = Field(None, max_length=5000)


class Rejection(Strict):
    comment: str = Field(min_length=1, max_length=5000, description="why; the submitter reads it")
