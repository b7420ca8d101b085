"""How a served ML model is looked after: its states, and what to do on each look.

A model version is *wanted* running or stopped; the runtime looks at each running one on
a beat (is its process alive, did ``GET /ping`` answer 200) and :func:`decide` says what
follows. Pure, so the whole policy is tested without a process::

    stopped -> starting -> healthy <-> unhealthy
                  |            |            |
                  +------------+------------+--> (restarted with backoff) -> starting
                                                  ... max_failures in a row -> failed

A model that answers again is healthy and its failures are forgiven; one that fails
``max_failures`` times in a row without ever answering in between is ``failed`` and is
left alone until someone starts it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ModelState(StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    FAILED = "failed"


#: States in which the runtime holds a process (or container) for the model.
HELD = frozenset({ModelState.STARTING, ModelState.HEALTHY, ModelState.UNHEALTHY})


class Act(StrEnum):
    NOTHING = "nothing"
    START = "start"
    STOP = "stop"
    #: Stop what runs, and start again after the backoff.
    RESTART = "restart"


@dataclass(frozen=True)
class Policy:
    #: The first wait before a restart; each failure in a row doubles it, up to ``max_backoff``.
    backoff_seconds: float = 1.0
    max_backoff: float = 60.0
    #: Failures in a row (crashes, or starts and pings that never answered) that end in ``failed``.
    max_failures: int = 5
    #: Pings a running model may miss in a row before it is restarted.
    missed_pings: int = 3

    def backoff(self, failures: int) -> float:
        """How long to wait before the start that follows the ``failures``-th failure in a row."""
        if failures <= 0:
            return 0.0
        return float(min(self.backoff_seconds * 2 ** (failures - 1), self.max_backoff))


@dataclass(frozen=True)
class Look:
    """What the runtime saw of one model version."""

    wanted: bool
    state: ModelState
    #: The process or container is there (False when none was started, or it exited).
    alive: bool
    #: ``GET /ping`` answered 200 on this look.
    answered: bool
    #: Seconds since its process was started (0 when there is none).
    running_for: float
    #: How long its start may take before /ping must answer.
    start_seconds: float
    failures: int
    missed: int
    #: Seconds until a restart is due (0 or less: due now).
    due_in: float
    exit_code: int | None = None


@dataclass(frozen=True)
class Decision:
    state: ModelState
    act: Act
    failures: int
    missed: int
    message: str | None
    #: Seconds to wait before the next start (for RESTART, and for a start not yet due).
    wait: float = 0.0

    @property
    def gave_up(self) -> bool:
        return self.state is ModelState.FAILED


def decide(look: Look, policy: Policy) -> Decision:
    """What follows one look at a model version."""
    if not look.wanted:
        act = Act.STOP if look.alive else Act.NOTHING
        return Decision(ModelState.STOPPED, act, 0, 0, None)
    if look.state is ModelState.FAILED:
        return Decision(ModelState.FAILED, Act.STOP if look.alive else Act.NOTHING, look.failures, 0, None)
    if not look.alive:
        return _not_running(look, policy)
    if look.answered:
        return Decision(ModelState.HEALTHY, Act.NOTHING, 0, 0, None)
    if look.state is ModelState.STARTING:
        if look.running_for < look.start_seconds:
            return Decision(ModelState.STARTING, Act.NOTHING, look.failures, 0, None)
        why = f"/ping did not answer 200 within {look.start_seconds:g} s of the start"
        return failure(look, policy, why)
    missed = look.missed + 1
    if missed < policy.missed_pings:
        why = f"/ping did not answer ({missed} of {policy.missed_pings} missed)"
        return Decision(ModelState.UNHEALTHY, Act.NOTHING, look.failures, missed, why)
    return failure(look, policy, f"/ping did not answer {missed} times in a row")


def _not_running(look: Look, policy: Policy) -> Decision:
    """Wanted, but nothing runs: start it, once any backoff is over."""
    if look.state is ModelState.STOPPED or (look.state is ModelState.UNHEALTHY and look.due_in <= 0):
        return Decision(ModelState.STARTING, Act.START, look.failures, 0, None)
    if look.state is ModelState.UNHEALTHY:
        return Decision(ModelState.UNHEALTHY, Act.NOTHING, look.failures, 0, None, wait=look.due_in)
    # It was starting or healthy, and its process is gone.
    code = f" with code {look.exit_code}" if look.exit_code is not None else ""
    return failure(look, policy, f"the model's process exited{code}")


def failure(look: Look, policy: Policy, why: str) -> Decision:
    """One more failure in a row (a crash, a start that never answered, or one that could
    not be made): restart after the backoff, or give up at ``max_failures``."""
    failures = look.failures + 1
    if failures >= policy.max_failures:
        message = f"{why}; failed {failures} times in a row, so it is left stopped until started again"
        return Decision(ModelState.FAILED, Act.STOP if look.alive else Act.NOTHING, failures, 0, message)
    wait = policy.backoff(failures)
    message = f"{why}; restarting in {wait:g} s (failure {failures} of {policy.max_failures})"
    return Decision(ModelState.UNHEALTHY, Act.RESTART, failures, 0, message, wait=wait)
