"""Heartbeat samples: an agent's latest, the fine ones due for thinning, and a series in periods."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Row, delete, func, insert, literal_column, select, update
from sqlalchemy.orm import Session

from calchub.server.db.functions import epoch
from calchub.server.db.tables import HeartbeatSample

#: What thinning reads and writes of a sample.
MEASURES = ("cores", "running", "cpu_percent", "load1", "memory_total", "memory_available")


def latest_at(session: Session, cluster_id: int, agent: str) -> datetime | None:
    """When the agent's newest sample was taken (one look in ``ix_heartbeat_samples_agent_at``)."""
    stmt = select(func.max(HeartbeatSample.at)).where(
        HeartbeatSample.cluster_id == cluster_id, HeartbeatSample.agent == agent
    )
    found: datetime | None = session.scalar(stmt)
    return found


def add(session: Session, values: dict[str, Any]) -> None:
    session.execute(insert(HeartbeatSample).values(**values))


def fine_before(session: Session, before: datetime, limit: int) -> Sequence[Row[Any]]:
    """Samples not yet thinned that were taken before ``before``, by cluster, agent and time.

    Locked, skipping those another transaction holds, so two servers thinning at once
    never merge the same rows (SQLite has one writer at a time and needs no lock).
    """
    columns = [getattr(HeartbeatSample, c) for c in ("id", "cluster_id", "agent", "at", *MEASURES)]
    stmt = (
        select(*columns)
        .where(HeartbeatSample.coarse.is_(False), HeartbeatSample.at < before)
        .order_by(HeartbeatSample.cluster_id, HeartbeatSample.agent, HeartbeatSample.at, HeartbeatSample.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return session.execute(stmt).all()


def replace(session: Session, kept: list[dict[str, Any]], dropped: list[int]) -> None:
    """Write the merged samples over the first of each period (by id) and delete the rest."""
    if kept:
        session.execute(update(HeartbeatSample), kept)
    if dropped:
        session.execute(delete(HeartbeatSample).where(HeartbeatSample.id.in_(dropped)))


def delete_before(session: Session, before: datetime) -> int:
    """Drop the thinned samples taken before ``before`` (a range of ``ix_heartbeat_samples_coarse_at``)."""
    result = session.execute(
        delete(HeartbeatSample).where(HeartbeatSample.coarse.is_(True), HeartbeatSample.at < before)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def series(
    session: Session, cluster_ids: Sequence[int], since: datetime, until: datetime, width: int
) -> Sequence[Row[Any]]:
    """Per cluster, agent and period of ``width`` seconds (aligned to 1970): the means in it.

    One query, grouped in the database, so a long window costs no more rows than points.
    """
    if not cluster_ids:
        return []
    s = HeartbeatSample
    period = (epoch(s.at) // literal_column(str(int(width)), Integer)).label("period")
    stmt = (
        select(
            s.cluster_id,
            s.agent,
            period,
            func.max(s.cores).label("cores"),
            func.avg(s.running).label("running"),
            func.avg(s.cpu_percent).label("cpu_percent"),
            func.avg(s.load1).label("load1"),
            func.max(s.memory_total).label("memory_total"),
            func.avg(s.memory_total - s.memory_available).label("memory_used"),
        )
        .where(s.cluster_id.in_(cluster_ids), s.at >= since, s.at <= until)
        .group_by(s.cluster_id, s.agent, period)
        .order_by(s.cluster_id, s.agent, period)
    )
    return session.execute(stmt).all()


def count(session: Session, cluster_id: int | None = None) -> int:
    stmt = select(func.count()).select_from(HeartbeatSample)
    if cluster_id is not None:
        stmt = stmt.where(HeartbeatSample.cluster_id == cluster_id)
    return int(session.scalar(stmt) or 0)
