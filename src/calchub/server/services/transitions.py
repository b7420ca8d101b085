"""The one door through which a calculation changes state.

``plan`` checks a move against ``domain.states`` and works out what it
changes: the columns to set and the event that records it. ``move`` applies
a plan to a loaded row (the ORM path, for single changes); ``apply`` applies
many plans with a few bulk statements (the path of claims and agent reports,
which carry hundreds at a time). Both queue the wake-ups for long-polls and
live views, fired when the transaction commits, and tell the log feed of a
calculation that failed, turned out invalid or was lost (seen by its project).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from calchub.contracts.activity import Level
from calchub.domain.states import RETRY_TARGETS, TERMINAL, State, check_move
from calchub.server.db.tables import Calculation, CalculationEvent, now
from calchub.server.repositories import calculations as repo
from calchub.server.repositories import links, notices
from calchub.server.services import activity
from calchub.server.services.unit import wake

#: The wake-up of the chain follower (``services.chains``): a calculation with children ended.
CHAINS = "chains"
#: The wake-up of the notifier (``services.notices``): a notice was written.
NOTICES = "notices"
#: The changes people are told of (a notice each), and at which level (``NotifyLevel``): a user
#: who chose ``error`` hears of failed, invalid and lost calculations only.
NOTICED: dict[State, str] = {
    State.RUNNING: "info",
    State.COMPLETED: "info",
    State.CANCELLED: "info",
    State.SKIPPED: "info",
    State.REJECTED: "info",
    State.FAILED: "error",
    State.INVALID: "error",
    State.LOST: "error",
}
#: Endings the log feed is told of, with their level.
NOTED: dict[State, Level] = {State.FAILED: "error", State.INVALID: "error", State.LOST: "warning"}


class Stateful(Protocol):
    """What a plan needs to know of a calculation: an ORM row or a snapshot."""

    id: int
    cluster_id: int
    attempt: int
    state: str
    started_at: datetime | None
    provenance: dict[str, Any]


#: What a run leaves in a calculation's provenance; a retry clears it for the next attempt.
RUN_PROVENANCE = ("agent", "agent_version", "host", "workdir", "scheduler_id", "executor")


@dataclass
class Snapshot:
    """A calculation's state as read for a batch, kept current as plans are made."""

    id: int
    cluster_id: int
    attempt: int
    state: str
    started_at: datetime | None
    max_attempts: int = 1
    lease_agent: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    def follow(self, change: Change) -> None:
        self.state = change.values["state"]
        self.attempt = change.attempt
        self.started_at = change.values.get("started_at", self.started_at)
        if "lease_agent" in change.values:
            self.lease_agent = change.values["lease_agent"]


@dataclass
class Change:
    calc_id: int
    cluster_id: int
    attempt: int
    source: State
    target: State
    at: datetime
    actor: str
    message: str | None
    values: dict[str, Any]

    def event(self) -> dict[str, Any]:
        return {
            "calculation_id": self.calc_id,
            "at": self.at,
            "attempt": self.attempt,
            "from_state": self.source.value,
            "to_state": self.target.value,
            "actor": self.actor,
            "message": self.message,
        }

    def noted(self) -> dict[str, Any]:
        """The log entry of this change, for an ending in ``NOTED``."""
        text = f"calculation {self.calc_id} {self.target.value}"
        return {
            "calculation_id": self.calc_id,
            "at": self.at,
            "level": NOTED[self.target],
            "source": "agent" if self.actor.startswith("agent:") else "server",
            "kind": f"calculation.{self.target.value}",
            "actor": self.actor,
            "message": f"{text}: {self.message}" if self.message else text,
            "data": {"attempt": self.attempt, "exit_code": self.values.get("exit_code")},
        }

    def wakes(self) -> list[str]:
        keys = [f"calc:{self.calc_id}", "calcs"]
        if self.target in TERMINAL:
            keys.append("terminal")
        if self.target in {State.QUEUED, State.CANCELLED}:
            keys.append(f"claim:{self.cluster_id}")
        return keys


def plan(
    calc: Stateful,
    target: State,
    actor: str,
    message: str | None = None,
    at: datetime | None = None,
    attempt: int | None = None,
) -> Change:
    """The change that moves ``calc`` to ``target``; raises ``IllegalTransition``."""
    current = State(calc.state)
    check_move(current, target)
    at = at or now()
    values: dict[str, Any] = {"state": target.value, "updated_at": at}
    if attempt is not None and attempt != calc.attempt:
        values["attempt"] = attempt
    if target == State.RUNNING and calc.started_at is None:
        values["started_at"] = at
    if target in TERMINAL:
        values.update(finished_at=at, lease_agent=None, lease_expires_at=None)
    if current in TERMINAL and target in RETRY_TARGETS:
        # A retry, the policy's or a user's: the next attempt starts clean (core-hours count the
        # attempt that runs); what the ended one did is in its events and its log.
        run = {k: v for k, v in (calc.provenance or {}).items() if k not in RUN_PROVENANCE}
        values.update(started_at=None, finished_at=None, exit_code=None, provenance=run)
    if message is not None and target not in {State.QUEUED, State.CLAIMED}:
        values["message"] = message
    elif current == State.SUBMITTED and target != State.SUBMITTED:
        # A submitted job's message is the scheduler's reason it waits: not true once it moves on.
        values["message"] = None
    return Change(
        calc.id,
        calc.cluster_id,
        calc.attempt if attempt is None else attempt,
        current,
        target,
        at,
        actor,
        message,
        values,
    )


def move(
    session: Session,
    calc: Calculation,
    target: State,
    actor: str,
    message: str | None = None,
    at: datetime | None = None,
) -> CalculationEvent:
    """Move a loaded ``calc`` to ``target``; the caller adds the returned event."""
    change = _moved(session, calc, target, actor, message, at)
    _ended(session, [change], {calc.id: calc.project_id})
    return CalculationEvent(**change.event())


def move_all(session: Session, moves: Sequence[tuple[Calculation, State, str | None]], actor: str) -> None:
    """Apply many moves to loaded rows and write their events in one flush."""
    changes = [_moved(session, calc, target, actor, message, None) for calc, target, message in moves]
    repo.add_events(session, [CalculationEvent(**c.event()) for c in changes])
    session.flush()
    _ended(session, changes, {calc.id: calc.project_id for calc, _, _ in moves})


def _moved(
    session: Session, calc: Calculation, target: State, actor: str, message: str | None, at: datetime | None
) -> Change:
    change = plan(calc, target, actor, message, at)
    for name, value in change.values.items():
        setattr(calc, name, value)
    wake(session, *change.wakes())
    if target in NOTED:
        entry = change.noted()
        del entry["calculation_id"], entry["at"]
        activity.record(
            session, calculation_id=calc.id, project_id=calc.project_id, cluster=calc.cluster_id, **entry
        )
    return change


def apply(session: Session, changes: Sequence[Change]) -> None:
    """Write planned changes and their events with bulk statements."""
    if not changes:
        return
    merged: dict[int, dict[str, Any]] = {}
    for change in changes:  # several changes of one calculation: the last value of each column wins
        merged.setdefault(change.calc_id, {}).update(change.values)
    repo.update_columns(session, merged)
    repo.insert_events(session, [c.event() for c in changes])
    wake(session, *{key for c in changes for key in c.wakes()})
    activity.record_about_calculations(session, [c.noted() for c in changes if c.target in NOTED])
    noticed = [c.calc_id for c in changes if c.target in NOTICED]
    _ended(session, changes, notices.projects_of(session, noticed) if noticed else {})


def _ended(session: Session, changes: Sequence[Change], projects: dict[int, int]) -> None:
    """What the changes start: the chain follower looks at the children of those that ended
    (if any), and a notice (the outbox) tells people of those they are told of."""
    ended = [c.calc_id for c in changes if c.target in TERMINAL]
    if ended and links.queue_children_of(session, ended):
        wake(session, CHAINS)
    told = [
        {
            "at": c.at,
            "kind": f"calculation.{c.target.value}",
            "level": NOTICED[c.target],
            "calculation_id": c.calc_id,
            "project_id": projects[c.calc_id],
            "message": c.message,
            "attempt": c.attempt,
            "spread": False,
        }
        for c in changes
        if c.target in NOTICED and c.calc_id in projects
    ]
    if told:
        notices.add(session, told)
        wake(session, NOTICES)


def created(session: Session, calcs: Sequence[Stateful], actor: str, at: datetime) -> None:
    """The first event of each new calculation: how it entered the system."""
    repo.insert_events(
        session,
        [
            {
                "calculation_id": c.id,
                "at": now(),
                "attempt": c.attempt,
                "from_state": None,
                "to_state": c.state,
                "actor": actor,
                "message": "submitted",
            }
            for c in calcs
        ],
    )
    wake(session, "calcs", *{f"claim:{c.cluster_id}" for c in calcs})
