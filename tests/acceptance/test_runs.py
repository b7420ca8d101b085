"""One calculation's life through the real CLI, server and agent: logs, cancel, walltime, wait, files."""

from __future__ import annotations

import json
import re
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from calchub.client import Client
from tests.acceptance.conftest import CALCHUB, Follower, Site, eventually, pid_alive

pytestmark = pytest.mark.slow


def _gated(gate: Path, before: str, after: str) -> list[str]:
    """A command that prints ``before``, blocks until ``gate`` exists, then prints ``after``."""
    script = f"echo {before}; while [ ! -e '{gate}' ]; do sleep 0.05; done; echo {after}"
    return ["sh", "-c", script]


def _running(client: Client, calc_id: int) -> None:
    # The state has no long-poll of its own; a run's start is awaited by polling.
    eventually(lambda: client.get(calc_id).state == "running", 15, f"calculation {calc_id} to run")


def _submitted_id(done: subprocess.CompletedProcess[str]) -> int:
    found = re.search(r"submitted calculation (\d+)", done.stdout)
    assert found, f"`calchub submit` printed no id: {done.stdout!r} {done.stderr!r}"
    return int(found.group(1))


def test_logs_stream_while_the_run_goes_on(running: Site, tmp_path: Path) -> None:
    client = running.client()
    gate = tmp_path / "go"
    calc_id = client.submit(_gated(gate, "first", "second"), name="chatty").id
    _running(client, calc_id)

    follower = Follower(client, calc_id)
    assert follower.until("first\n") == "first\n"
    assert client.get(calc_id).state == "running", "the stream must deliver while the run goes on"

    gate.touch()
    assert follower.end() == "first\nsecond\n"
    assert client.wait(calc_id, timeout=15).state == "completed"


def test_logs_follow_started_before_the_run_streams_all_of_it(local_site: Site, tmp_path: Path) -> None:
    """`calchub submit` then `calchub logs -f` at once: the run has not begun when the follow does."""
    local_site.env["CALCHUB_ACCESS_LOG"] = "1"
    local_site.start_server()
    client = local_site.client()
    gate = tmp_path / "go"
    calc_id = client.submit(_gated(gate, "first", "second"), name="early").id

    follow = local_site.spawn("logs", [*CALCHUB, "logs", "-f", str(calc_id)])
    # The server has taken the follow request (and chosen the attempt) once it answers it.
    assert local_site.server is not None
    local_site.server.wait_for_line(rf'"GET /api/v1/calculations/{calc_id}/logs\?[^"]*follow=true')
    assert client.get(calc_id).state == "queued"

    local_site.start_agent()
    follow.wait_for_line(r"^first$")
    gate.touch()
    assert follow.wait() == 0, follow.output
    assert follow.lines == ["first", "second"]


def test_cancel_kills_the_whole_process_tree(running: Site, tmp_path: Path) -> None:
    client = running.client()
    shell_pid, child_pid = tmp_path / "sh.pid", tmp_path / "child.pid"
    script = f"echo $$ > '{shell_pid}'; sleep 300 & echo $! > '{child_pid}'; wait"
    calc_id = client.submit(["sh", "-c", script], name="sleeper").id

    def pids() -> tuple[int, int] | None:
        try:
            return int(shell_pid.read_text()), int(child_pid.read_text())
        except (OSError, ValueError):
            return None

    shell, child = eventually(pids, 15, "the run to write its pid files")
    assert pid_alive(shell) and pid_alive(child)

    cancelled = running.cli("cancel", str(calc_id))
    assert cancelled.returncode == 0, cancelled.stderr
    assert f"cancelled {calc_id}" in cancelled.stdout
    eventually(lambda: not pid_alive(shell) and not pid_alive(child), 15, "the sh and its sleep to be killed")

    calc = client.get(calc_id)
    assert calc.state == "cancelled"
    assert calc.provenance.scheduler_id == str(shell)
    assert [e.to_state for e in client.events(calc_id)][-1] == "cancelled"


def test_walltime_kills_a_run_that_overstays(running: Site) -> None:
    client = running.client()
    started = time.monotonic()
    done = running.cli("submit", "--walltime", "1", "--", "sleep", "30")
    calc = client.wait(_submitted_id(done), timeout=20)
    elapsed = time.monotonic() - started

    assert calc.state == "failed"
    assert calc.message and "walltime" in calc.message, calc.message
    assert elapsed < 10, f"a 1 s walltime took {elapsed:.1f} s to end the run"


def test_wait_exit_codes_and_download(running: Site, tmp_path: Path) -> None:
    client = running.client()
    ok = client.submit(["true"], name="ok").id
    bad = client.submit(["sh", "-c", "exit 3"], name="bad").id
    gate = tmp_path / "go"
    slow = client.submit(_gated(gate, "a", "b"), name="slow").id

    mixed = running.cli("wait", str(ok), str(bad))
    assert mixed.returncode == 1, mixed.stdout + mixed.stderr
    assert "failed" in mixed.stdout and "exited with code 3" in mixed.stdout

    fine = running.cli("wait", str(ok))
    assert fine.returncode == 0, fine.stdout + fine.stderr

    started = time.monotonic()
    timed_out = running.cli("wait", "--timeout", "1", str(ok), str(slow))
    assert timed_out.returncode == 2, timed_out.stdout + timed_out.stderr
    assert str(slow) in timed_out.stderr and "unfinished" in timed_out.stderr
    assert time.monotonic() - started < 15
    gate.touch()

    script = "echo result > out.txt; echo scratch > junk.txt"
    made = running.cli("submit", "-o", "out.txt", "--json", "--", "sh", "-c", script)
    assert made.returncode == 0, made.stderr
    with_output = json.loads(made.stdout)["id"]
    assert running.cli("wait", str(with_output), str(slow)).returncode == 0

    dest = tmp_path / "downloads"
    dest.mkdir()
    fetched = running.cli("download", str(with_output), "--dest", str(dest))
    assert fetched.returncode == 0, fetched.stderr
    archive = dest / f"calc-{with_output}.zip"
    assert archive.exists(), fetched.stdout
    with zipfile.ZipFile(archive) as zipped:
        names = zipped.namelist()
        assert f"calc-{with_output}/outputs/out.txt" in names, names
        assert not [n for n in names if n.endswith("junk.txt")], names
        assert zipped.read(f"calc-{with_output}/outputs/out.txt") == b"result\n"


def test_bad_input_is_refused_clearly(local_site: Site) -> None:
    local_site.start_server()
    cases = [
        (["--cluster", "nowhere"], "no cluster named 'nowhere'"),
        (["--memory", "lots"], "memory 'lots'"),
        (["--walltime", "soon"], "walltime 'soon'"),
    ]
    for args, expected in cases:
        done = local_site.cli("submit", *args, "--", "true")
        said = done.stderr
        assert done.returncode != 0, f"{args} was accepted"
        assert expected in said, f"{args}: {said}"
        assert "Traceback" not in said, f"{args}: {said}"
        assert len(said.strip().splitlines()) <= 3, f"{args}: not a short, clear error:\n{said}"
    assert local_site.client().list() == []
