"""The real agent loop against the in-process server: claim, run, deliver, cancel, stop."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from calchub.agent.loop import Agent
from calchub.agent.settings import AgentSettings
from calchub.client import Client
from calchub.testing import FakeExecutor, ServerThread
from tests.integration.helpers import running

NAME = "loop-agent"


@pytest.fixture
def agent_settings(server: ServerThread, made: Any, tmp_path: Path) -> AgentSettings:
    return AgentSettings(
        url=server.url,
        key=made.agent_key,
        root=tmp_path / "agent",
        name=NAME,
        cores=2,
        claim_wait=10,
        prefetch=0,
    )


def _dead(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in {"Z", "X"}  # a zombie no one has reaped yet is dead all the same


def test_a_calculation_runs_and_its_log_and_outputs_are_delivered(
    client: Client, agent_settings: AgentSettings
) -> None:
    async def scenario() -> tuple[Any, Any]:
        executor = FakeExecutor()
        async with running(Agent(agent_settings, executor=executor)):
            calc = await asyncio.to_thread(client.submit, ["simulate"], outputs=["*.json"])
            run = await asyncio.wait_for(executor.started.get(), 10)
            assert (run.job.calc_id, run.job.attempt, run.job.command) == (calc.id, 1, ["simulate"])
            (run.job.workdir / "result.json").write_text('{"energy": -1.5}')
            (run.job.workdir / "scratch.tmp").write_text("not kept")
            run.finish(0, b"step 1\nstep 2\n")
            done = await asyncio.to_thread(client.wait, calc.id, 10)
        return calc, done

    calc, done = asyncio.run(scenario())
    assert (done.state, done.exit_code, done.attempt) == ("completed", 0, 1)
    assert (done.provenance.executor, done.provenance.scheduler_id) == ("fake", f"fake-{calc.id}-1")
    assert done.provenance.workdir == str(agent_settings.root / f"{calc.id}-1")
    assert client.logs(calc.id) == "step 1\nstep 2\n"
    assert [(f.kind, f.path) for f in client.files(calc.id)] == [("output", "result.json")]
    assert [(e.to_state, e.actor) for e in client.events(calc.id)] == [
        ("queued", "user:admin"),
        ("claimed", f"agent:{NAME}"),
        ("running", f"agent:{NAME}"),
        ("completed", f"agent:{NAME}"),
    ]


def test_real_commands_complete_fail_and_run_out_of_time(
    client: Client, agent_settings: AgentSettings, tmp_path: Path
) -> None:
    requests: list[dict[str, Any]] = [
        {
            "name": "ok",
            "command": ["sh", "-c", "tr a-z A-Z < in.txt > out.txt; echo id=$CALCHUB_CALCULATION_ID"],
            "files": [{"path": "in.txt", "content": "hello\n"}],
            "outputs": ["out.txt"],
        },
        {"name": "fails", "command": ["sh", "-c", "echo out; echo oops >&2; exit 3"]},
        {"name": "slow", "command": ["sleep", "30"], "resources": {"walltime": 1}},
        {"name": "missing", "command": ["/no/such/program"]},
    ]

    async def scenario() -> list[Any]:
        async with running(Agent(agent_settings)):
            made = await asyncio.to_thread(client.submit_many, requests)
            return await asyncio.to_thread(client.wait_all, [c.id for c in made], 20)

    ok, fails, slow, missing = asyncio.run(scenario())
    assert (ok.state, ok.exit_code) == ("completed", 0)
    assert client.logs(ok.id) == f"id={ok.id}\n"
    assert client.download(ok.id, tmp_path, "out.txt").read_text() == "HELLO\n"
    assert (fails.state, fails.exit_code, fails.message) == ("failed", 3, "exited with code 3")
    assert (client.logs(fails.id), client.logs(fails.id, "stderr")) == ("out\n", "oops\n")
    assert slow.state == "failed"
    assert "walltime of 1 s" in (slow.message or "")
    assert missing.state == "failed"
    assert "could not start" in (missing.message or "")


def test_cancel_while_running_kills_the_whole_process_group(
    client: Client, agent_settings: AgentSettings
) -> None:
    script = "sleep 30 & echo $! > child.pid; echo started; wait"

    async def scenario() -> tuple[Any, float, str]:
        agent = Agent(agent_settings)
        async with running(agent):
            calc = await asyncio.to_thread(client.submit, ["sh", "-c", script])
            follow = client.follow(calc.id)
            first = await asyncio.to_thread(next, follow)  # the run has started
            await asyncio.to_thread(follow.close)
            (slot,) = agent.slots.values()
            began = time.monotonic()
            await asyncio.to_thread(client.cancel, calc.id, "enough")
            await asyncio.wait_for(asyncio.shield(slot.task), 10)
            took = time.monotonic() - began
            child = (slot.job.workdir / "child.pid").read_text()
        return calc, took, first + "|" + child

    calc, took, seen = asyncio.run(scenario())
    first, child = seen.split("|")
    assert first == "started\n"
    assert took < 5.0, "SIGTERM ends the run at once"
    done = client.get(calc.id)
    assert (done.state, done.message) == ("cancelled", "enough")
    assert done.provenance.scheduler_id is not None
    assert _dead(int(done.provenance.scheduler_id))
    deadline = time.monotonic() + 5
    while not _dead(int(child)) and time.monotonic() < deadline:
        time.sleep(0.05)  # the orphaned child dies by signal; nothing to await from here
    assert _dead(int(child)), "the job's own child was killed with its group"
    assert [e.to_state for e in client.events(calc.id)] == ["queued", "claimed", "running", "cancelled"]


def test_stopping_the_agent_hands_its_run_back_for_a_retry(
    client: Client, agent_settings: AgentSettings
) -> None:
    async def scenario() -> Any:
        executor = FakeExecutor()
        async with running(Agent(agent_settings, executor=executor)):
            calc = await asyncio.to_thread(client.submit, ["simulate"], max_attempts=2)
            await asyncio.wait_for(executor.started.get(), 10)
        return calc

    calc = asyncio.run(scenario())
    again = client.get(calc.id)
    assert (again.state, again.attempt) == ("queued", 1)
    events = client.events(calc.id)
    assert [(e.to_state, e.actor) for e in events] == [
        ("queued", "user:admin"),
        ("claimed", f"agent:{NAME}"),
        ("running", f"agent:{NAME}"),
        ("lost", f"agent:{NAME}"),
        ("queued", "server"),
    ]
    assert events[3].message == "the agent was stopped during the run"
