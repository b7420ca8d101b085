"""What an agent and the server say to each other."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from calchub.contracts.calculations import MAX_ID, Attempt, FileInfo, Id, Resources, Strict
from calchub.contracts.clusters import Partition
from calchub.contracts.results import ResultSet
from calchub.domain.states import State


class Held(Strict):
    id: Id
    attempt: Attempt


class Heartbeat(Strict):
    agent: Annotated[str, Field(min_length=1, max_length=200)]
    version: str
    host: str
    executor: str = "local"
    cores: int = Field(ge=0)
    gpus: int = Field(0, ge=0)
    running: int = Field(ge=0)
    cpu_percent: float = 0.0
    load_avg: list[float] = []
    memory_total: int = 0
    memory_available: int = 0
    disk_total: int = 0
    disk_free: int = 0
    held: list[Held] = []
    root: str | None = Field(None, description="where the agent's work folders live")
    partitions: list[Partition] = Field(default_factory=list, description="the scheduler's partition table")


class HeartbeatReply(BaseModel):
    lease_seconds: float
    heartbeat_seconds: float
    settings: dict[str, Any] = Field(default_factory=dict, description="the cluster's settings, e.g. slurm")
    cancel: list[Held] = []
    released: list[Held] = Field(
        default_factory=list, description="held attempts the server no longer gives this agent"
    )


class ClaimRequest(Strict):
    agent: Annotated[str, Field(min_length=1, max_length=200)]
    cores: int = Field(ge=0)
    gpus: int = Field(0, ge=0)
    memory: int | None = Field(None, ge=0)
    max_count: int = Field(100, ge=0, le=1000)
    job_cores: int | None = Field(None, ge=1, description="the most cores one calculation may have here")
    wait: float = Field(20.0, ge=0, le=60, description="seconds to hold the request open")
    held: list[Held] = []


class Assignment(BaseModel):
    id: Id
    attempt: Attempt
    name: str
    command: list[str]
    env: dict[str, str]
    outputs: list[str]
    resources: Resources
    files: list[FileInfo]
    type: str | None = None
    type_version: str | None = None
    inputs: dict[str, Any] = {}
    analyses: list[str] = []


class ClaimReply(BaseModel):
    calculations: list[Assignment] = []
    cancel: list[Held] = []
    lease_seconds: float


class Report(Strict):
    id: Id
    attempt: Attempt
    state: State
    at: datetime
    exit_code: Annotated[int, Field(ge=-(2**31), le=MAX_ID)] | None = None
    message: str | None = Field(None, max_length=10_000)
    host: str | None = None
    workdir: str | None = None
    scheduler_id: str | None = None
    executor: str | None = None
    agent_version: str | None = None
    results: ResultSet | None = None


class ReportBatch(Strict):
    agent: str
    reports: Annotated[list[Report], Field(max_length=10_000)]


Outcome = Literal["applied", "duplicate", "stale", "rejected"]


class ReportResult(BaseModel):
    id: Id
    attempt: Attempt
    outcome: Outcome
    detail: str | None = None


class ReportReply(BaseModel):
    results: list[ReportResult]
