"""The states of a calculation and the one table of legal transitions.

Every state change in calchub is checked here first; the server's
``services.transitions`` is the only code that applies one.

A finished calculation stays finished, with two ways back: the retry policy
queues a ``lost`` one again while it has attempts left, and a user may
*retry* one that ``failed``, was ``cancelled``, turned out ``invalid`` or was
``lost`` (see :data:`RETRYABLE`): it goes back to ``queued``, or to
``pending_approval`` when its project wants every run approved, and its
next claim runs it as a new attempt. Each attempt keeps its own log and
work folder. Completed and rejected work is never run again this way: submit
a copy instead. A calculation that waits for others (``waiting``) is
``skipped`` when one of them ends without completing, and waits again when
that one is retried.
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
#: States that end a calculation; those in ``RETRYABLE`` are final unless a retry queues them again.
TERMINAL = frozenset(
    {State.COMPLETED, State.INVALID, State.FAILED, State.CANCELLED, State.SKIPPED, State.LOST, State.REJECTED}
)
#: States that wait for a claim, counted by the ``max_queued`` quota.
WAITING_TO_RUN = frozenset({State.PENDING_APPROVAL, State.WAITING, State.QUEUED})
#: States from which a user may cancel.
CANCELLABLE = frozenset({State.DRAFT, State.PENDING_APPROVAL, State.WAITING, State.QUEUED} | HELD)

#: Finished states a user may retry: the calculation runs again as its next attempt.
RETRYABLE = frozenset({State.FAILED, State.CANCELLED, State.INVALID, State.LOST})
#: Where a retry goes: the queue, or the moderators when the project requires approval; a
#: calculation that waits for others and never ran waits again (its parents' files and results
#: are taken anew).
RETRY_TARGETS = frozenset({State.QUEUED, State.PENDING_APPROVAL, State.WAITING})

_ENDINGS = {State.FAILED, State.CANCELLED, State.LOST}

TRANSITIONS: dict[State, frozenset[State]] = {
    State.DRAFT: frozenset({State.PENDING_APPROVAL, State.QUEUED, State.WAITING, State.CANCELLED}),
    State.PENDING_APPROVAL: frozenset({State.QUEUED, State.WAITING, State.CANCELLED, State.REJECTED}),
    # Released once every parent completed, or failed when what it takes from them cannot be
    # taken; skipped when a parent ended otherwise.
    State.WAITING: frozenset({State.QUEUED, State.SKIPPED, State.CANCELLED, State.FAILED}),
    State.QUEUED: frozenset({State.CLAIMED, State.CANCELLED, State.FAILED}),
    # A local executor starts the process at once, so `submitted` may be skipped.
    State.CLAIMED: frozenset({State.SUBMITTED, State.RUNNING} | _ENDINGS),
    State.SUBMITTED: frozenset({State.RUNNING} | _ENDINGS),
    State.RUNNING: frozenset({State.POSTPROCESSING, State.COMPLETED, State.INVALID} | _ENDINGS),
    State.POSTPROCESSING: frozenset({State.COMPLETED, State.INVALID} | _ENDINGS),
    State.COMPLETED: frozenset(),
    # A user's retry (RETRYABLE): back to the queue, or to approval.
    State.INVALID: RETRY_TARGETS,
    State.FAILED: RETRY_TARGETS,
    State.CANCELLED: RETRY_TARGETS,
    # A retried ancestor: it waits again, so the chain continues from there.
    State.SKIPPED: frozenset({State.WAITING}),
    State.REJECTED: frozenset(),
    # The retry policy queues a lost calculation again while it has attempts left; a user may too.
    State.LOST: RETRY_TARGETS,
}


def can_move(current: State, target: State) -> bool:
    return target in TRANSITIONS[current]


def check_move(current: State, target: State) -> None:
    """Raise :class:`IllegalTransition` unless ``current -> target`` is legal."""
    if not can_move(current, target):
        raise IllegalTransition(current, target)


def is_terminal(state: State) -> bool:
    return state in TERMINAL


def retry_target(requires_approval: bool, waits: bool = False) -> State:
    """Where a retried calculation goes: where a new submission to its project would.

    ``waits``: it has parents and never ran, so what it takes from them is taken again first.
    """
    if requires_approval:
        return State.PENDING_APPROVAL
    return State.WAITING if waits else State.QUEUED
