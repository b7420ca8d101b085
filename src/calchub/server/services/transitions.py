"""The one door through which a calculation changes state.

It checks the move against ``domain.states``, stamps the times, writes the
event and queues the wake-ups for long-polls and live views.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from calchub.domain.states import TERMINAL, State, check_move
from calchub.server.db.tables import Calculation, CalculationEvent, now
from calchub.server.repositories import calculations as repo
from calchub.server.services.unit import wake


def move(
    session: Session,
    calc: Calculation,
    target: State,
    actor: str,
    message: str | None = None,
    at: datetime | None = None,
) -> CalculationEvent:
    """Move ``calc`` to ``target`` or raise ``IllegalTransition``; nothing is flushed here."""
    current = State(calc.state)
    check_move(current, target)
    at = at or now()
    calc.state = target.value
    calc.updated_at = at
    if target == State.RUNNING and calc.started_at is None:
        calc.started_at = at
    if target in TERMINAL:
        calc.finished_at = at
        calc.lease_agent = None
        calc.lease_expires_at = None
    if message is not None and target not in {State.QUEUED, State.CLAIMED}:
        calc.message = message
    event = CalculationEvent(
        calculation_id=calc.id,
        at=at,
        attempt=calc.attempt,
        from_state=current.value,
        to_state=target.value,
        actor=actor,
        message=message,
    )
    keys = [f"calc:{calc.id}", "calcs"]
    if target in TERMINAL:
        keys.append("terminal")
    if target in {State.QUEUED, State.CANCELLED}:
        keys.append(f"claim:{calc.cluster_id}")
    wake(session, *keys)
    return event


def move_all(session: Session, moves: Sequence[tuple[Calculation, State, str | None]], actor: str) -> None:
    """Apply many moves and write their events in one flush."""
    events = [move(session, calc, target, actor, message) for calc, target, message in moves]
    repo.add_events(session, events)
    session.flush()


def created(session: Session, calc: Calculation, actor: str) -> CalculationEvent:
    """The first event of a calculation: how it entered the system."""
    wake(session, "calcs", f"claim:{calc.cluster_id}")
    return CalculationEvent(
        calculation_id=calc.id,
        at=calc.created_at,
        attempt=calc.attempt,
        from_state=None,
        to_state=calc.state,
        actor=actor,
        message="submitted",
    )
