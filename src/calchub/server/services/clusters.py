"""Registering clusters, switching them on and off, and their agent keys."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from calchub.contracts import clusters as wire
from calchub.contracts.calculations import Resources
from calchub.server.db.tables import AgentKey, Cluster, now
from calchub.server.repositories import clusters as repo
from calchub.server.services.auth import AGENT_PREFIX, Caller, digest, new_secret
from calchub.server.services.errors import Conflict, Forbidden, Invalid, NotFound


def _admin(caller: Caller, what: str) -> None:
    if not caller.is_admin:
        raise Forbidden(f"only an admin can {what}")


def to_wire(cluster: Cluster) -> wire.Cluster:
    slurm = (cluster.settings or {}).get("slurm")
    return wire.Cluster(
        id=cluster.id,
        name=cluster.name,
        description=cluster.description,
        executor=cluster.executor,
        enabled=cluster.enabled,
        created_at=cluster.created_at,
        last_heartbeat=cluster.last_heartbeat,
        status=cluster.status,
        slurm=wire.SlurmSettings.model_validate(slurm) if slurm is not None else None,
        partitions=latest_agent(cluster).get("partitions", []),
    )


def latest_agent(cluster: Cluster) -> dict[str, Any]:
    """The status the most recent heartbeat of any of the cluster's agents brought."""
    agents = list((cluster.status or {}).get("agents", {}).values())
    return max(agents, key=lambda a: str(a.get("at", "")), default={})


def key_to_wire(key: AgentKey) -> wire.AgentKey:
    return wire.AgentKey(id=key.id, prefix=key.prefix, created_at=key.created_at, revoked_at=key.revoked_at)


def all_clusters(session: Session) -> list[Cluster]:
    return repo.all_clusters(session)


def named(session: Session, name: str) -> Cluster:
    cluster = repo.by_name(session, name)
    if cluster is None:
        raise NotFound(f"no cluster named {name!r}")
    return cluster


def register(session: Session, caller: Caller, request: wire.ClusterCreate) -> wire.Cluster:
    _admin(caller, "register a cluster")
    if repo.by_name(session, request.name) is not None:
        raise Conflict(f"a cluster named {request.name!r} exists already", "name")
    settings = {"slurm": request.slurm.model_dump()} if request.slurm is not None else {}
    cluster = repo.add(
        session,
        Cluster(
            name=request.name, description=request.description, executor=request.executor, settings=settings
        ),
    )
    return to_wire(cluster)


def update(session: Session, caller: Caller, name: str, request: wire.ClusterUpdate) -> wire.Cluster:
    _admin(caller, "change a cluster")
    cluster = named(session, name)
    if request.enabled is not None:
        cluster.enabled = request.enabled
    if request.description is not None:
        cluster.description = request.description
    if request.slurm is not None:
        cluster.settings = {**(cluster.settings or {}), "slurm": request.slurm.model_dump()}
    session.flush()
    return to_wire(cluster)


def issue_key(session: Session, caller: Caller, name: str) -> wire.AgentKeyIssued:
    _admin(caller, "issue agent keys")
    cluster = named(session, name)
    secret = new_secret(AGENT_PREFIX)
    key = repo.add_key(session, AgentKey(cluster_id=cluster.id, prefix=secret[:10], key_hash=digest(secret)))
    return wire.AgentKeyIssued(**key_to_wire(key).model_dump(), key=secret)


def keys(session: Session, caller: Caller, name: str) -> list[wire.AgentKey]:
    _admin(caller, "list agent keys")
    return [key_to_wire(k) for k in repo.keys_of(session, named(session, name).id)]


def revoke_key(session: Session, caller: Caller, name: str, key_id: int) -> wire.AgentKey:
    _admin(caller, "revoke agent keys")
    key = repo.key_of(session, named(session, name).id, key_id)
    if key is None:
        raise NotFound(f"cluster {name!r} has no key {key_id}")
    if key.revoked_at is None:
        key.revoked_at = now()
        session.flush()
    return key_to_wire(key)


def settings_of(cluster: Cluster) -> wire.SlurmSettings:
    return wire.SlurmSettings.model_validate((cluster.settings or {}).get("slurm") or {})


def check_partition(cluster: Cluster, resources: Resources, where: str = "") -> None:
    """A partition the cluster's admin did not open to users is refused at submit."""
    allowed = settings_of(cluster).partitions
    if resources.partition and allowed and resources.partition not in allowed:
        raise Invalid(
            f"cluster {cluster.name!r} offers partitions {', '.join(allowed)}, not {resources.partition!r}",
            f"{where}resources.partition",
        )
