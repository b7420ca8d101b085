"""Heartbeats kept as samples, for graphs of a cluster's load over time.

An agent beats every few seconds; a sample is written only when its agent's last one is
``STEP`` old, so the table grows by at most one row per agent per 30 s, whatever the beat.
Samples are kept as they came for ``FULL_RATE`` (48 h). Past that, each agent's samples
of one ``PERIOD`` (10 minutes, aligned to the clock) are merged into one ``coarse`` sample,
their mean; coarse samples are deleted after ``KEEP`` (30 days). So an agent holds at most
about 5,800 fine and 4,000 coarse rows.

Thinning runs in the transaction that writes a sample, on every agent's samples at once:
one indexed look for fine samples of whole periods older than 48 h (nothing, except once a
period per agent), and one indexed delete of what is past 30 days. It works in batches, so
a server back after a long stop catches up over a few samples instead of in one long
transaction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from calchub.contracts import agents as wire
from calchub.contracts import clusters as cluster_wire
from calchub.server.db.tables import Cluster, now
from calchub.server.repositories import heartbeats as repo
from calchub.server.services.unit import wake

STEP = timedelta(seconds=30)
FULL_RATE = timedelta(hours=48)
PERIOD = timedelta(minutes=10)
KEEP = timedelta(days=30)
#: Fine samples merged in one transaction at most (an agent has at most 20 in a period).
BATCH = 5000
#: Woken after a transaction that wrote a sample: ``load`` for any cluster, ``load:<name>`` for one.
LOAD = "load"


def record(session: Session, cluster: Cluster, beat: wire.Heartbeat, at: datetime) -> bool:
    """Keep what ``beat`` says of its machine, if the agent's last sample is ``STEP`` old.

    True when a sample was written (and thinning ran); an early beat writes nothing.
    """
    last = repo.latest_at(session, cluster.id, beat.agent)
    if last is not None and abs(at - last) < STEP:
        return False
    repo.add(
        session,
        {
            "cluster_id": cluster.id,
            "agent": beat.agent,
            "at": at,
            "cores": beat.cores,
            "running": beat.running,
            "cpu_percent": beat.cpu_percent,
            "load1": beat.load_avg[0] if beat.load_avg else 0.0,
            "memory_total": beat.memory_total,
            "memory_available": beat.memory_available,
            "coarse": False,
        },
    )
    thin(session, at)
    wake(session, LOAD, f"{LOAD}:{cluster.name}")
    return True


def thin(session: Session, at: datetime) -> None:
    """Merge the fine samples of whole periods older than ``FULL_RATE``; delete those past ``KEEP``."""
    rows = repo.fine_before(session, floor_time(at - FULL_RATE, PERIOD), BATCH)
    kept, dropped = merge(rows, complete=len(rows) < BATCH)
    repo.replace(session, kept, dropped)
    repo.delete_before(session, at - KEEP)


def merge(rows: Sequence[Any], complete: bool = True) -> tuple[list[dict[str, Any]], list[int]]:
    """Each agent's samples of one period as one: the first (by time) carries the means, marked
    coarse; the others' ids are to be deleted. Rows have ``id, cluster_id, agent, at`` and the
    measures of ``repositories.heartbeats.MEASURES``, in the order of ``fine_before``.

    Unless ``complete``, the last group may go on past ``rows`` (a full batch): it is left
    whole for the next time, so a period is never merged into two samples.
    """
    groups: dict[tuple[int, str, datetime], list[Any]] = {}
    for row in rows:
        groups.setdefault((row.cluster_id, row.agent, floor_time(row.at, PERIOD)), []).append(row)
    chosen = list(groups.values())
    if not complete and len(chosen) > 1:
        chosen.pop()
    kept: list[dict[str, Any]] = []
    dropped: list[int] = []
    for group in chosen:
        kept.append({"id": group[0].id, "coarse": True, **_means(group)})
        dropped.extend(r.id for r in group[1:])
    return kept, dropped


def _means(group: Sequence[Any]) -> dict[str, Any]:
    n = len(group)
    return {
        "cores": max(r.cores for r in group),
        "running": round(sum(r.running for r in group) / n),
        "cpu_percent": sum(r.cpu_percent for r in group) / n,
        "load1": sum(r.load1 for r in group) / n,
        "memory_total": max(r.memory_total for r in group),
        "memory_available": round(sum(r.memory_available for r in group) / n),
    }


def floor_time(at: datetime, period: timedelta) -> datetime:
    """The start of the clock-aligned ``period`` that holds ``at``."""
    seconds = int(period.total_seconds())
    stamp = math.floor(at.timestamp())
    return datetime.fromtimestamp(stamp - stamp % seconds, UTC)


# -- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """What a graph asks for: the last ``hours``, ending ``until``, in ``LOAD_POINTS`` periods."""

    since: datetime
    until: datetime
    width: int

    @classmethod
    def last(
        cls, hours: float, until: datetime | None = None, points: int = cluster_wire.LOAD_POINTS
    ) -> Window:
        end = until or now()
        span = timedelta(hours=hours)
        width = max(int(STEP.total_seconds()), math.ceil(span.total_seconds() / points))
        return cls(end - span, end, width)


def load(session: Session, cluster: Cluster, window: Window) -> cluster_wire.ClusterLoad:
    return loads(session, [cluster], window)[cluster.id]


def loads(
    session: Session, clusters: Sequence[Cluster], window: Window
) -> dict[int, cluster_wire.ClusterLoad]:
    """The load of each cluster over ``window``, by cluster id, read in one query."""
    rows = repo.series(session, [c.id for c in clusters], window.since, window.until, window.width)
    series: dict[int, dict[str, list[cluster_wire.LoadPoint]]] = {c.id: {} for c in clusters}
    for row in rows:
        series[row.cluster_id].setdefault(row.agent, []).append(_point(row, window.width))
    return {
        c.id: cluster_wire.ClusterLoad(
            cluster=c.name,
            since=window.since,
            until=window.until,
            step_seconds=window.width,
            agents=[cluster_wire.AgentLoad(agent=a, points=p) for a, p in sorted(series[c.id].items())],
        )
        for c in clusters
    }


def _point(row: Any, width: int) -> cluster_wire.LoadPoint:
    return cluster_wire.LoadPoint(
        at=datetime.fromtimestamp(int(row.period) * width, UTC),
        cores=int(row.cores or 0),
        running=round(float(row.running or 0), 3),
        cpu_percent=round(float(row.cpu_percent or 0), 2),
        load1=round(float(row.load1 or 0), 3),
        memory_total=int(row.memory_total or 0),
        memory_used=int(row.memory_used or 0),
    )
