"""Submitting, showing, changing, cancelling, retrying and deleting calculations (lists of them
are ``services.calculation_lists``).

A calculation is seen by the members of its project (and by moderators and
admins); to anyone else it does not exist (404). Its owner, the project's
managers and admins may change, cancel, retry and delete it; moderators may
cancel it, raise its priority, and approve or reject it while it waits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import Any, Protocol

from sqlalchemy.orm import Session

import calchub
from calchub.calctypes.registry import Registry
from calchub.contracts import calculations as wire
from calchub.domain.permissions import Action
from calchub.domain.states import CANCELLABLE, RETRYABLE, TERMINAL, State, retry_target
from calchub.server.db.tables import Calculation, CalculationFile, Cluster, Project, now
from calchub.server.repositories import calculations as repo
from calchub.server.repositories import clusters as cluster_repo
from calchub.server.repositories import projects as project_repo
from calchub.server.repositories import studies as study_repo
from calchub.server.repositories import users as user_repo
from calchub.server.services import calctypes, chains, collector, quotas, transitions
from calchub.server.services import clusters as cluster_service
from calchub.server.services import projects as project_service
from calchub.server.services.auth import Caller
from calchub.server.services.errors import Conflict, Forbidden, Invalid, NotFound
from calchub.server.services.unit import wake
from calchub.server.storage import Store


@collector.paused_for_large_batches
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
    where = [f"calculations[{i}]." if many else "" for i in range(len(requests))]
    plans = [
        calctypes.plan(registry, r, w, provided=[f.target for p in r.after for f in p.files])
        for r, w in zip(requests, where, strict=True)
    ]
    projects = _projects_of(session, caller, requests, where)
    requests = [_default_priority(r, p) for r, p in zip(requests, projects, strict=True)]
    for r, project, w in zip(requests, projects, where, strict=True):
        _check_priority(caller, project, r.priority, f"{w}priority")
    _within_quotas(session, caller, projects, plans)
    _same_version_same_definition(session, plans)
    links = chains.check(session, caller, requests, where, [[path for path, _ in p.files] for p in plans])
    for index, paths in links.kept.items():  # what a child takes from a parent, the parent keeps
        plans[index].outputs = list(dict.fromkeys([*plans[index].outputs, *paths]))
    inputs = [p.files for p in plans]
    created_at = now()
    rows = [
        _new_row(caller, clusters[r.cluster], project, r, p, created_at)
        for r, project, p in zip(requests, projects, plans, strict=True)
    ]
    ids = repo.insert_calculations(session, rows)
    chains.record(session, links, ids)
    study_repo.ensure(
        session,
        [(p.id, r.study) for r, p in zip(requests, projects, strict=True) if r.study],
        caller.id,
        created_at,
    )
    calcs = [_unsaved(i, row) for i, row in zip(ids, rows, strict=True)]
    transitions.created(session, calcs, caller.actor, created_at)
    repo.insert_files(session, _stored(store, ids, inputs))
    names = {c.id: c.name for c in clusters.values()}
    return [
        to_wire(c, caller.username, names[c.cluster_id], [], p.name)
        for c, p in zip(calcs, projects, strict=True)
    ]


def _projects_of(
    session: Session, caller: Caller, requests: Sequence[wire.CalculationCreate], where: list[str]
) -> list[Project]:
    """Each request's project, looked up once per project named (a sweep names one for all)."""
    found: dict[str | None, Project] = {}
    for r, w in zip(requests, where, strict=True):
        if r.project not in found:
            found[r.project] = project_service.for_submission(session, caller, r.project, f"{w}project")
    return [found[r.project] for r in requests]


def _default_priority(request: wire.CalculationCreate, project: Project) -> wire.CalculationCreate:
    """A request that names no priority gets the one nearest 0 that its project allows."""
    if "priority" in request.model_fields_set:
        return request
    nearest = min(max(0, project.priority_min), project.priority_max)
    return request.model_copy(update={"priority": nearest})


def _check_priority(caller: Caller, project: Project, priority: int, field: str) -> None:
    if caller.may(Action.PRIORITY_RAISE) or project.priority_min <= priority <= project.priority_max:
        return
    raise Invalid(
        f"project {project.name!r} allows priorities {project.priority_min} to {project.priority_max}, "
        f"not {priority}; a moderator can raise it",
        field,
    )


def _within_quotas(
    session: Session, caller: Caller, projects: Sequence[Project], plans: Sequence[calctypes.Plan]
) -> None:
    owner = user_repo.by_id(session, caller.id)
    assert owner is not None
    asked: dict[int, tuple[Project, int, float]] = {}
    for project, plan in zip(projects, plans, strict=True):
        hours = plan.resources.cores * (plan.resources.walltime or 0) / 3600
        _, count, total = asked.get(project.id, (project, 0, 0.0))
        asked[project.id] = (project, count + 1, total + hours)
    quotas.check(session, owner, [quotas.Asked(p, n, h) for p, n, h in asked.values()])


def preview(
    session: Session, caller: Caller, request: wire.CalculationCreate, registry: Registry
) -> tuple[wire.Calculation, list[str], Cluster]:
    """What submitting ``request`` would create, without creating anything (``--dry-run``)."""
    cluster = _clusters_for(session, {request.cluster})[request.cluster]
    plan = calctypes.plan(registry, request)
    project = project_service.for_submission(session, caller, request.project)
    request = _default_priority(request, project)
    _check_priority(caller, project, request.priority, "priority")
    cluster_service.check_partition(cluster, plan.resources)
    row = _unsaved(0, _new_row(caller, cluster, project, request, plan, now()))
    calc = to_wire(row, caller.username, cluster.name, [], project.name)
    return calc, [path for path, _ in plan.files], cluster


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
    caller: Caller,
    cluster: Cluster,
    project: Project,
    r: wire.CalculationCreate,
    plan: calctypes.Plan,
    at: datetime,
) -> dict[str, Any]:
    state = (
        State.PENDING_APPROVAL if project.requires_approval else State.WAITING if r.after else State.QUEUED
    )
    return {
        "name": r.name,
        "owner_id": caller.id,
        "cluster_id": cluster.id,
        "project_id": project.id,
        "state": state.value,
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
        "study": r.study,
        "bytes_freed": None,
        "scheduler": plan.resources.scheduler_fields() or None,
        "step": r.step,
        "deferred": plan.deferred,
        "notify": list(r.notify) or None,
    }


def _stored(
    store: Store, ids: Sequence[int], inputs: Sequence[list[tuple[str, bytes]]]
) -> list[dict[str, Any]]:
    """Write the new calculations' input files to the store (data they share is written once);
    their records, to insert all at once."""
    files = [
        (calc_id, path, data) for calc_id, given in zip(ids, inputs, strict=True) for path, data in given
    ]
    written = store.put_many("input", files)
    return [
        {"calculation_id": calc_id, "attempt": 0, "kind": "input", "path": path, "size": size, "sha256": sha}
        for (calc_id, path, _), (size, sha) in zip(files, written, strict=True)
    ]


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
    project_id: int
    study: str | None
    bytes_freed: int | None
    scheduler: dict[str, Any] | None
    step: str | None
    notify: list[Any] | None


def to_wire(
    calc: CalculationRow,
    owner: str,
    cluster: str,
    files: list[CalculationFile],
    project: str,
    favorite: bool = False,
) -> wire.Calculation:
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
        project=project,
        study=calc.study,
        favorite=favorite,
        bytes_freed=calc.bytes_freed,
        step=calc.step,
        notify=calc.notify or [],
    )


def visible(session: Session, caller: Caller, calc_id: int, *, lock: bool = False) -> Calculation:
    """The calculation, if it exists and the caller may see it (404 either way, so ids don't leak);
    ``lock`` holds its row until the transaction ends, for changes that read then write."""
    calc = repo.get(session, calc_id, lock=lock)
    if calc is None or not caller.sees(calc.project_id):
        raise NotFound(f"no calculation {calc_id}")
    return calc


def _changeable(session: Session, caller: Caller, calc_id: int, what: str) -> Calculation:
    """The calculation, if the caller may change (or retry) it: its owner, its project's managers,
    admins; to cancel it, moderators too."""
    calc = visible(session, caller, calc_id, lock=True)
    allowed = caller.may_cancel if what == "cancel" else caller.may_change
    if not allowed(calc.owner_id, calc.project_id):
        who = "its owner, the managers of its project" + (", moderators" if what == "cancel" else "")
        raise Forbidden(f"only {who} and admins can {what} calculation {calc_id}")
    return calc


def describe(session: Session, caller: Caller, calc_id: int) -> wire.Calculation:
    calc = visible(session, caller, calc_id)
    return _describe(session, caller, calc)


def _describe(session: Session, caller: Caller, calc: Calculation) -> wire.Calculation:
    owner = user_repo.by_id(session, calc.owner_id)
    cluster = cluster_repo.by_ids(session, {calc.cluster_id})[calc.cluster_id]
    project = project_repo.by_ids(session, {calc.project_id})[calc.project_id]
    files = repo.files_of(session, [calc.id])[calc.id]
    favorite = calc.id in repo.favorites_among(session, caller.id, [calc.id])
    shown = to_wire(calc, owner.username if owner else "?", cluster.name, files, project.name, favorite)
    shown.parents = [link.parent_id for link in chains.parents(session, calc.id)]
    return shown


def cancel(session: Session, caller: Caller, calc_id: int, reason: str | None) -> wire.Calculation:
    calc = _changeable(session, caller, calc_id, "cancel")
    state = State(calc.state)
    if state not in CANCELLABLE:
        raise Conflict(f"calculation {calc_id} is {state.value}; only unfinished work can be cancelled")
    return _move(session, caller, calc, State.CANCELLED, reason or f"cancelled by {caller.username}")


def retry(session: Session, caller: Caller, calc_id: int) -> wire.Calculation:
    """Run a failed, cancelled, invalid or lost calculation again, as its next attempt.

    It goes where a submission to its project would (the queue, or approval), through the
    same checks: its cluster enabled, its project's and owner's quotas. A refusal changes
    nothing. The attempt that ended keeps its log and its events; its results and output
    files stay until the next attempt delivers its own.
    """
    calc = _changeable(session, caller, calc_id, "retry")
    state = State(calc.state)
    if state not in RETRYABLE:
        raise Conflict(_not_retryable(calc_id, state))
    cluster = cluster_repo.by_ids(session, {calc.cluster_id})[calc.cluster_id]
    if not cluster.enabled:
        raise Conflict(f"cluster {cluster.name!r} is disabled; an admin can enable it again", "cluster")
    project = project_repo.by_ids(session, {calc.project_id})[calc.project_id]
    owner = user_repo.by_id(session, calc.owner_id)
    assert owner is not None
    hours = calc.cores * (calc.walltime or 0) / 3600
    quotas.check(session, owner, [quotas.Asked(project, 1, hours)])
    target = retry_target(
        project.requires_approval, calc.attempt == 0 and chains.has_parents(session, calc.id)
    )
    max_attempts = max(calc.max_attempts, calc.attempt + 1)
    message = f"retried by {caller.username}: attempt {calc.attempt + 1} of {max_attempts}"
    if job := calc.provenance.get("scheduler_id"):
        message += f" (attempt {calc.attempt} was job {job})"
    if target is State.PENDING_APPROVAL:
        message += f"; project {project.name!r} approves each run"
    event = transitions.move(session, calc, target, caller.actor, message)
    calc.max_attempts = max_attempts
    if target is not State.PENDING_APPROVAL:
        calc.message = None  # the ended attempt's message is in its events
    repo.add_events(session, [event])
    session.flush()
    chains.continue_after_retry(session, calc.id, caller.actor, waits=target is State.WAITING)
    return _describe(session, caller, calc)


def _not_retryable(calc_id: int, state: State) -> str:
    if state not in TERMINAL:
        return (
            f"calculation {calc_id} is {state.value} and has not finished, so there is nothing to retry; "
            "cancel it first to run it again"
        )
    return (
        f"calculation {calc_id} is {state.value}; only failed, cancelled, invalid or lost calculations "
        "can be retried (submit a copy to run it again)"
    )


#: What a viewer may do to a calculation in a list: an action, and the states it applies to.
ACTIONS: dict[str, frozenset[State]] = {"cancel": CANCELLABLE, "retry": RETRYABLE, "delete": TERMINAL}


def actions_on(session: Session, caller: Caller, calc_ids: Sequence[int]) -> dict[int, frozenset[str]]:
    """For each of these calculations, what the caller may do to it now: the buttons to show.

    The same rules as :func:`cancel`, :func:`retry` and :func:`delete`, from one query.
    """
    if not caller.may(Action.CALCULATIONS_WRITE):
        return {i: frozenset() for i in calc_ids}
    found: dict[int, frozenset[str]] = {}
    for calc_id, row in repo.row_facts(session, calc_ids).items():
        state = State(row.state)
        may = {
            "cancel": caller.may_cancel(row.owner_id, row.project_id),
            "retry": caller.may_change(row.owner_id, row.project_id),
            "delete": caller.may_change(row.owner_id, row.project_id),
        }
        found[calc_id] = frozenset(a for a, states in ACTIONS.items() if state in states and may[a])
    return found


def _move(
    session: Session, caller: Caller, calc: Calculation, target: State, message: str
) -> wire.Calculation:
    event = transitions.move(session, calc, target, caller.actor, message)
    repo.add_events(session, [event])
    session.flush()
    return _describe(session, caller, calc)


def decide(
    session: Session, caller: Caller, calc_id: int, approve: bool, comment: str | None
) -> wire.Calculation:
    """A moderator's or admin's approval (the calculation queues) or rejection (with a comment)."""
    calc = visible(session, caller, calc_id, lock=True)
    if calc.state != State.PENDING_APPROVAL.value:
        raise Conflict(
            f"calculation {calc_id} is {calc.state}; only calculations pending approval can be decided"
        )
    if approve:
        message = f"approved by {caller.username}" + (f": {comment}" if comment else "")
        target = State.WAITING if chains.has_parents(session, calc.id) else State.QUEUED
        if target is State.WAITING:
            chains.look_again([calc.id], session)
        return _move(session, caller, calc, target, message)
    return _move(session, caller, calc, State.REJECTED, f"rejected by {caller.username}: {comment}")


def update(
    session: Session, caller: Caller, calc_id: int, request: wire.CalculationUpdate
) -> wire.Calculation:
    only_priority = request.name is None and request.priority is not None
    if only_priority and caller.may(Action.PRIORITY_RAISE):
        calc = visible(session, caller, calc_id, lock=True)
    else:
        calc = _changeable(session, caller, calc_id, "change")
    if request.priority is not None and request.priority != calc.priority:
        if State(calc.state) in TERMINAL:
            raise Conflict(
                f"calculation {calc_id} is {calc.state}; its priority no longer matters", "priority"
            )
        project = project_repo.by_ids(session, {calc.project_id})[calc.project_id]
        _check_priority(caller, project, request.priority, "priority")
        calc.priority = request.priority
        wake(session, f"claim:{calc.cluster_id}", f"calc:{calc.id}")
    if request.name is not None:
        calc.name = request.name
    calc.updated_at = now()
    session.flush()
    return _describe(session, caller, calc)


def set_favorite(session: Session, caller: Caller, calc_id: int, on: bool) -> None:
    visible(session, caller, calc_id)
    repo.set_favorite(session, caller.id, calc_id, on)


def delete(session: Session, caller: Caller, calc_id: int) -> None:
    """Remove the record; the caller deletes the stored files once this has committed."""
    calc = _changeable(session, caller, calc_id, "delete")
    if State(calc.state) not in TERMINAL:
        raise Conflict(f"calculation {calc_id} is {calc.state}; cancel it before deleting it")
    if waiting := chains.children_not_yet_run(session, calc_id):
        shown = ", ".join(map(str, waiting[:10])) + (" ..." if len(waiting) > 10 else "")
        raise Conflict(
            f"calculations {shown} have not run yet and take from calculation {calc_id}; "
            "delete them before it"
        )
    repo.remove(session, calc)


def events(session: Session, caller: Caller, calc_id: int, after: int = 0) -> list[wire.Event]:
    """The calculation's timeline; only the events after event ``after``, if given."""
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
        for e in repo.events_of(session, calc_id, after)
    ]
