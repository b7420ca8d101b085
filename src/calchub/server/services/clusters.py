"""Registering clusters, switching them on and off, and their agent keys."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from calchub.contracts import clusters as wire
from calchub.contracts.activity import Level
from calchub.contracts.calculations import Resources
from calchub.server.db.tables import AgentKey, Cluster, now
from calchub.server.repositories import clusters as repo
from calchub.server.services import activity
from calchub.server.services.auth import issue_agent_key
from calchub.server.services.errors import Conflict, Invalid, NotFound
from calchub.server.services.unit import CALLERS, wake


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
    return wire.AgentKey(
        id=key.id,
        prefix=key.prefix,
        created_at=key.created_at,
        revoked_at=key.revoked_at,
        expires_at=key.expires_at,
    )


def all_clusters(session: Session) -> list[Cluster]:
    return repo.all_clusters(session)


def named(session: Session, name: str) -> Cluster:
    cluster = repo.by_name(session, name)
    if cluster is None:
        raise NotFound(f"no cluster named {name!r}")
    return cluster


def register(session: Session, request: wire.ClusterCreate, *, actor: str) -> wire.Cluster:
    if repo.by_name(session, request.name) is not None:
        raise Conflict(f"a cluster named {request.name!r} exists already", "name")
    settings = {"slurm": request.slurm.model_dump()} if request.slurm is not None else {}
    cluster = repo.add(
        session,
        Cluster(
            name=request.name, description=request.description, executor=request.executor, settings=settings
        ),
    )
    message = f"cluster {cluster.name} registered ({cluster.executor}) by {_who(actor)}"
    activity.record(session, "cluster.registered", message, cluster=cluster, actor=actor)
    return to_wire(cluster)


def update(session: Session, name: str, request: wire.ClusterUpdate, *, actor: str) -> wire.Cluster:
    cluster = named(session, name)
    if request.enabled is not None and request.enabled != cluster.enabled:
        cluster.enabled = request.enabled
        wake(session, CALLERS)  # agents of this cluster carry its enabled flag
        switched = "enabled" if request.enabled else "disabled"
        level: Level = "info" if request.enabled else "warning"
        message = f"cluster {name} {switched} by {_who(actor)}"
        activity.record(session, f"cluster.{switched}", message, level=level, cluster=cluster, actor=actor)
    changed = []
    if request.description is not None and request.description != cluster.description:
        cluster.description = request.description
        changed.append("description")
    if request.slurm is not None:
        cluster.settings = {**(cluster.settings or {}), "slurm": request.slurm.model_dump()}
        changed.append("slurm")
    if changed:
        message = f"cluster {name}: {' and '.join(changed)} changed by {_who(actor)}"
        activity.record(
            session, "cluster.changed", message, cluster=cluster, actor=actor, data={"changed": changed}
        )
    session.flush()
    return to_wire(cluster)


def issue_key(session: Session, name: str, *, actor: str) -> wire.AgentKeyIssued:
    cluster = named(session, name)
    issued = _issue(session, cluster)
    message = f"cluster {name}: agent key {issued.id} ({issued.prefix}...) created by {_who(actor)}"
    activity.record(session, "key.created", message, cluster=cluster, actor=actor)
    return issued


def _issue(session: Session, cluster: Cluster) -> wire.AgentKeyIssued:
    key, secret = issue_agent_key(session, cluster.id)
    return wire.AgentKeyIssued(**key_to_wire(key).model_dump(), key=secret)


def keys(session: Session, name: str) -> list[wire.AgentKey]:
    return [key_to_wire(k) for k in repo.keys_of(session, named(session, name).id)]


def _key(session: Session, name: str, key_id: int) -> AgentKey:
    key = repo.key_of(session, named(session, name).id, key_id)
    if key is None:
        raise NotFound(f"cluster {name!r} has no key {key_id}")
    return key


def revoke_key(session: Session, name: str, key_id: int, *, actor: str) -> wire.AgentKey:
    key = _key(session, name, key_id)
    if key.revoked_at is None:
        key.revoked_at = now()
        wake(session, CALLERS)
        message = f"cluster {name}: agent key {key.id} ({key.prefix}...) revoked by {_who(actor)}"
        activity.record(session, "key.revoked", message, level="warning", cluster=key.cluster_id, actor=actor)
        session.flush()
    return key_to_wire(key)


def rotate_key(
    session: Session, name: str, key_id: int, grace_minutes: int, *, actor: str
) -> wire.AgentKeyIssued:
    """A new key; the old one works ``grace_minutes`` longer, so its agent can be switched over."""
    old = _key(session, name, key_id)
    if old.revoked_at is not None or (old.expires_at is not None and old.expires_at < now()):
        raise Conflict(f"key {key_id} of cluster {name!r} no longer works; issue a new key instead")
    ending = now() + timedelta(minutes=grace_minutes)
    old.expires_at = ending if old.expires_at is None else min(old.expires_at, ending)
    if grace_minutes == 0:
        old.revoked_at = now()
    wake(session, CALLERS)
    issued = _issue(session, named(session, name))
    until = "at once" if grace_minutes == 0 else f"in {grace_minutes} minutes"
    message = (
        f"cluster {name}: agent key {key_id} rotated by {_who(actor)}, replaced by key {issued.id}; "
        f"the old one stops {until}"
    )
    data = {"old": key_id, "new": issued.id, "grace_minutes": grace_minutes}
    activity.record(session, "key.rotated", message, cluster=old.cluster_id, actor=actor, data=data)
    return issued


def _who(actor: str) -> str:
    """``user:alice`` as a sentence says it: alice."""
    return actor.removeprefix("user:")


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
