"""The states of a calculation and the one table of legal transitions.

Every state change in calchub is checked here first; the server's
``services.transitions`` is the only code that applies one.
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    DRAFT = "draft"
    PENDING_APPROVAL = "pending_approval"
    WAITING = "waiting"
    QUEUED = "queued"
    CLAIMED = "claimed"
    SUBMITTED = "submitted"
    RUNNING = "running"
    POSTPROCESSING = "postprocessing"
    COMPLETED = "completed"
    INVALID = "invalid"
    FAILED = "failed"
    CANCELLED = "cancelled"
    LOST = "lost"
    SKIPPED = "skipped"
    #: A moderator refused it while it waited for approval; the message says why.
    REJECTED = "rejected"


class IllegalTransition(ValueError):
    """A state change that the transition table does not allow."""

    def __init__(self, current: State, target: State) -> None:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none (it is final)"
        super().__init__(
            f"cannot move a calculation from {current.value!r} to {target.value!r}; "
            f"from {current.value!r} it may go to: {allowed}"
        )
        self.current = current
        self.target = target


#: States in which an agent holds the calculation under a lease.
HELD = frozenset({State.CLAIMED, State.SUBMITTED, State.RUNNING, State.POSTPROCESSING})
#: States that end a calculation; ``lost`` is final unless a retry queues it again.
TERMINAL = frozenset(
    {State.COMPLETED, State.INVALID, State.FAILED, State.CANCELLED, State.SKIPPED, State.LOST, State.REJECTED}
)
#: States that wait for a claim, counted by the ``max_queued`` quota.
WAITING_TO_RUN = frozenset({State.PENDING_APPROVAL, State.WAITING, State.QUEUED})
#: States from which a user may cancel.
CANCELLABLE = frozenset({State.DRAFT, State.PENDING_APPROVAL, State.WAITING, State.QUEUED} | HELD)

_ENDINGS = {State.FAILED, State.CANCELLED, State.LOST}

TRANSITIONS: dict[State, frozenset[State]] = {
    State.DRAFT: frozenset({State.PENDING_APPROVAL, State.QUEUED, State.WAITING, State.CANCELLED}),
    State.PENDING_APPROVAL: frozenset({State.QUEUED, State.WAITING, State.CANCELLED, State.REJECTED}),
    State.WAITING: frozenset({State.QUEUED, State.SKIPPED, State.CANCELLED}),
    State.QUEUED: frozenset({State.CLAIMED, State.CANCELLED, State.FAILED}),
    # A local executor starts the process at once, so `submitted` may be skipped.
    State.CLAIMED: frozenset({State.SUBMITTED, State.RUNNING} | _ENDINGS),
    State.SUBMITTED: frozenset({State.RUNNING} | _ENDINGS),
    State.RUNNING: frozenset({State.POSTPROCESSING, State.COMPLETED, State.INVALID} | _ENDINGS),
    State.POSTPROCESSING: frozenset({State.COMPLETED, State.INVALID} | _ENDINGS),
    State.COMPLETED: frozenset(),
    State.INVALID: frozenset(),
    State.FAILED: frozenset(),
    State.CANCELLED: frozenset(),
    State.SKIPPED: frozenset(),
    State.REJECTED: frozenset(),
    # A retry policy may queue a lost calculation again as a new attempt.
    State.LOST: frozenset({State.QUEUED}),
}


def can_move(current: State, target: State) -> bool:
    return target in TRANSITIONS[current]


def check_move(current: State, target: State) -> None:
    """Raise :class:`IllegalTransition` unless ``current -> target`` is legal."""
    if not can_move(current, target):
        raise IllegalTransition(current, target)


def is_terminal(state: State) -> bool:
    return state in TERMINAL
