"""What an agent and the server say to each other, spoken by AgentClient with the cluster's key."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
import zipfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from calchub.client import BadRequest, Client, Conflict, NotFound
from calchub.client.agent import AgentClient
from calchub.contracts.agents import Heartbeat, Report, ReportBatch
from calchub.server.settings import Settings
from calchub.testing import ServerThread
from tests.integration.helpers import AGENT, claim, held, outcome, report

Scenario = Callable[[AgentClient], Awaitable[Any]]


@pytest.fixture
def as_agent(server: ServerThread, made: Any) -> Callable[[Scenario], Any]:
    """Run ``scenario(agent_client)`` in a fresh event loop, with the bootstrap agent key."""

    def run(scenario: Scenario, key: str | None = None) -> Any:
        async def main() -> Any:
            agent = AgentClient(server.url, key or made.agent_key)
            try:
                return await scenario(agent)
            finally:
                await agent.close()

        return asyncio.run(main())

    return run


def _beat(*pairs: tuple[int, int], name: str = AGENT) -> Heartbeat:
    return Heartbeat(
        agent=name, version="test", host="node-1", cores=8, running=len(pairs), held=held(*pairs)
    )


def test_a_heartbeat_records_the_clusters_status(client: Client, as_agent: Callable[..., Any]) -> None:
    assert client.cluster("local").last_heartbeat is None
    reply = as_agent(lambda agent: agent.heartbeat(_beat()))
    assert (reply.lease_seconds, reply.heartbeat_seconds) == (2.0, 0.5)
    assert reply.cancel == [] and reply.released == []
    cluster = client.cluster("local")
    assert cluster.last_heartbeat is not None
    status = cluster.status["agents"][AGENT]
    assert (status["host"], status["cores"], status["version"], status["held"]) == ("node-1", 8, "test", 0)
    as_agent(lambda agent: agent.heartbeat(_beat(name="agent-2")))
    assert set(client.cluster("local").status["agents"]) == {AGENT, "agent-2"}


def test_claim_gives_the_best_work_first(client: Client, as_agent: Callable[..., Any]) -> None:
    low = client.submit(["true"], name="low")
    high = client.submit(["true"], name="high", priority=10)
    mid = client.submit(["true"], name="mid", priority=5)
    high2 = client.submit(["true"], name="high2", priority=10)
    first = as_agent(lambda agent: claim(agent, max_count=3))
    assert [a.id for a in first.calculations] == [high.id, high2.id, mid.id]
    assert {a.attempt for a in first.calculations} == {1}
    assert first.lease_seconds == 2.0
    rest = as_agent(lambda agent: claim(agent))
    assert [a.id for a in rest.calculations] == [low.id]
    assert as_agent(lambda agent: claim(agent)).calculations == []
    claimed = client.get(high.id)
    assert (claimed.state, claimed.attempt) == ("claimed", 1)
    last = client.events(high.id)[-1]
    assert (last.from_state, last.to_state, last.actor, last.attempt) == (
        "queued",
        "claimed",
        f"agent:{AGENT}",
        1,
    )


def test_claim_takes_only_what_fits_in_the_free_cores(client: Client, as_agent: Callable[..., Any]) -> None:
    big = client.submit(["true"], name="big", priority=10, resources={"cores": 4})
    small = [client.submit(["true"], resources={"cores": 1}) for _ in range(3)]
    got = as_agent(lambda agent: claim(agent, cores=2))
    assert [a.id for a in got.calculations] == [small[0].id, small[1].id]
    assert client.get(big.id).state == "queued"
    assert as_agent(lambda agent: claim(agent, cores=0)).calculations == []
    assert as_agent(lambda agent: claim(agent, cores=8, max_count=0)).calculations == []
    got = as_agent(lambda agent: claim(agent, cores=8))
    assert [(a.id, a.resources.cores) for a in got.calculations] == [(big.id, 4), (small[2].id, 1)]


def test_claim_hands_over_the_command_and_input_files(
    client: Client, as_agent: Callable[..., Any], tmp_path: Path
) -> None:
    calc = client.submit(
        ["sh", "-c", "cat in.txt"],
        env={"A": "1"},
        outputs=["*.out"],
        files={"in.txt": "hello"},
        resources={"walltime": 60, "memory": "1M"},
    )
    target = tmp_path / "work" / "in.txt"

    async def scenario(agent: AgentClient) -> None:
        (assignment,) = (await claim(agent)).calculations
        assert (assignment.command, assignment.env, assignment.outputs) == (
            ["sh", "-c", "cat in.txt"],
            {"A": "1"},
            ["*.out"],
        )
        assert (assignment.resources.walltime, assignment.resources.memory) == (60, 1024**2)
        assert [(f.path, f.size, f.kind) for f in assignment.files] == [("in.txt", 5, "input")]
        await agent.fetch_input(calc.id, assignment.attempt, "in.txt", target)
        with pytest.raises(NotFound):
            await agent.fetch_input(calc.id, assignment.attempt, "other.txt", tmp_path / "other.txt")
        with pytest.raises(Conflict):
            await agent.fetch_input(calc.id, assignment.attempt + 1, "in.txt", tmp_path / "late.txt")

    as_agent(scenario)
    assert target.read_bytes() == b"hello"


def test_a_waiting_claim_returns_when_work_is_submitted_or_its_wait_is_over(
    client: Client, as_agent: Callable[..., Any]
) -> None:
    async def scenario(agent: AgentClient) -> tuple[float, float, list[int], int]:
        started = time.monotonic()
        assert (await claim(agent, wait=0.4)).calculations == []
        idle = time.monotonic() - started
        started = time.monotonic()
        waiting = asyncio.create_task(claim(agent, wait=20))
        await asyncio.sleep(0.3)  # let the claim find nothing and park; no event tells us it has
        assert not waiting.done()
        calc = await asyncio.to_thread(client.submit, ["true"])
        reply = await waiting
        return idle, time.monotonic() - started, [a.id for a in reply.calculations], calc.id

    idle, took, ids, calc_id = as_agent(scenario)
    assert 0.4 <= idle < 5.0
    assert ids == [calc_id]
    assert 0.3 <= took < 5.0, "the claim was woken by the submission, not by its 20 s timeout"


def test_reports_move_the_state_once(client: Client, as_agent: Callable[..., Any]) -> None:
    calc = client.submit(["true"])

    async def scenario(agent: AgentClient) -> list[str]:
        (a,) = (await claim(agent)).calculations
        seen = [
            await outcome(
                agent, calc.id, a.attempt, "running", host="node-1", workdir="/w", scheduler_id="42"
            ),
            await outcome(agent, calc.id, a.attempt, "running"),
            await outcome(agent, calc.id, a.attempt, "completed", exit_code=0),
            await outcome(agent, calc.id, a.attempt, "completed", exit_code=0),
            await outcome(agent, calc.id, a.attempt, "running"),
        ]
        return seen

    assert as_agent(scenario) == ["applied", "duplicate", "applied", "duplicate", "duplicate"]
    done = client.get(calc.id)
    assert (done.state, done.exit_code, done.attempt) == ("completed", 0, 1)
    assert done.started_at is not None and done.finished_at is not None
    assert done.started_at <= done.finished_at
    assert (done.provenance.host, done.provenance.workdir, done.provenance.scheduler_id) == (
        "node-1",
        "/w",
        "42",
    )
    assert [(e.to_state, e.actor) for e in client.events(calc.id)] == [
        ("queued", "user:admin"),
        ("claimed", f"agent:{AGENT}"),
        ("running", f"agent:{AGENT}"),
        ("completed", f"agent:{AGENT}"),
    ]


def test_a_failed_run_keeps_its_exit_code_and_message(client: Client, as_agent: Callable[..., Any]) -> None:
    calc = client.submit(["false"])

    async def scenario(agent: AgentClient) -> str:
        (a,) = (await claim(agent)).calculations
        await outcome(agent, calc.id, a.attempt, "running")
        return await outcome(agent, calc.id, a.attempt, "failed", exit_code=3, message="exited with code 3")

    assert as_agent(scenario) == "applied"
    failed = client.get(calc.id)
    assert (failed.state, failed.exit_code, failed.message) == ("failed", 3, "exited with code 3")


def test_stale_and_rejected_reports_change_nothing(
    client: Client, as_agent: Callable[..., Any], made: Any
) -> None:
    calc = client.submit(["true"], max_attempts=3)
    client.register_cluster("other")
    other_key = client.issue_agent_key("other").key

    async def scenario(agent: AgentClient) -> dict[str, Any]:
        (first,) = (await claim(agent)).calculations
        illegal = await report(agent, calc.id, 1, "postprocessing")
        queued = await outcome(agent, calc.id, 1, "queued")
        lost = await outcome(agent, calc.id, 1, "lost", message="node died")
        (second,) = (await claim(agent)).calculations
        old = await outcome(agent, calc.id, first.attempt, "running")
        future = await outcome(agent, calc.id, second.attempt + 1, "running")
        stranger = await outcome(agent, calc.id, second.attempt, "running", name="someone-else")
        unknown = await outcome(agent, 999, 1, "running")
        return {
            "illegal": illegal.results[0],
            "queued": queued,
            "lost": lost,
            "second": second.attempt,
            "old": old,
            "future": future,
            "stranger": stranger,
            "unknown": unknown,
        }

    seen = as_agent(scenario)
    assert seen["illegal"].outcome == "rejected"
    assert "from 'claimed' it may go to" in (seen["illegal"].detail or "")
    assert (seen["queued"], seen["lost"], seen["second"]) == ("rejected", "applied", 2)
    assert (seen["old"], seen["future"], seen["stranger"], seen["unknown"]) == (
        "stale",
        "stale",
        "stale",
        "rejected",
    )

    async def from_another_cluster(agent: AgentClient) -> str:
        return await outcome(agent, calc.id, 2, "running")

    assert as_agent(from_another_cluster, key=other_key) == "rejected"
    now = client.get(calc.id)
    assert (now.state, now.attempt) == ("claimed", 2)
    assert [(e.to_state, e.attempt) for e in client.events(calc.id)] == [
        ("queued", 0),
        ("claimed", 1),
        ("lost", 1),
        ("queued", 1),
        ("claimed", 2),
    ]


def test_a_batch_of_reports_answers_each_in_order(client: Client, as_agent: Callable[..., Any]) -> None:
    a, b = client.submit(["true"]), client.submit(["true"])

    async def scenario(agent: AgentClient) -> list[tuple[int, str]]:
        await claim(agent)
        at = datetime.now(UTC)
        reports = [
            Report(id=b.id, attempt=1, state="running", at=at),
            Report(id=a.id, attempt=1, state="running", at=at),
            Report(id=a.id, attempt=1, state="running", at=at),
            Report(id=b.id, attempt=1, state="completed", at=at, exit_code=0),
            Report(id=a.id, attempt=9, state="completed", at=at),
        ]
        reply = await agent.report(ReportBatch(agent=AGENT, reports=reports))
        return [(r.id, r.outcome) for r in reply.results]

    assert as_agent(scenario) == [
        (b.id, "applied"),
        (a.id, "applied"),
        (a.id, "duplicate"),
        (b.id, "applied"),
        (a.id, "stale"),
    ]
    assert (client.get(a.id).state, client.get(b.id).state) == ("running", "completed")


def test_logs_are_appended_at_offsets_and_read_back(client: Client, as_agent: Callable[..., Any]) -> None:
    calc = client.submit(["true"])

    async def scenario(agent: AgentClient) -> list[int]:
        (a,) = (await claim(agent)).calculations
        sizes = [
            await agent.append_log(calc.id, a.attempt, "stdout", 0, b"hello "),
            await agent.append_log(calc.id, a.attempt, "stdout", 6, b"world\n"),
            await agent.append_log(calc.id, a.attempt, "stdout", 0, b"hello "),  # a resent chunk
            await agent.append_log(calc.id, a.attempt, "stderr", 0, b"warning\n"),
        ]
        with pytest.raises(Conflict, match="gap"):
            await agent.append_log(calc.id, a.attempt, "stdout", 100, b"lost?")
        with pytest.raises(Conflict):
            await agent.append_log(calc.id, a.attempt + 1, "stdout", 0, b"not yet")
        with pytest.raises(NotFound):
            await agent.append_log(999, 1, "stdout", 0, b"nobody")
        with pytest.raises(BadRequest):
            await agent.append_log(calc.id, a.attempt, "stdlog", 0, b"x")
        return sizes

    assert as_agent(scenario) == [6, 12, 12, 8]
    assert client.logs(calc.id) == "hello world\n"
    assert client.logs(calc.id, "stderr") == "warning\n"
    assert client.logs(calc.id, attempt=1) == "hello world\n"
    with pytest.raises(NotFound):
        client.logs(calc.id, attempt=2)


def test_outputs_are_uploaded_with_their_sha256_and_downloadable(
    client: Client, as_agent: Callable[..., Any], tmp_path: Path
) -> None:
    calc = client.submit(["true"], files={"in.txt": "input"})
    result = tmp_path / "result.json"
    result.write_bytes(b'{"energy": -1.5}\n')
    table = tmp_path / "table.csv"
    table.write_bytes(b"a,b\n1,2\n" * 1000)

    async def scenario(agent: AgentClient) -> list[Any]:
        (a,) = (await claim(agent)).calculations
        await agent.append_log(calc.id, a.attempt, "stdout", 0, b"ran\n")
        first = await agent.upload(calc.id, a.attempt, "result.json", result)
        second = await agent.upload(calc.id, a.attempt, "data/table.csv", table)
        again = await agent.upload(calc.id, a.attempt, "result.json", result)  # a resend replaces
        with pytest.raises(Conflict):
            await agent.upload(calc.id, a.attempt + 1, "late.txt", result)
        return [first, second, again]

    first, second, again = as_agent(scenario)
    assert first.sha256 == hashlib.sha256(result.read_bytes()).hexdigest() == again.sha256
    assert (second.size, second.kind) == (table.stat().st_size, "output")
    listed = {(f.kind, f.path): f for f in client.files(calc.id)}
    assert set(listed) == {("input", "in.txt"), ("output", "result.json"), ("output", "data/table.csv")}
    assert listed[("output", "data/table.csv")].sha256 == hashlib.sha256(table.read_bytes()).hexdigest()
    down = tmp_path / "down"
    down.mkdir()
    got = client.download(calc.id, down, "data/table.csv")
    assert got == down / "table.csv" and got.read_bytes() == table.read_bytes()
    archive = client.download(calc.id, down)
    assert archive == down / f"calc-{calc.id}.zip"
    with zipfile.ZipFile(archive) as zipped:
        prefix = f"calc-{calc.id}/"
        assert sorted(zipped.namelist()) == sorted(
            prefix + name
            for name in ["inputs/in.txt", "outputs/result.json", "outputs/data/table.csv", "logs/stdout"]
        )
        assert zipped.read(prefix + "outputs/result.json") == result.read_bytes()
        assert zipped.read(prefix + "logs/stdout") == b"ran\n"
    assert client.get(calc.id).files == client.files(calc.id)


def test_a_heartbeat_or_claim_names_what_was_cancelled(client: Client, as_agent: Callable[..., Any]) -> None:
    keep, stop = client.submit(["true"]), client.submit(["true"])

    async def scenario(agent: AgentClient) -> tuple[Any, Any, float, Any, str]:
        await claim(agent)
        waiting = asyncio.create_task(
            claim(agent, wait=20, max_count=0, held=held((keep.id, 1), (stop.id, 1)))
        )
        started = time.monotonic()
        await asyncio.sleep(0.3)  # parked; the cancel below must wake it
        await asyncio.to_thread(client.cancel, stop.id)
        woken = await waiting
        took = time.monotonic() - started
        beat = await agent.heartbeat(_beat((keep.id, 1), (stop.id, 1)))
        late = await outcome(agent, stop.id, 1, "completed", exit_code=0)
        again = await claim(agent, held=held((keep.id, 1)))
        return woken, beat, took, again, late

    woken, beat, took, again, late = as_agent(scenario)
    assert [(h.id, h.attempt) for h in woken.cancel] == [(stop.id, 1)]
    assert took < 5.0
    assert [(h.id, h.attempt) for h in beat.cancel] == [(stop.id, 1)]
    assert [(h.id, h.attempt) for h in beat.released] == [(stop.id, 1)]
    assert again.cancel == [] and again.calculations == []
    assert late == "stale"
    assert client.get(stop.id).state == "cancelled"
    assert client.get(keep.id).state == "claimed"


@pytest.mark.settings(lease_seconds=1.5, heartbeat_seconds=0.25)
def test_a_lapsed_lease_loses_the_run_and_a_retry_queues_it_again(
    client: Client, as_agent: Callable[..., Any]
) -> None:
    retried = client.submit(["true"], name="retried", max_attempts=2)
    once = client.submit(["true"], name="once", max_attempts=1)
    alive = client.submit(["true"], name="alive")

    async def scenario(agent: AgentClient) -> tuple[Any, Any, Any]:
        claimed = await claim(agent)
        assert len(claimed.calculations) == 3
        stop = asyncio.Event()

        async def keep_alive() -> None:  # only `alive` is renewed
            while not stop.is_set():
                await agent.heartbeat(_beat((alive.id, 1)))
                await asyncio.sleep(0.2)

        beating = asyncio.create_task(keep_alive())
        try:
            # Parked until the server queues the lost `retried` again.
            again = await claim(agent, wait=20, held=held((alive.id, 1)))
            lost = await asyncio.to_thread(client.wait, once.id, 10)
            stale = await agent.heartbeat(_beat((alive.id, 1), (retried.id, 1)))
        finally:
            stop.set()
            await beating
        return again, lost, stale

    again, lost, stale = as_agent(scenario)
    assert [(a.id, a.attempt) for a in again.calculations] == [(retried.id, 2)]
    assert again.cancel == []
    assert (lost.state, lost.attempt) == ("lost", 1)
    assert "lapsed" in (lost.message or "")
    assert [(h.id, h.attempt) for h in stale.released] == [(retried.id, 1)]
    assert client.get(alive.id).state == "claimed", "heartbeats kept its lease"
    events = client.events(retried.id)
    assert [(e.to_state, e.attempt, e.actor) for e in events] == [
        ("queued", 0, "user:admin"),
        ("claimed", 1, f"agent:{AGENT}"),
        ("lost", 1, "server"),
        ("queued", 1, "server"),
        ("claimed", 2, f"agent:{AGENT}"),
    ]
    assert events[3].message == "retry: attempt 2 of 2"
    assert [e.to_state for e in client.events(once.id)] == ["queued", "claimed", "lost"]


def test_a_claim_whose_agent_hung_up_neither_takes_work_nor_holds_the_server(
    client: Client, settings: Settings, made: Any
) -> None:
    with ServerThread(settings) as second:

        async def scenario() -> None:
            agent = AgentClient(second.url, made.agent_key)
            waiting = asyncio.create_task(claim(agent, wait=30))
            await asyncio.sleep(0.3)  # parked
            waiting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiting
            await agent.close()

        asyncio.run(scenario())
        with Client(second.url, made.token) as via_second:
            calc = via_second.submit(["true"])  # wakes the parked claim, if it still waits
        began = time.monotonic()
    assert time.monotonic() - began < 5.0, "the server stopped without waiting out the 30 s claim"
    assert client.get(calc.id).state == "queued"
