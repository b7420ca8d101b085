"""What the model runtime does on each look at a model (domain.models.decide), without a process."""

from __future__ import annotations

import dataclasses

import pytest

from calchub.domain.models import Act, Look, ModelState, Policy, decide

POLICY = Policy(backoff_seconds=1.0, max_backoff=8.0, max_failures=3, missed_pings=2)
RUNNING = Look(
    wanted=True,
    state=ModelState.HEALTHY,
    alive=True,
    answered=True,
    running_for=100.0,
    start_seconds=30.0,
    failures=0,
    missed=0,
    due_in=0.0,
)


def look(**changes: object) -> Look:
    return dataclasses.replace(RUNNING, **changes)  # type: ignore[arg-type]


def test_a_healthy_model_that_answers_stays_healthy_and_is_forgiven_its_failures() -> None:
    decision = decide(look(failures=2, missed=1, state=ModelState.UNHEALTHY), POLICY)
    assert (decision.state, decision.act, decision.failures, decision.missed) == (
        ModelState.HEALTHY,
        Act.NOTHING,
        0,
        0,
    )


def test_a_wanted_stopped_model_is_started_and_an_unwanted_one_stopped() -> None:
    assert decide(look(state=ModelState.STOPPED, alive=False, answered=False), POLICY).act is Act.START
    unwanted = decide(look(wanted=False), POLICY)
    assert (unwanted.state, unwanted.act) == (ModelState.STOPPED, Act.STOP)
    assert decide(look(wanted=False, alive=False), POLICY).act is Act.NOTHING


def test_a_start_has_its_start_seconds_to_answer_and_then_counts_as_a_failure() -> None:
    starting = look(state=ModelState.STARTING, answered=False, running_for=10.0)
    assert decide(starting, POLICY).act is Act.NOTHING
    late = decide(dataclasses.replace(starting, running_for=31.0), POLICY)
    assert (late.state, late.act, late.failures, late.wait) == (ModelState.UNHEALTHY, Act.RESTART, 1, 1.0)
    assert "within 30 s" in (late.message or "")


def test_missed_pings_make_it_unhealthy_then_restarted() -> None:
    first = decide(look(answered=False), POLICY)
    assert (first.state, first.act, first.missed) == (ModelState.UNHEALTHY, Act.NOTHING, 1)
    second = decide(look(answered=False, state=ModelState.UNHEALTHY, missed=1), POLICY)
    assert (second.act, second.failures, second.missed) == (Act.RESTART, 1, 0)
    assert "did not answer 2 times in a row" in (second.message or "")


def test_a_crash_restarts_after_a_backoff_that_doubles_up_to_its_limit() -> None:
    crashed = decide(look(alive=False, answered=False, exit_code=3), POLICY)
    assert (crashed.state, crashed.act, crashed.wait) == (ModelState.UNHEALTHY, Act.RESTART, 1.0)
    assert "exited with code 3" in (crashed.message or "")
    assert [POLICY.backoff(n) for n in range(6)] == [0.0, 1.0, 2.0, 4.0, 8.0, 8.0]


def test_an_unhealthy_model_waits_for_its_backoff_then_starts() -> None:
    waiting = look(state=ModelState.UNHEALTHY, alive=False, answered=False, failures=1, due_in=0.5)
    decision = decide(waiting, POLICY)
    assert (decision.act, decision.wait) == (Act.NOTHING, 0.5)
    assert decide(dataclasses.replace(waiting, due_in=0.0), POLICY).act is Act.START


def test_max_failures_in_a_row_end_in_failed_which_is_left_alone() -> None:
    crashed = decide(look(alive=False, answered=False, failures=2, state=ModelState.STARTING), POLICY)
    assert crashed.gave_up and crashed.act is Act.NOTHING and crashed.failures == 3
    assert "failed 3 times in a row" in (crashed.message or "")
    hung = decide(look(answered=False, state=ModelState.UNHEALTHY, missed=1, failures=2), POLICY)
    assert hung.gave_up and hung.act is Act.STOP
    left = decide(look(state=ModelState.FAILED, alive=False, answered=False, failures=3), POLICY)
    assert (left.state, left.act) == (ModelState.FAILED, Act.NOTHING)


@pytest.mark.parametrize("state", list(ModelState))
def test_every_state_unwanted_ends_stopped(state: ModelState) -> None:
    assert decide(look(wanted=False, state=state), POLICY).state is ModelState.STOPPED
