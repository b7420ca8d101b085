"""A scientist's first hour: `calchub up`, submit through every door, stop, come back."""

from __future__ import annotations

import json
import re
import signal
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from tests.acceptance.conftest import CALCHUB, Proc, Site, eventually, pid_alive

pytestmark = pytest.mark.slow


def _stop_up(up_proc: Proc, children: list[int], sig: int = signal.SIGINT) -> None:
    up_proc.send(sig)
    code = up_proc.wait()
    assert code in (0, 130), f"`calchub up` exited with {code} after signal {sig}:\n{up_proc.output}"
    for pid in children:
        eventually(lambda pid=pid: not pid_alive(pid), 5, f"child {pid} of `calchub up` to be gone")


def _children(pid: int) -> list[int]:
    """The server and agent that `calchub up` started."""

    def both() -> list[int]:
        found = psutil.Process(pid).children()
        return [p.pid for p in found] if len(found) == 2 else []

    return eventually(both, 10, "`calchub up` to have started a server and an agent")


def test_up_submit_wait_logs_show_then_stop_and_come_back(site: Site) -> None:
    up = site.spawn("up", [*CALCHUB, "up", "--port", str(site.port)])
    up.wait_for_line(r"calchub is up at")
    first_run = up.output
    assert "calchub login" in first_run and "password" in first_run, first_run
    assert (site.home / "client.json").exists() and (site.home / "agent.json").exists()
    children = _children(up.pid)

    submitted = site.cli("submit", "--", "echo", "hello")
    assert submitted.returncode == 0, submitted.stderr
    found = re.search(r"submitted calculation (\d+)", submitted.stdout)
    assert found, submitted.stdout
    calc_id = found.group(1)

    waited = site.cli("wait", calc_id)
    assert waited.returncode == 0, waited.stdout + waited.stderr
    assert "completed" in waited.stdout

    logs = site.cli("logs", calc_id)
    assert logs.returncode == 0, logs.stderr
    assert logs.stdout == "hello\n"

    listed = site.cli_json("ls")
    assert [(c["id"], c["state"]) for c in listed] == [(int(calc_id), "completed")]

    shown = site.cli_json("show", calc_id)
    assert shown["state"] == "completed" and shown["exit_code"] == 0
    provenance = shown["provenance"]
    for key in ("host", "workdir", "agent_version", "scheduler_id"):
        assert provenance.get(key), f"provenance lacks {key}: {provenance}"
    assert Path(provenance["workdir"]).is_relative_to(site.home)
    assert [e["to_state"] for e in shown["events"]] == ["queued", "claimed", "running", "completed"]

    human = site.cli("show", calc_id)
    assert human.returncode == 0 and "completed" in human.stdout, human.stdout + human.stderr

    _stop_up(up, children)
    assert not pid_alive(up.pid)

    again = site.spawn("up", [*CALCHUB, "up", "--port", str(site.port)])
    again.wait_for_line(r"calchub is up at")
    assert "first run" not in again.output, again.output
    children = _children(again.pid)
    assert site.cli_json("show", calc_id) == shown
    assert site.cli("logs", calc_id).stdout == "hello\n"
    # As `kill`, systemd or a container runtime would stop it: SIGTERM must not orphan the children.
    _stop_up(again, children, signal.SIGTERM)


def test_submit_through_cli_client_and_http(site: Site) -> None:
    site.up()
    client = site.client()

    by_cli = site.cli("submit", "--name", "by-cli", "--json", "--", "echo", "from the cli")
    assert by_cli.returncode == 0, by_cli.stderr
    cli_id = json.loads(by_cli.stdout)["id"]

    client_id = client.submit(["echo", "from the client"], name="by-client").id

    response = httpx.post(
        f"{site.url}/api/v1/calculations",
        json={"name": "by-http", "command": [sys.executable, "-c", "print('from http')"]},
        headers={"Authorization": f"Bearer {site.token}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    http_id = response.json()["id"]

    done = client.wait_all([cli_id, client_id, http_id], timeout=60)
    assert [(c.name, c.state.value, c.exit_code) for c in done] == [
        ("by-cli", "completed", 0),
        ("by-client", "completed", 0),
        ("by-http", "completed", 0),
    ]
    assert [client.logs(i) for i in (cli_id, client_id, http_id)] == [
        "from the cli\n",
        "from the client\n",
        "from http\n",
    ]
    assert {c.owner for c in done} == {"admin"}
