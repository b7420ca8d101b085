"""Clusters (compute sites) and the agent keys that speak for them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field

from calchub.contracts.calculations import NAME, Strict


class ClusterCreate(Strict):
    name: Annotated[str, Field(pattern=NAME)]
    description: str = Field("", max_length=2000)
    executor: Annotated[str, Field(pattern=NAME)] = "local"


class ClusterUpdate(Strict):
    enabled: bool | None = None
    description: str | None = Field(None, max_length=2000)


class Cluster(BaseModel):
    id: int
    name: str
    description: str
    executor: str
    enabled: bool
    created_at: datetime
    last_heartbeat: datetime | None = None
    status: dict[str, Any] = {}


class AgentKey(BaseModel):
    id: int
    prefix: str
    created_at: datetime
    revoked_at: datetime | None = None


class AgentKeyIssued(AgentKey):
    key: str = Field(description="shown once; store it in the agent's configuration")
