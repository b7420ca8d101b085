"""What agents do: heartbeat, claim work under a lease, report, and lose leases."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row
from sqlalchemy.orm import Session

from calchub.contracts import agents as wire
from calchub.contracts.calculations import FileInfo, Resources
from calchub.domain.resources import Slots
from calchub.domain.states import HELD, TERMINAL, IllegalTransition, State
from calchub.server.db.tables import Calculation, CalculationFile, now
from calchub.server.repositories import calculations as repo
from calchub.server.repositories import clusters as cluster_repo
from calchub.server.repositories import projects as project_repo
from calchub.server.repositories import results as results_repo
from calchub.server.services import activity, heartbeats, transitions
from calchub.server.services.auth import AgentCaller
from calchub.server.services.unit import wake


def heartbeat(
    session: Session, agent: AgentCaller, beat: wire.Heartbeat, lease: float, every: float
) -> wire.HeartbeatReply:
    at = now()
    status = beat.model_dump(exclude={"held"}) | {"at": at.isoformat(), "held": len(beat.held)}
    cluster = cluster_repo.by_ids(session, {agent.cluster_id})[agent.cluster_id]
    previous = (cluster.status or {}).get("agents", {}).get(beat.agent)
    cluster_repo.record_heartbeat(session, cluster, beat.agent, status, at)
    heartbeats.record(session, cluster, beat, at)
    _announce(session, cluster.id, beat, previous, at, lease)
    keep, drop = _sort_held(session, agent, beat.agent, beat.held)
    repo.renew_leases(session, beat.agent, [h.id for h in keep], at + timedelta(seconds=lease))
    return wire.HeartbeatReply(
        lease_seconds=lease,
        heartbeat_seconds=every,
        cancel=drop,
        released=drop,
        settings=cluster.settings or {},
    )


def _announce(
    session: Session,
    cluster_id: int,
    beat: wire.Heartbeat,
    previous: dict[str, Any] | None,
    at: datetime,
    lease: float,
) -> None:
    """Tell the feed of an agent seen for the first time, back after a silence longer than its
    lease, or on a new version. Compared with the heartbeat the cluster's status already holds,
    so a routine heartbeat costs nothing more."""
    who = f"agent {beat.agent} on {beat.host}"
    if previous is None:
        kind = "agent.connected"
        message = f"{who} connected: {beat.cores} cores, {beat.executor}, version {beat.version}"
    else:
        last = previous.get("at")
        silent = (at - datetime.fromisoformat(last)).total_seconds() if last else 0.0
        if silent > lease:
            kind = "agent.back"
            message = f"{who} is back after {silent:.0f} s of silence, version {beat.version}"
        elif previous.get("version") != beat.version:
            kind = "agent.upgraded"
            message = f"{who} now runs version {beat.version} (was {previous.get('version')})"
        else:
            return
    data = {"host": beat.host, "version": beat.version, "cores": beat.cores, "executor": beat.executor}
    actor = f"agent:{beat.agent}"
    activity.record(session, kind, message, source="agent", cluster=cluster_id, actor=actor, data=data)


def _sort_held(
    session: Session, agent: AgentCaller, name: str, held: Sequence[wire.Held]
) -> tuple[list[wire.Held], list[wire.Held]]:
    """Split what the agent holds into still-its-own and to-be-stopped."""
    rows = {c.id: c for c in repo.held_by(session, agent.cluster_id, [h.id for h in held])}
    keep: list[wire.Held] = []
    drop: list[wire.Held] = []
    for h in held:
        calc = rows.get(h.id)
        mine = (
            calc is not None
            and calc.attempt == h.attempt
            and calc.lease_agent == name
            and State(calc.state) in HELD
        )
        (keep if mine else drop).append(h)
    return keep, drop


def claim_once(
    session: Session, agent: AgentCaller, request: wire.ClaimRequest, lease: float
) -> wire.ClaimReply:
    """Claim what fits in the agent's free slots, best first; never blocks."""
    _, cancel = _sort_held(session, agent, request.agent, request.held)
    if not agent.enabled or request.max_count == 0:
        return wire.ClaimReply(cancel=cancel, lease_seconds=lease)
    slots = Slots(request.cores, request.gpus, request.memory)
    picked: list[Row[Any]] = []
    # What projects and users may still start under their max_running; the full ones are skipped.
    projects_left, owners_left = project_repo.running_limits(session)
    candidates = repo.queued_for(
        session,
        agent.cluster_id,
        limit=request.max_count + 16,  # a few more, so small work can pass a big one that does not fit
        skip_projects=[k for k, n in projects_left.items() if n == 0],
        skip_owners=[k for k, n in owners_left.items() if n == 0],
    )
    for row in candidates:
        if len(picked) == request.max_count:
            break
        too_big = request.job_cores is not None and row.cores > request.job_cores
        if too_big or not slots.fits(row.cores, row.gpus, row.memory):
            continue
        if projects_left.get(row.project_id, 1) == 0 or owners_left.get(row.owner_id, 1) == 0:
            continue
        for left, key in ((projects_left, row.project_id), (owners_left, row.owner_id)):
            if key in left:
                left[key] -= 1
        slots = slots.minus(row.cores, row.gpus, row.memory)
        picked.append(row)
    until = now() + timedelta(seconds=lease)
    changes = []
    for row in picked:
        change = transitions.plan(
            row,
            State.CLAIMED,
            f"agent:{request.agent}",
            f"claimed by {request.agent}",
            attempt=row.attempt + 1,
        )
        change.values.update(lease_agent=request.agent, lease_expires_at=until)
        changes.append(change)
    transitions.apply(session, changes)
    files = repo.files_of(session, [row.id for row in picked])
    return wire.ClaimReply(
        calculations=[_assignment(row, files[row.id]) for row in picked],
        cancel=cancel,
        lease_seconds=lease,
    )


def _assignment(row: Row[Any], files: list[CalculationFile]) -> wire.Assignment:
    return wire.Assignment(
        id=row.id,
        attempt=row.attempt + 1,
        name=row.name,
        command=row.command,
        env=row.env,
        outputs=row.outputs,
        resources=Resources(
            cores=row.cores, gpus=row.gpus, memory=row.memory, walltime=row.walltime, **(row.scheduler or {})
        ),
        files=[
            FileInfo(path=f.path, kind="input", size=f.size, sha256=f.sha256)
            for f in files
            if f.kind == "input"
        ],
        type=row.calctype,
        type_version=row.calctype_version,
        inputs=row.inputs or {},
        analyses=row.analyses or [],
    )


def report(session: Session, agent: AgentCaller, batch: wire.ReportBatch) -> wire.ReportReply:
    """Apply state reports; each is idempotent, so a spooled report may arrive twice."""
    calcs = {
        row.id: transitions.Snapshot(**row._asdict())
        for row in repo.snapshots(session, {r.id for r in batch.reports}, lock=True)
    }
    changes: list[transitions.Change] = []
    results = [_apply(agent, batch.agent, calcs.get(r.id), r, changes) for r in batch.reports]
    transitions.apply(session, changes)
    _note_refused(session, agent, batch, calcs, results)
    _free_running_slots(session, changes)
    kept = [
        r for r, out in zip(batch.reports, results, strict=True) if out.outcome == "applied" and r.results
    ]
    results_repo.replace(session, [(r.id, r.attempt, r.results) for r in kept if r.results is not None])
    repo.update_columns(session, {r.id: {"bytes_freed": r.results.bytes_freed} for r in kept if r.results})
    return wire.ReportReply(results=results)


def _note_refused(
    session: Session,
    agent: AgentCaller,
    batch: wire.ReportBatch,
    calcs: dict[int, transitions.Snapshot],
    results: Sequence[wire.ReportResult],
) -> None:
    """A refused report means the agent is out of step with the server: tell the feed. One about
    a calculation of this cluster is seen by its project; any other, by the cluster's viewers."""
    actor = f"agent:{batch.agent}"
    about: list[dict[str, Any]] = []
    for r, out in zip(batch.reports, results, strict=True):
        if out.outcome != "rejected":
            continue
        message = f"agent {batch.agent}: a report of {r.state.value} was refused: {out.detail}"
        calc = calcs.get(r.id)
        if calc is not None and calc.cluster_id == agent.cluster_id:
            entry = {"calculation_id": r.id, "kind": "agent.report-refused", "message": message}
            about.append(entry | {"level": "warning", "source": "agent", "actor": actor})
        else:
            activity.record(
                session,
                "agent.report-refused",
                message,
                level="warning",
                source="agent",
                cluster=agent.cluster_id,
                actor=actor,
            )
    activity.record_about_calculations(session, about)


def _free_running_slots(session: Session, changes: Sequence[transitions.Change]) -> None:
    """A run that ends under a ``max_running`` quota may let queued work of its project or owner
    start, on any cluster: wake every cluster's parked claims (only while such quotas exist)."""
    ended = any(c.source in HELD and c.target not in HELD for c in changes)
    if ended and project_repo.has_running_limits(session):
        wake(session, *(f"claim:{c.id}" for c in cluster_repo.all_clusters(session)))


def _apply(
    agent: AgentCaller,
    name: str,
    calc: transitions.Snapshot | None,
    r: wire.Report,
    changes: list[transitions.Change],
) -> wire.ReportResult:
    def result(outcome: wire.Outcome, detail: str | None = None) -> wire.ReportResult:
        return wire.ReportResult(id=r.id, attempt=r.attempt, outcome=outcome, detail=detail)

    if calc is None or calc.cluster_id != agent.cluster_id:
        return result("rejected", f"no calculation {r.id} on cluster {agent.cluster!r}")
    if calc.attempt != r.attempt:
        return result("stale", f"attempt {r.attempt} is over; the calculation is at attempt {calc.attempt}")
    if calc.state == r.state.value or _already_past(calc.state, r.state):
        return result("duplicate")
    if State(calc.state) in TERMINAL or calc.lease_agent != name:
        return result("stale", f"calculation {r.id} is {calc.state} and no longer held by {name!r}")
    try:
        change = transitions.plan(calc, r.state, f"agent:{name}", r.message, at=r.at)
    except IllegalTransition as error:
        return result("rejected", str(error))
    if r.exit_code is not None:
        change.values["exit_code"] = r.exit_code
    calc.provenance = calc.provenance | _provenance(r)
    change.values["provenance"] = calc.provenance
    calc.follow(change)
    changes.append(change)
    if r.state == State.LOST and calc.attempt < calc.max_attempts:
        retry = _retry_change(calc)
        calc.follow(retry)
        changes.append(retry)
    return result("applied")


def _already_past(state: str, reported: State) -> bool:
    """A resent `running` after `completed` is a duplicate, not an error."""
    order = [State.CLAIMED, State.SUBMITTED, State.RUNNING, State.POSTPROCESSING]
    current = State(state)
    if reported in order and (current in TERMINAL or current in order):
        return current in TERMINAL or order.index(current) > order.index(reported)
    return False


def _provenance(r: wire.Report) -> dict[str, str]:
    fields = {
        "host": r.host,
        "workdir": r.workdir,
        "scheduler_id": r.scheduler_id,
        "executor": r.executor,
        "agent_version": r.agent_version,
    }
    return {k: v for k, v in fields.items() if v is not None}


def expire_leases(session: Session) -> list[int]:
    """Mark calculations whose lease lapsed as lost, and queue a retry where allowed."""
    at = now()
    lost = repo.expired(session, at)
    silent = _by_agent(lost)
    moves: list[tuple[Calculation, State, str | None]] = []
    for calc in lost:
        moves.append((calc, State.LOST, f"lease held by {calc.lease_agent} lapsed; the agent went silent"))
    transitions.move_all(session, moves, "server")
    _retry(session, lost)
    for (cluster_id, name), calcs in silent.items():
        again = sum(1 for c in calcs if c.state == State.QUEUED)
        message = (
            f"agent {name} went silent: the leases of {len(calcs)} calculations lapsed ({again} queued again)"
        )
        data = {"agent": name, "lost": len(calcs), "queued_again": again}
        activity.record(
            session, "lease.lapsed", message, level="warning", cluster=cluster_id, actor="server", data=data
        )
    return [c.id for c in lost]


def _by_agent(calcs: Sequence[Calculation]) -> dict[tuple[int, str], list[Calculation]]:
    """Calculations by the cluster and agent that held their lease."""
    found: dict[tuple[int, str], list[Calculation]] = {}
    for calc in calcs:
        found.setdefault((calc.cluster_id, calc.lease_agent or "?"), []).append(calc)
    return found


def _retry(session: Session, lost: Sequence[Calculation]) -> None:
    """The retry policy: a lost calculation runs again while it has attempts left."""
    retry = [c for c in lost if c.attempt < c.max_attempts]
    transitions.move_all(
        session, [(c, State.QUEUED, _retry_message(c.attempt, c.max_attempts)) for c in retry], "server"
    )


def _retry_change(calc: transitions.Snapshot) -> transitions.Change:
    message = _retry_message(calc.attempt, calc.max_attempts)
    return transitions.plan(calc, State.QUEUED, "server", message)


def _retry_message(attempt: int, max_attempts: int) -> str:
    return f"retry: attempt {attempt + 1} of {max_attempts}"


def grace_after_restart(session: Session, lease: float) -> int:
    """The server was away, so agents could not renew: give every lease a fresh term."""
    return repo.extend_leases(session, now() + timedelta(seconds=lease))
