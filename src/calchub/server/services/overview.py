"""What the dashboard and the cluster pages show: clusters and their load, counts by state, recent
and running work.

Each thing is one query whatever the number of rows: the clusters (their agents' last
heartbeats are in ``clusters.status``), the load of every cluster (grouped in the database,
see ``services.heartbeats``), the counts by state, and a page of calculations each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from calchub.contracts import calculations as wire
from calchub.contracts.clusters import Cluster, ClusterLoad, Partition, SlurmSettings
from calchub.domain.states import HELD, State
from calchub.server.db import tables
from calchub.server.repositories import calculations as repo
from calchub.server.services import calculation_lists, clusters, heartbeats
from calchub.server.services.auth import Caller

#: The window of the dashboard's small graphs, and the most points each has.
DASHBOARD_HOURS = 6.0
DASHBOARD_POINTS = 120


@dataclass
class AgentStatus:
    """One agent of a cluster as its last heartbeat told."""

    name: str
    at: datetime | None
    live: bool
    host: str = ""
    version: str = ""
    executor: str = ""
    cores: int = 0
    running: int = 0
    cpu_percent: float = 0.0
    memory_total: int = 0
    memory_available: int = 0

    @property
    def memory_used(self) -> int:
        return max(0, self.memory_total - self.memory_available)


@dataclass
class ClusterSummary:
    """A cluster with what its agents say: ``state`` is disabled, online, offline or never seen."""

    cluster: Cluster
    state: str
    agents: list[AgentStatus] = field(default_factory=list)

    @property
    def live(self) -> list[AgentStatus]:
        return [a for a in self.agents if a.live]

    @property
    def busy(self) -> int:
        return sum(a.running for a in self.live)

    @property
    def cores(self) -> int:
        return sum(a.cores for a in self.live)


def summarize(cluster: tables.Cluster, at: datetime, stale_after: timedelta) -> ClusterSummary:
    """An agent is live while its last heartbeat is younger than ``stale_after`` (a lease)."""
    agents = [
        _agent(name, status, at, stale_after)
        for name, status in sorted((cluster.status or {}).get("agents", {}).items())
    ]
    if not cluster.enabled:
        state = "disabled"
    elif cluster.last_heartbeat is None:
        state = "never seen"
    else:
        state = "online" if any(a.live for a in agents) else "offline"
    return ClusterSummary(clusters.to_wire(cluster), state, agents)


def _agent(name: str, status: dict[str, Any], at: datetime, stale_after: timedelta) -> AgentStatus:
    try:
        seen: datetime | None = datetime.fromisoformat(str(status.get("at")))
    except ValueError:
        seen = None
    return AgentStatus(
        name=name,
        at=seen,
        live=seen is not None and at - seen < stale_after,
        host=str(status.get("host", "")),
        version=str(status.get("version", "")),
        executor=str(status.get("executor", "")),
        cores=int(status.get("cores", 0)),
        running=int(status.get("running", 0)),
        cpu_percent=float(status.get("cpu_percent", 0.0)),
        memory_total=int(status.get("memory_total", 0)),
        memory_available=int(status.get("memory_available", 0)),
    )


def cluster_summaries(session: Session, stale_after: timedelta) -> list[ClusterSummary]:
    return summaries_of(clusters.all_clusters(session), stale_after)


def summaries_of(found: list[tables.Cluster], stale_after: timedelta) -> list[ClusterSummary]:
    at = tables.now()
    return [summarize(c, at, stale_after) for c in found]


@dataclass
class Overview:
    clusters: list[ClusterSummary]
    #: Each cluster's load over the dashboard's window, by name.
    loads: dict[str, ClusterLoad]
    counts: dict[str, int]
    recent: list[wire.Calculation]
    mine_running: list[wire.Calculation]


def overview(session: Session, caller: Caller, stale_after: timedelta, recent: int = 10) -> Overview:
    visible = None if caller.sees_all else sorted(caller.projects)
    found = clusters.all_clusters(session)
    mine = repo.ListQuery(owner_id=caller.id, states=[s.value for s in HELD], limit=recent)
    return Overview(
        clusters=summaries_of(found, stale_after),
        loads=all_loads(session, found, DASHBOARD_HOURS, DASHBOARD_POINTS),
        counts={s.value: n for s, n in _counts(session, visible).items()},
        recent=calculation_lists.search(session, caller, repo.ListQuery(limit=recent)).items,
        mine_running=calculation_lists.search(session, caller, mine).items,
    )


def all_loads(
    session: Session, found: list[tables.Cluster], hours: float, points: int
) -> dict[str, ClusterLoad]:
    window = heartbeats.Window.last(hours, points=points)
    by_id = heartbeats.loads(session, found, window)
    return {c.name: by_id[c.id] for c in found}


def _counts(session: Session, visible: list[int] | None) -> dict[State, int]:
    found = repo.state_counts(session, visible)
    return {state: found.get(state.value, 0) for state in State}


# -- one cluster ------------------------------------------------------------------------------


@dataclass
class PartitionRow:
    """A partition as users see it: offered to them or not (the Slurm settings), and its state
    (the ``sinfo`` table the agents send); ``reported`` is None for one no agent has seen."""

    name: str
    offered: bool
    default: bool
    reported: Partition | None


@dataclass
class ClusterDetail:
    summary: ClusterSummary
    slurm: SlurmSettings | None
    partitions: list[PartitionRow]
    load: ClusterLoad


def cluster_detail(session: Session, name: str, stale_after: timedelta, hours: float) -> ClusterDetail:
    row = clusters.named(session, name)
    summary = summarize(row, tables.now(), stale_after)
    load = heartbeats.load(session, row, heartbeats.Window.last(hours))
    slurm = summary.cluster.slurm
    return ClusterDetail(summary, slurm, partition_rows(slurm, summary.cluster.partitions), load)


def partition_rows(slurm: SlurmSettings | None, reported: list[Partition]) -> list[PartitionRow]:
    """The settings' partitions first, in their order, then those only the agents report.

    With no partitions in the settings, users may choose any partition Slurm has.
    """
    listed = slurm.partitions if slurm else []
    seen = {p.name: p for p in reported}
    default = slurm.default_partition if slurm else None
    names = [*listed, *(p.name for p in reported if p.name not in listed)]
    return [
        PartitionRow(
            name=n,
            offered=not listed or n in listed,
            default=n == default or (default is None and seen.get(n) is not None and seen[n].default),
            reported=seen.get(n),
        )
        for n in names
    ]
