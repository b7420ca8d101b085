"""/clusters: register, list, enable or disable, and agent keys."""

from __future__ import annotations

from fastapi import APIRouter, status

from calchub.contracts import clusters as wire
from calchub.server.api.deps import CurrentUser, HubDep
from calchub.server.services import clusters

router = APIRouter(prefix="/clusters", tags=["clusters"])


@router.post("", response_model=wire.Cluster, status_code=status.HTTP_201_CREATED)
def register(hub: HubDep, user: CurrentUser, body: wire.ClusterCreate) -> wire.Cluster:
    with hub.uow() as session:
        return clusters.register(session, user, body)


@router.get("", response_model=list[wire.Cluster])
def list_(hub: HubDep, user: CurrentUser) -> list[wire.Cluster]:
    with hub.uow() as session:
        return [clusters.to_wire(c) for c in clusters.all_clusters(session)]


@router.get("/{name}", response_model=wire.Cluster)
def show(hub: HubDep, user: CurrentUser, name: str) -> wire.Cluster:
    with hub.uow() as session:
        return clusters.to_wire(clusters.named(session, name))


@router.patch("/{name}", response_model=wire.Cluster)
def update(hub: HubDep, user: CurrentUser, name: str, body: wire.ClusterUpdate) -> wire.Cluster:
    with hub.uow() as session:
        updated = clusters.update(session, user, name, body)
    hub.callers.clear()  # agents of this cluster carry its enabled flag
    return updated


@router.post("/{name}/keys", response_model=wire.AgentKeyIssued, status_code=status.HTTP_201_CREATED)
def issue_key(hub: HubDep, user: CurrentUser, name: str) -> wire.AgentKeyIssued:
    with hub.uow() as session:
        return clusters.issue_key(session, user, name)


@router.get("/{name}/keys", response_model=list[wire.AgentKey])
def keys(hub: HubDep, user: CurrentUser, name: str) -> list[wire.AgentKey]:
    with hub.uow() as session:
        return clusters.keys(session, user, name)


@router.delete("/{name}/keys/{key_id}", response_model=wire.AgentKey)
def revoke_key(hub: HubDep, user: CurrentUser, name: str, key_id: int) -> wire.AgentKey:
    with hub.uow() as session:
        revoked = clusters.revoke_key(session, user, name, key_id)
    hub.callers.clear()
    return revoked
