"""/clusters: register, list, enable or disable, agent keys (create, rotate, revoke), load over time."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from calchub.contracts import clusters as wire
from calchub.server.api.deps import ClusterAdmin, ClusterReader, HubDep, RecordId
from calchub.server.services import clusters, heartbeats

router = APIRouter(prefix="/clusters", tags=["clusters"])


@router.post("", response_model=wire.Cluster, status_code=status.HTTP_201_CREATED)
def register(hub: HubDep, user: ClusterAdmin, body: wire.ClusterCreate) -> wire.Cluster:
    with hub.uow() as session:
        return clusters.register(session, body, actor=user.actor)


@router.get("", response_model=list[wire.Cluster])
def list_(hub: HubDep, user: ClusterReader) -> list[wire.Cluster]:
    with hub.uow() as session:
        return [clusters.to_wire(c) for c in clusters.all_clusters(session)]


@router.get("/{name}", response_model=wire.Cluster)
def show(hub: HubDep, user: ClusterReader, name: str) -> wire.Cluster:
    with hub.uow() as session:
        return clusters.to_wire(clusters.named(session, name))


@router.get("/{name}/load", response_model=wire.ClusterLoad)
def load(
    hub: HubDep,
    user: ClusterReader,
    name: str,
    hours: Annotated[float, Query(gt=0, le=wire.MAX_LOAD_HOURS, description="the window, ending now")] = 6.0,
) -> wire.ClusterLoad:
    """The cluster's load from its agents' heartbeats: per agent, CPU %, memory, running and
    cores over the last ``hours``, in at most 240 periods (means of the samples in each)."""
    with hub.uow() as session:
        return heartbeats.load(session, clusters.named(session, name), heartbeats.Window.last(hours))


@router.patch("/{name}", response_model=wire.Cluster)
def update(hub: HubDep, user: ClusterAdmin, name: str, body: wire.ClusterUpdate) -> wire.Cluster:
    with hub.uow() as session:
        return clusters.update(session, name, body, actor=user.actor)


@router.post("/{name}/keys", response_model=wire.AgentKeyIssued, status_code=status.HTTP_201_CREATED)
def issue_key(hub: HubDep, user: ClusterAdmin, name: str) -> wire.AgentKeyIssued:
    with hub.uow() as session:
        return clusters.issue_key(session, name, actor=user.actor)


@router.get("/{name}/keys", response_model=list[wire.AgentKey])
def keys(hub: HubDep, user: ClusterAdmin, name: str) -> list[wire.AgentKey]:
    with hub.uow() as session:
        return clusters.keys(session, name)


@router.post(
    "/{name}/keys/{key_id}/rotate", response_model=wire.AgentKeyIssued, status_code=status.HTTP_201_CREATED
)
def rotate_key(
    hub: HubDep,
    user: ClusterAdmin,
    name: str,
    key_id: RecordId,
    grace_minutes: Annotated[int, Query(ge=0, le=7 * 24 * 60, description="the old key works this long")] = 0,
) -> wire.AgentKeyIssued:
    """A new key for the cluster; the old one stops at once, or after ``grace_minutes``."""
    with hub.uow() as session:
        return clusters.rotate_key(session, name, key_id, grace_minutes, actor=user.actor)


@router.delete("/{name}/keys/{key_id}", response_model=wire.AgentKey)
def revoke_key(hub: HubDep, user: ClusterAdmin, name: str, key_id: RecordId) -> wire.AgentKey:
    with hub.uow() as session:
        return clusters.revoke_key(session, name, key_id, actor=user.actor)
