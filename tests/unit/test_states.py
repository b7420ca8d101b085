"""The transition table of domain.states, walked move by move."""

from __future__ import annotations

import itertools

import pytest

from calchub.domain.states import (
    CANCELLABLE,
    HELD,
    RETRYABLE,
    TERMINAL,
    TRANSITIONS,
    IllegalTransition,
    State,
    can_move,
    check_move,
    is_terminal,
    retry_target,
)

#: The table as the design states it, written out independently of the code.
EXPECTED: dict[State, set[State]] = {
    State.DRAFT: {State.PENDING_APPROVAL, State.QUEUED, State.WAITING, State.CANCELLED},
    State.PENDING_APPROVAL: {State.QUEUED, State.WAITING, State.CANCELLED, State.REJECTED},
    State.WAITING: {State.QUEUED, State.SKIPPED, State.CANCELLED, State.FAILED},
    State.QUEUED: {State.CLAIMED, State.CANCELLED, State.FAILED},
    State.CLAIMED: {State.SUBMITTED, State.RUNNING, State.FAILED, State.CANCELLED, State.LOST},
    State.SUBMITTED: {State.RUNNING, State.FAILED, State.CANCELLED, State.LOST},
    State.RUNNING: {
        State.POSTPROCESSING,
        State.COMPLETED,
        State.INVALID,
        State.FAILED,
        State.CANCELLED,
        State.LOST,
    },
    State.POSTPROCESSING: {State.COMPLETED, State.INVALID, State.FAILED, State.CANCELLED, State.LOST},
    State.COMPLETED: set(),
    # A user's retry: back to the queue, or to the moderators when the project wants approval,
    # or to wait for its parents again when it never ran.
    State.INVALID: {State.QUEUED, State.PENDING_APPROVAL, State.WAITING},
    State.FAILED: {State.QUEUED, State.PENDING_APPROVAL, State.WAITING},
    State.CANCELLED: {State.QUEUED, State.PENDING_APPROVAL, State.WAITING},
    # An ancestor retried: it waits again.
    State.SKIPPED: {State.WAITING},
    State.REJECTED: set(),
    # The retry policy (queued again while attempts are left), or a user's retry.
    State.LOST: {State.QUEUED, State.PENDING_APPROVAL, State.WAITING},
}

PAIRS = list(itertools.product(State, State))
LEGAL = [(a, b) for a, b in PAIRS if b in EXPECTED[a]]
ILLEGAL = [(a, b) for a, b in PAIRS if b not in EXPECTED[a]]


def _id(pair: tuple[State, State]) -> str:
    return f"{pair[0].value}->{pair[1].value}"


def test_the_table_covers_every_state() -> None:
    assert set(TRANSITIONS) == set(State)
    assert {a: set(b) for a, b in TRANSITIONS.items()} == EXPECTED


@pytest.mark.parametrize("pair", LEGAL, ids=_id)
def test_legal_move_is_allowed(pair: tuple[State, State]) -> None:
    current, target = pair
    assert can_move(current, target)
    check_move(current, target)


@pytest.mark.parametrize("pair", ILLEGAL, ids=_id)
def test_illegal_move_raises_naming_what_is_allowed(pair: tuple[State, State]) -> None:
    current, target = pair
    assert not can_move(current, target)
    with pytest.raises(IllegalTransition) as raised:
        check_move(current, target)
    message = str(raised.value)
    assert raised.value.current is current
    assert raised.value.target is target
    assert f"from {current.value!r} to {target.value!r}" in message
    allowed = EXPECTED[current]
    if allowed:
        assert message.endswith(", ".join(sorted(s.value for s in allowed)))
    else:
        assert "none (it is final)" in message


def test_illegal_transition_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        check_move(State.COMPLETED, State.RUNNING)


def test_no_move_to_itself() -> None:
    assert not any(can_move(s, s) for s in State)


def test_terminal_states_have_no_way_out_but_a_retry() -> None:
    for state in TERMINAL - RETRYABLE - {State.SKIPPED}:
        assert not TRANSITIONS[state]
        assert is_terminal(state)
    # A skipped calculation waits again when the ancestor that ended its chain is retried.
    assert TRANSITIONS[State.SKIPPED] == {State.WAITING}
    assert is_terminal(State.SKIPPED)
    for state in RETRYABLE:
        assert TRANSITIONS[state] == {State.QUEUED, State.PENDING_APPROVAL, State.WAITING}
        assert is_terminal(state)
    assert not is_terminal(State.QUEUED)
    assert not is_terminal(State.RUNNING)


def test_retry_is_for_finished_work_that_did_not_complete() -> None:
    assert {State.FAILED, State.CANCELLED, State.INVALID, State.LOST} == RETRYABLE
    assert RETRYABLE <= TERMINAL
    assert State.COMPLETED not in RETRYABLE and State.REJECTED not in RETRYABLE
    # Nothing unfinished can be retried: cancel it first.
    assert not RETRYABLE & CANCELLABLE
    assert retry_target(requires_approval=False) is State.QUEUED
    assert retry_target(requires_approval=True) is State.PENDING_APPROVAL
    # One that waits for others and never ran takes from them again: it waits (after approval).
    assert retry_target(requires_approval=False, waits=True) is State.WAITING
    assert retry_target(requires_approval=True, waits=True) is State.PENDING_APPROVAL
    assert all(can_move(state, retry_target(flag)) for state in RETRYABLE for flag in (False, True))


def test_held_and_cancellable_sets_agree_with_the_table() -> None:
    held_by_agents = {State.CLAIMED, State.SUBMITTED, State.RUNNING, State.POSTPROCESSING}
    assert held_by_agents == HELD
    # Whatever a user may cancel, the table lets move to cancelled; finished work may not be.
    for state in State:
        assert (state in CANCELLABLE) == can_move(state, State.CANCELLED)
    assert not CANCELLABLE & TERMINAL
    # A held calculation can always be lost by its agent.
    assert all(can_move(state, State.LOST) for state in HELD)
