"""Clusters (compute sites) and the agent keys that speak for them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field

from calchub.contracts.calculations import NAME, SCHEDULER_NAME, Strict

DIRECTIVE = r"^--[a-z][a-z0-9-]*(=[^\s'\"`$;&|<>\\]+)?$"


class SlurmSettings(Strict):
    """How a cluster's agent drives Slurm: set by an admin, not written in code."""

    partitions: list[Annotated[str, Field(pattern=SCHEDULER_NAME)]] = Field(
        default_factory=list, description="partitions users may choose; any when empty"
    )
    default_partition: Annotated[str | None, Field(pattern=SCHEDULER_NAME)] = None
    account: Annotated[str | None, Field(pattern=SCHEDULER_NAME)] = None
    qos: Annotated[str | None, Field(pattern=SCHEDULER_NAME, description="default QOS")] = None
    directives: list[Annotated[str, Field(pattern=DIRECTIVE)]] = Field(
        default_factory=list, description="extra sbatch options for every job, e.g. --constraint=haswell"
    )
    setup: list[Annotated[str, Field(max_length=1000, pattern=r"^[^\n\r]*$")]] = Field(
        default_factory=list, description="shell lines before the command, e.g. module load lammps"
    )
    max_array_size: int = Field(1000, ge=1, le=4_000_000, description="Slurm's MaxArraySize")
    poll_seconds: float = Field(2.0, gt=0, le=600, description="one squeue for all jobs this often")


class ClusterCreate(Strict):
    name: Annotated[str, Field(pattern=NAME)]
    description: str = Field("", max_length=2000)
    executor: Annotated[str, Field(pattern=NAME)] = "local"
    slurm: SlurmSettings | None = None


class ClusterUpdate(Strict):
    enabled: bool | None = None
    description: str | None = Field(None, max_length=2000)
    slurm: SlurmSettings | None = None


class Partition(BaseModel):
    """One row of the partition table, from ``sinfo``."""

    name: str
    state: str
    default: bool = False
    nodes_total: int = 0
    nodes_idle: int = 0
    cpus_total: int = 0
    cpus_idle: int = 0
    gpus_total: int = 0
    gpus_idle: int = 0
    time_limit: str = ""


class Cluster(BaseModel):
    id: int
    name: str
    description: str
    executor: str
    enabled: bool
    created_at: datetime
    last_heartbeat: datetime | None = None
    status: dict[str, Any] = {}
    slurm: SlurmSettings | None = None
    partitions: list[Partition] = []


class AgentKey(BaseModel):
    id: int
    prefix: str
    created_at: datetime
    revoked_at: datetime | None = None
    #: A rotated key works until then.
    expires_at: datetime | None = None


class AgentKeyIssued(AgentKey):
    key: str = Field(description="shown once; store it in the agent's configuration")


#: How far back a cluster's load is kept, and so may be asked for.
MAX_LOAD_HOURS = 30 * 24
#: At most this many periods (and one, where the window starts mid-period) per agent.
LOAD_POINTS = 240


class LoadPoint(BaseModel):
    """One agent's load over one period: the means of its samples then."""

    at: datetime = Field(description="the start of the period")
    cores: int
    running: float = Field(description="calculations running, on average")
    cpu_percent: float
    load1: float = Field(description="the one-minute load average")
    memory_total: int = Field(description="bytes")
    memory_used: int = Field(description="bytes, total less available")


class AgentLoad(BaseModel):
    agent: str
    points: list[LoadPoint]


class ClusterLoad(BaseModel):
    """A cluster's load over a window: one series per agent, at most ``LOAD_POINTS`` + 1 points each."""

    cluster: str
    since: datetime
    until: datetime
    step_seconds: int = Field(description="the length of each point's period")
    agents: list[AgentLoad]
