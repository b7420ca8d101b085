"""Retrying a calculation: the next attempt runs, the last one's log stays, and the rules hold."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from calchub.agent.loop import Agent
from calchub.agent.settings import AgentSettings
from calchub.cli.app import app
from calchub.client import Client
from calchub.client.errors import Conflict, Forbidden, NotFound
from calchub.server.settings import Settings
from calchub.testing import FakeExecutor, ServerThread
from tests.integration.helpers import running


@pytest.fixture
def team(client: Client, make_user: Callable[..., Client]) -> dict[str, Client]:
    """alice owns the work in `lab`; bob is a member, carol its manager, eve an outsider, mo a moderator."""
    client.create_project("lab")
    found = {name: make_user(name) for name in ("alice", "bob", "carol", "eve")}
    found["mo"] = make_user("mo", role="moderator")
    for name in ("alice", "bob"):
        client.add_member("lab", name)
    client.add_member("lab", "carol", role="manager")
    return found


def test_a_failed_run_is_retried_as_its_next_attempt_and_its_first_log_stays(
    server: ServerThread, made: Any, tmp_path: Path, team: dict[str, Client]
) -> None:
    alice = team["alice"]
    settings = AgentSettings(
        url=server.url, key=made.agent_key, root=tmp_path / "agent", name="a1", cores=1, prefetch=0
    )
    agent = Agent(settings, executor=FakeExecutor())
    executor = agent.executor
    assert isinstance(executor, FakeExecutor)

    async def scenario() -> tuple[Any, Any]:
        async with running(agent):
            calc = await asyncio.to_thread(alice.submit, ["simulate"], project="lab", max_attempts=1)
            first = await asyncio.wait_for(executor.started.get(), 10)
            first.finish(3, b"first attempt\n")
            failed = await asyncio.to_thread(alice.wait, calc.id, 10)
            retried = await asyncio.to_thread(alice.retry, calc.id)
            second = await asyncio.wait_for(executor.started.get(), 10)
            assert (second.job.calc_id, second.job.attempt) == (calc.id, 2)
            second.finish(0, b"second attempt\n")
            done = await asyncio.to_thread(alice.wait, calc.id, 10)
        return (failed, retried), done

    (failed, retried), done = asyncio.run(scenario())
    assert (failed.state, failed.attempt, failed.exit_code) == ("failed", 1, 3)
    assert (retried.state, retried.attempt, retried.max_attempts) == ("queued", 1, 2), "limit raised"
    assert (retried.exit_code, retried.finished_at, retried.message) == (None, None, None)
    assert (done.state, done.attempt, done.exit_code) == ("completed", 2, 0)
    assert alice.logs(done.id, attempt=1) == "first attempt\n"
    assert alice.logs(done.id) == "second attempt\n"
    events = [(e.attempt, e.from_state, e.to_state, e.actor) for e in alice.events(done.id)]
    assert (1, "failed", "queued", "user:alice") in events
    retry_event = next(e for e in alice.events(done.id) if e.from_state == "failed")
    assert retry_event.message == f"retried by alice: attempt 2 of 2 (attempt 1 was job fake-{done.id}-1)"


def test_who_may_retry_and_what_can_be_retried(client: Client, team: dict[str, Client]) -> None:
    alice = team["alice"]
    calc = alice.submit(["true"], project="lab", name="mine")
    with pytest.raises(Conflict, match=f"calculation {calc.id} is queued and has not finished"):
        alice.retry(calc.id)
    alice.cancel(calc.id)
    with pytest.raises(NotFound, match=f"no calculation {calc.id}"):
        team["eve"].retry(calc.id)
    with pytest.raises(Forbidden, match="only its owner, the managers of its project and admins can retry"):
        team["bob"].retry(calc.id)
    with pytest.raises(Forbidden):
        team["mo"].retry(calc.id)
    assert alice.get(calc.id).state == "cancelled", "a refused retry changes nothing"
    assert team["carol"].retry(calc.id).state == "queued", "a manager of the project may"
    client.cancel(calc.id)
    assert client.retry(calc.id).state == "queued", "and an admin"


@pytest.mark.parametrize(
    ("ended", "retried"), [("invalid", True), ("lost", True), ("completed", False), ("rejected", False)]
)
def test_invalid_and_lost_work_may_be_retried_completed_and_rejected_not(
    settings: Settings, team: dict[str, Client], ended: str, retried: bool
) -> None:
    from calchub.server.db.tables import Calculation
    from calchub.server.hub import Hub

    calc = team["alice"].submit(["true"], project="lab")
    hub = Hub.from_settings(settings)
    try:
        with hub.uow() as session:
            row = session.get(Calculation, calc.id)
            assert row is not None
            row.state = ended
    finally:
        hub.engine.dispose()
    if retried:
        assert team["alice"].retry(calc.id).state == "queued"
        return
    with pytest.raises(Conflict, match=f"is {ended}; only failed, cancelled, invalid or lost calculations"):
        team["alice"].retry(calc.id)


def test_a_retry_goes_through_the_quotas_and_to_approval_like_a_submission(
    client: Client, team: dict[str, Client]
) -> None:
    alice = team["alice"]
    client.create_project("small", quotas={"max_queued": 1}, requires_approval=True)
    client.add_member("small", "alice")
    first = alice.submit(["true"], project="small")
    alice.cancel(first.id)
    waiting = alice.submit(["true"], project="small")
    events_before = len(alice.events(first.id))
    with pytest.raises(Conflict, match="max_queued quota of project 'small'") as refused:
        alice.retry(first.id)
    assert refused.value.field == "quota.max_queued"
    assert alice.get(first.id).state == "cancelled" and len(alice.events(first.id)) == events_before
    alice.cancel(waiting.id)
    again = alice.retry(first.id)
    assert again.state == "pending_approval", "the project approves each run"
    assert "project 'small' approves each run" in (again.message or "")
    assert team["mo"].approve(first.id).state == "queued"


def test_the_cli_retries_several(server: ServerThread, team: dict[str, Client]) -> None:
    alice = team["alice"]
    ids = [alice.submit(["true"], project="lab").id for _ in range(2)]
    for calc_id in ids:
        alice.cancel(calc_id)
    env = {"CALCHUB_URL": server.url, "CALCHUB_TOKEN": alice.create_token("cli").token, "COLUMNS": "200"}
    result = CliRunner().invoke(app, ["retry", *map(str, ids)], env=env)
    assert result.exit_code == 0, result.output
    assert f"retried {ids[0]}" in result.output and f"retried {ids[1]}" in result.output
    assert {alice.get(i).state for i in ids} == {"queued"}
    refused = CliRunner().invoke(app, ["retry", str(ids[0])], env=env)
    assert refused.exit_code != 0 and "has not finished" in refused.output
