"""Submitting, finding, cancelling and deleting calculations."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import Any, Protocol

from sqlalchemy.orm import Session

import calchub
from calchub.calctypes.registry import Registry
from calchub.contracts import calculations as wire
from calchub.domain.states import CANCELLABLE, TERMINAL, State
from calchub.server.db.tables import Calculation, CalculationFile, Cluster, now
from calchub.server.repositories import calculations as repo
from calchub.server.repositories import clusters as cluster_repo
from calchub.server.repositories import users as user_repo
from calchub.server.services import calctypes, transitions
from calchub.server.services import clusters as cluster_service
from calchub.server.services.auth import Caller
from calchub.server.services.errors import Conflict, Invalid, NotFound
from calchub.server.storage import Store


def submit(
    session: Session,
    store: Store,
    caller: Caller,
    requests: Sequence[wire.CalculationCreate],
    registry: Registry,
) -> list[wire.Calculation]:
    """Create calculations, all or none: any bad one refuses the whole batch."""
    clusters = _clusters_for(session, {r.cluster for r in requests})
    # Check and render everything before any file is written: the store is not rolled back.
    many = len(requests) > 1
    plans = [
        calctypes.plan(registry, r, f"calculations[{i}]." if many else "") for i, r in enumerate(requests)
    ]
    _same_version_same_definition(session, plans)
    inputs = [p.files for p in plans]
    created_at = now()
    rows = [
        _new_row(caller, clusters[r.cluster], r, p, created_at) for r, p in zip(requests, plans, strict=True)
    ]
    ids = repo.insert_calculations(session, rows)
    calcs = [_unsaved(i, row) for i, row in zip(ids, rows, strict=True)]
    transitions.created(session, calcs, caller.actor, created_at)
    for calc_id, files in zip(ids, inputs, strict=True):
        _store_inputs(session, store, calc_id, files)
    names = {c.id: c.name for c in clusters.values()}
    return [to_wire(c, caller.username, names[c.cluster_id], []) for c in calcs]


def preview(
    session: Session, caller: Caller, request: wire.CalculationCreate, registry: Registry
) -> tuple[wire.Calculation, list[str], Cluster]:
    """What submitting ``request`` would create, without creating anything (``--dry-run``)."""
    cluster = _clusters_for(session, {request.cluster})[request.cluster]
    plan = calctypes.plan(registry, request)
    cluster_service.check_partition(cluster, plan.resources)
    row = _unsaved(0, _new_row(caller, cluster, request, plan, now()))
    return to_wire(row, caller.username, cluster.name, []), [path for path, _ in plan.files], cluster


def _unsaved(calc_id: int, row: dict[str, Any]) -> Any:
    """A new row as ``to_wire`` reads it, before (or without) loading it back."""
    return SimpleNamespace(id=calc_id, exit_code=None, message=None, started_at=None, finished_at=None, **row)


def _same_version_same_definition(session: Session, plans: Sequence[calctypes.Plan]) -> None:
    """A type whose definition changed must say so with a new version, or results would mix."""
    seen = {
        (p.typed["calctype"], p.typed["calctype_version"], p.typed["calctype_digest"])
        for p in plans
        if p.typed
    }
    for name, version, digest in sorted(seen):
        other = repo.digest_in_use(session, name, version, digest)
        if other is not None:
            raise Conflict(
                f"calculation type {name!r} changed since calculation {other} ran its version {version}; "
                "bump the type's version so the two can be told apart",
                "type",
            )


def _clusters_for(session: Session, names: set[str]) -> dict[str, Cluster]:
    found: dict[str, Cluster] = {}
    for name in sorted(names):
        cluster = cluster_repo.by_name(session, name)
        if cluster is None:
            raise NotFound(f"no cluster named {name!r}; `calchub cluster ls` lists them", "cluster")
        if not cluster.enabled:
            raise Conflict(f"cluster {name!r} is disabled; an admin can enable it again", "cluster")
        found[name] = cluster
    return found


def _new_row(
    caller: Caller, cluster: Cluster, r: wire.CalculationCreate, plan: calctypes.Plan, at: datetime
) -> dict[str, Any]:
    return {
        "name": r.name,
        "owner_id": caller.id,
        "cluster_id": cluster.id,
        "state": State.QUEUED.value,
        "command": plan.command,
        "env": plan.env,
        "outputs": plan.outputs,
        "cores": plan.resources.cores,
        "gpus": plan.resources.gpus,
        "memory": plan.resources.memory,
        "walltime": plan.resources.walltime,
        "priority": r.priority,
        "attempt": 0,
        "max_attempts": r.max_attempts,
        "created_at": at,
        "updated_at": at,
        "provenance": {"command": plan.command, "calchub_version": calchub.__version__},
        "calctype": plan.typed.get("calctype"),
        "calctype_version": plan.typed.get("calctype_version"),
        "calctype_digest": plan.typed.get("calctype_digest"),
        "inputs": plan.typed.get("inputs"),
        "analyses": plan.typed.get("analyses"),
        "project": r.project,
        "study": r.study,
        "bytes_freed": None,
        "scheduler": plan.resources.scheduler_fields() or None,
    }


def _store_inputs(session: Session, store: Store, calc_id: int, files: list[tuple[str, bytes]]) -> None:
    for path, data in files:
        size, sha = store.put(calc_id, "input", path, data)
        session.add(
            CalculationFile(
                calculation_id=calc_id,
                attempt=0,
                kind="input",
                path=path,
                size=size,
                sha256=sha,
            )
        )


class CalculationRow(Protocol):
    """A calculation's columns: a loaded row, or one just inserted in bulk."""

    id: int
    name: str
    cluster_id: int
    state: str
    command: list[Any]
    env: dict[str, Any]
    outputs: list[Any]
    cores: int
    gpus: int
    memory: int | None
    walltime: int | None
    priority: int
    attempt: int
    max_attempts: int
    exit_code: int | None
    message: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    provenance: dict[str, Any]
    calctype: str | None
    calctype_version: str | None
    inputs: dict[str, Any] | None
    analyses: list[Any] | None
    project: str | None
    study: str | None
    bytes_freed: int | None
    scheduler: dict[str, Any] | None


def to_wire(calc: CalculationRow, owner: str, cluster: str, files: list[CalculationFile]) -> wire.Calculation:
    return wire.Calculation(
        id=calc.id,
        name=calc.name,
        owner=owner,
        cluster=cluster,
        state=State(calc.state),
        command=calc.command,
        env=calc.env,
        outputs=calc.outputs,
        resources=wire.Resources(
            cores=calc.cores,
            gpus=calc.gpus,
            memory=calc.memory,
            walltime=calc.walltime,
            **(calc.scheduler or {}),
        ),
        priority=calc.priority,
        attempt=calc.attempt,
        max_attempts=calc.max_attempts,
        exit_code=calc.exit_code,
        message=calc.message,
        created_at=calc.created_at,
        updated_at=calc.updated_at,
        started_at=calc.started_at,
        finished_at=calc.finished_at,
        provenance=wire.Provenance(**calc.provenance),
        files=[wire.FileInfo(path=f.path, kind=f.kind, size=f.size, sha256=f.sha256) for f in files],
        type=calc.calctype,
        type_version=calc.calctype_version,
        inputs=calc.inputs,
        analyses=calc.analyses,
        project=calc.project,
        study=calc.study,
        bytes_freed=calc.bytes_freed,
    )


def visible(session: Session, caller: Caller, calc_id: int) -> Calculation:
    """The calculation, if it exists and the caller may see it (404 either way, so ids don't leak)."""
    calc = repo.get(session, calc_id)
    if calc is None or not (caller.is_admin or calc.owner_id == caller.id):
        raise NotFound(f"no calculation {calc_id}")
    return calc


def describe(session: Session, caller: Caller, calc_id: int) -> wire.Calculation:
    calc = visible(session, caller, calc_id)
    return _describe(session, calc)


def _describe(session: Session, calc: Calculation) -> wire.Calculation:
    owner = user_repo.by_id(session, calc.owner_id)
    cluster = cluster_repo.by_ids(session, {calc.cluster_id})[calc.cluster_id]
    files = repo.files_of(session, [calc.id])[calc.id]
    return to_wire(calc, owner.username if owner else "?", cluster.name, files)


def encode_cursor(value: Any, last_id: int) -> str:
    if isinstance(value, datetime):
        value = {"t": value.isoformat()}
    return base64.urlsafe_b64encode(json.dumps([value, last_id]).encode()).decode()


def decode_cursor(cursor: str) -> tuple[Any, int]:
    try:
        value, last_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if isinstance(value, dict):
            value = datetime.fromisoformat(value["t"])
        return value, int(last_id)
    except (ValueError, TypeError, KeyError):
        raise Invalid("cursor is not one this server gave out; start again without it", "cursor") from None


_SORT_VALUE = {"id": "id", "created": "created_at", "priority": "priority", "name": "name"}


def search(
    session: Session, caller: Caller, query: repo.ListQuery, owner: str | None, cluster: str | None
) -> wire.CalculationPage:
    if owner is not None:
        user = user_repo.by_username(session, owner)
        if user is None:
            return wire.CalculationPage(items=[])
        if not caller.is_admin and user.id != caller.id:
            raise NotFound(f"you can only list your own calculations, not {owner!r}'s", "owner")
        query.owner_id = user.id
    elif not caller.is_admin:
        query.owner_id = caller.id
    if cluster is not None:
        found = cluster_repo.by_name(session, cluster)
        if found is None:
            raise NotFound(f"no cluster named {cluster!r}", "cluster")
        query.cluster_id = found.id
    rows = repo.search(session, query)
    files = repo.files_of(session, [c.id for c, _, _ in rows])
    items = [to_wire(c, o, cl, files[c.id]) for c, o, cl in rows]
    next_cursor = None
    if len(rows) == query.limit:
        last = rows[-1][0]
        next_cursor = encode_cursor(getattr(last, _SORT_VALUE[query.sort.lstrip("-")]), last.id)
    return wire.CalculationPage(items=items, next_cursor=next_cursor)


def finished_among(session: Session, caller: Caller, ids: Sequence[int]) -> list[wire.Calculation]:
    query = repo.ListQuery(ids=ids, states=[s.value for s in TERMINAL], limit=len(ids), sort="id")
    return search(session, caller, query, None, None).items


def cancel(session: Session, caller: Caller, calc_id: int, reason: str | None) -> wire.Calculation:
    calc = visible(session, caller, calc_id)
    state = State(calc.state)
    if state not in CANCELLABLE:
        raise Conflict(f"calculation {calc_id} is {state.value}; only unfinished work can be cancelled")
    event = transitions.move(session, calc, State.CANCELLED, caller.actor, reason or "cancelled by user")
    repo.add_events(session, [event])
    session.flush()
    return _describe(session, calc)


def delete(session: Session, caller: Caller, calc_id: int) -> None:
    """Remove the record; the caller deletes the stored files once this has committed."""
    calc = visible(session, caller, calc_id)
    if State(calc.state) not in TERMINAL:
        raise Conflict(f"calculation {calc_id} is {calc.state}; cancel it before deleting it")
    repo.remove(session, calc)


def events(session: Session, caller: Caller, calc_id: int) -> list[wire.Event]:
    visible(session, caller, calc_id)
    return [
        wire.Event(
            id=e.id,
            at=e.at,
            attempt=e.attempt,
            actor=e.actor,
            message=e.message,
            from_state=State(e.from_state) if e.from_state else None,
            to_state=State(e.to_state),
        )
        for e in repo.events_of(session, calc_id)
    ]
