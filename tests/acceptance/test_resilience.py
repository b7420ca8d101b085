"""Processes die and come back: a killed agent, a restarted server, a server gone mid-run."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from calchub.client import Client
from tests.acceptance.conftest import Site, eventually, pid_alive

pytestmark = pytest.mark.slow


def _states(client: Client, calc_id: int) -> list[tuple[int, str]]:
    return [(e.attempt, e.to_state.value) for e in client.events(calc_id)]


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text())
    except (OSError, ValueError):
        return None


def test_killed_agent_loses_its_run_and_a_new_agent_runs_attempt_two(running: Site, tmp_path: Path) -> None:
    client = running.client()
    script = (
        f"echo $$ > '{tmp_path}/pid-'$CALCHUB_ATTEMPT; echo attempt $CALCHUB_ATTEMPT began; "
        f"while [ ! -e '{tmp_path}/gate-'$CALCHUB_ATTEMPT ]; do sleep 0.05; done; "
        "echo attempt $CALCHUB_ATTEMPT done"
    )
    calc_id = client.submit(["sh", "-c", script], name="survivor", max_attempts=2).id
    first = eventually(lambda: _read_pid(tmp_path / "pid-1"), 15, "attempt 1 to start")
    eventually(lambda: client.get(calc_id).state == "running", 15, "the server to know attempt 1 runs")

    assert running.agent is not None
    os.killpg(running.agent.pid, signal.SIGKILL)
    running.agent.wait()
    assert pid_alive(first), "the run is its own session: it outlives its agent"

    def lost_then_queued() -> bool:
        return [s for s in _states(client, calc_id) if s[1] in {"lost", "queued"}][-2:] == [
            (1, "lost"),
            (1, "queued"),
        ]

    eventually(lost_then_queued, 15, "the lapsed lease to mark attempt 1 lost and queue it again")
    assert client.get(calc_id).state == "queued"

    running.start_agent()
    second = eventually(lambda: _read_pid(tmp_path / "pid-2"), 15, "attempt 2 to start")
    assert second != first

    # The orphan of attempt 1 finishes while attempt 2 runs: nothing it does may count.
    (tmp_path / "gate-1").touch()
    eventually(lambda: not pid_alive(first), 10, "the orphaned attempt 1 to end")
    (tmp_path / "gate-2").touch()

    calc = client.wait(calc_id, timeout=20)
    assert (calc.state, calc.attempt, calc.exit_code) == ("completed", 2, 0)
    assert _states(client, calc_id) == [
        (0, "queued"),
        (1, "claimed"),
        (1, "running"),
        (1, "lost"),
        (1, "queued"),
        (2, "claimed"),
        (2, "running"),
        (2, "completed"),
    ]
    assert client.logs(calc_id) == "attempt 2 began\nattempt 2 done\n"
    assert "done" not in client.logs(calc_id, attempt=1)


def test_server_restart_loses_nothing(site: Site) -> None:
    site.up()
    client = site.client()
    commands = [["echo", str(n)] for n in range(4)] + [["sh", "-c", "echo oops >&2; exit 3"]]
    ids = [client.submit(c, name=f"calc-{n}").id for n, c in enumerate(commands)]
    done = client.wait_all(ids, timeout=60)
    assert [c.state.value for c in done] == ["completed"] * 4 + ["failed"]

    before = [client.get(i) for i in ids]
    events_before = {i: client.events(i) for i in ids}
    logs_before = {i: (client.logs(i), client.logs(i, "stderr")) for i in ids}
    listed_before = site.cli_json("ls")

    site.stop_server()
    site.start_server()

    assert [client.get(i) for i in ids] == before
    assert {i: client.events(i) for i in ids} == events_before
    assert {i: (client.logs(i), client.logs(i, "stderr")) for i in ids} == logs_before
    assert site.cli_json("ls") == listed_before

    # The agent outlived the restart and takes new work from the new server.
    after = client.submit(["echo", "after"], name="after").id
    assert client.wait(after, timeout=30).state == "completed"
    assert client.logs(after) == "after\n"


def test_server_stopped_mid_run_gets_the_result_once(running: Site, tmp_path: Path) -> None:
    client = running.client()
    gate = tmp_path / "go"
    script = f"echo begun; while [ ! -e '{gate}' ]; do sleep 0.05; done; echo ended; echo 42 > answer.txt"
    calc_id = client.submit(["sh", "-c", script], name="outlives", outputs=["answer.txt"]).id
    eventually(lambda: client.get(calc_id).state == "running", 15, "the run to start")
    assert running.agent is not None
    agent_pid = running.agent.pid

    running.stop_server()
    gate.touch()
    # The run ends while the server is away: the agent keeps its report in the spool.
    running.agent.wait_for_line(r"delivery postponed", timeout=20)
    assert running.agent.alive()

    running.start_server()
    calc = client.wait(calc_id, timeout=30)
    assert (calc.state, calc.attempt, calc.exit_code) == ("completed", 1, 0)
    assert [s for _, s in _states(client, calc_id)] == ["queued", "claimed", "running", "completed"]
    assert client.logs(calc_id) == "begun\nended\n"
    assert [f.path for f in client.files(calc_id) if f.kind == "output"] == ["answer.txt"]
    assert running.agent.alive() and running.agent.pid == agent_pid
    spool = running.home / "work" / ".spool"
    eventually(lambda: not any(spool.glob("*.json")), 10, "the agent to empty its spool")
