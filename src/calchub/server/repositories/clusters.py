"""Clusters and their agent keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from calchub.server.db.tables import AgentKey, Cluster


def by_name(session: Session, name: str) -> Cluster | None:
    return session.scalar(select(Cluster).where(Cluster.name == name))


def by_ids(session: Session, ids: set[int]) -> dict[int, Cluster]:
    if not ids:
        return {}
    return {c.id: c for c in session.scalars(select(Cluster).where(Cluster.id.in_(ids)))}


def all_clusters(session: Session) -> list[Cluster]:
    return list(session.scalars(select(Cluster).order_by(Cluster.name)))


def add(session: Session, cluster: Cluster) -> Cluster:
    session.add(cluster)
    session.flush()
    return cluster


def add_key(session: Session, key: AgentKey) -> AgentKey:
    session.add(key)
    session.flush()
    return key


def keys_of(session: Session, cluster_id: int) -> list[AgentKey]:
    return list(
        session.scalars(select(AgentKey).where(AgentKey.cluster_id == cluster_id).order_by(AgentKey.id))
    )


def key_of(session: Session, cluster_id: int, key_id: int) -> AgentKey | None:
    return session.scalar(select(AgentKey).where(AgentKey.cluster_id == cluster_id, AgentKey.id == key_id))


def key_by_hash(session: Session, key_hash: str) -> tuple[AgentKey, Cluster] | None:
    row = session.execute(
        select(AgentKey, Cluster).join(Cluster).where(AgentKey.key_hash == key_hash)
    ).first()
    return (row[0], row[1]) if row else None


def record_heartbeat(
    session: Session, cluster: Cluster, agent: str, status: dict[str, Any], at: datetime
) -> None:
    agents = dict(cluster.status.get("agents", {}))
    agents[agent] = status
    cluster.status = {**cluster.status, "agents": agents}
    cluster.last_heartbeat = at
    session.flush()
