"""The cluster pages and the dashboard's clusters over real HTTP: what each viewer sees and may press,
keys shown once, the agent command, partitions, and the live stream of load."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from calchub.client import Client
from calchub.server.hub import Hub
from calchub.server.services import overview
from calchub.server.settings import Settings
from calchub.server.web import cluster_pages
from calchub.testing import ServerThread
from tests.integration.helpers import PAGE_PASSWORD

PASSWORD = PAGE_PASSWORD
GIB = 2**30


@pytest.fixture
def people(client: Client) -> None:
    client.create_user("ada", password=PASSWORD, role="admin")
    client.create_user("uma", password=PASSWORD)


def heartbeat(server: ServerThread, key: str, agent: str = "node1", **extra: Any) -> httpx.Response:
    body = {"agent": agent, "version": "9.9", "host": f"{agent}.lab", "cores": 16, "running": 3}
    body |= {"cpu_percent": 37.5, "memory_total": 64 * GIB, "memory_available": 48 * GIB} | extra
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.post(f"{server.url}/api/v1/agent/heartbeat", json=body, headers=headers, timeout=10)


def test_the_list_shows_each_clusters_state_and_only_admins_may_add_one(
    browser: Callable[[str], httpx.Client], people: None, server: ServerThread, made: Any, client: Client
) -> None:
    ada, uma = browser("ada"), browser("uma")
    assert "never seen" in uma.get("/clusters").text
    assert heartbeat(server, made.agent_key).status_code == 200
    listing = uma.get("/clusters").text
    assert '<a href="/clusters/local">local</a>' in listing and "cluster-state-online" in listing
    assert "<td>3/16</td>" in listing, "busy and total cores of the live agents"
    assert "Add cluster" not in listing and 'name="executor"' not in listing
    assert uma.post("/clusters", data={"name": "sneaky"}).status_code == 403
    form = ada.get("/clusters").text
    for field in ("cluster-name", "cluster-description", "cluster-executor"):
        assert f'<label for="{field}">' in form, field
    bad = ada.post("/clusters", data={"name": "no spaces", "executor": "slurm"})
    assert bad.status_code == 422 and 'id="cluster-name-error"' in bad.text and "letters, digits" in bad.text
    assert 'value="no spaces"' in bad.text and '<option value="slurm" selected>' in bad.text, "kept"
    same = ada.post("/clusters", data={"name": "local"})
    assert same.status_code == 409 and "exists already" in same.text
    wrong = ada.post("/clusters", data={"name": "x1", "executor": "pbs"})
    assert wrong.status_code == 422 and "choose local or slurm" in wrong.text
    assert [c.name for c in client.clusters()] == ["local"], "nothing half-made"
    added = ada.post(
        "/clusters", data={"name": "hpc1", "description": "group <cluster>", "executor": "slurm"}
    )
    assert (added.status_code, added.headers["location"]) == (303, "/clusters/hpc1")
    hpc1 = client.cluster("hpc1")
    assert (hpc1.executor, hpc1.description, hpc1.enabled) == ("slurm", "group <cluster>", True)
    assert "group &lt;cluster&gt;" in ada.get("/clusters/hpc1").text


def test_a_new_key_is_shown_once_with_the_agent_command_then_rotated_and_revoked(
    browser: Callable[[str], httpx.Client], people: None, server: ServerThread, client: Client
) -> None:
    client.register_cluster("hpc1", "", "slurm")
    ada = browser("ada")
    before = ada.get("/clusters/hpc1").text
    assert f"calchub agent --url {server.url} --key KEY --executor slurm" in before
    assert "No keys" in before
    made = ada.post("/clusters/hpc1/keys")
    assert made.status_code == 201 and made.headers["cache-control"] == "no-store"
    (key,) = client.agent_keys("hpc1")
    secret = made.text.split('id="issued-key" readonly value="')[1].split('"')[0]
    assert secret.startswith(f"{key.prefix}") and len(secret) > len(key.prefix) + 10
    assert f"calchub agent --url {server.url} --key {secret} --executor slurm" in made.text
    assert heartbeat(server, secret, "login1").status_code == 200, "the key works"
    again = ada.get("/clusters/hpc1").text
    assert secret not in again, "shown once, never again"
    assert f"Revoke key {key.id}</button>" in again and '<label for="grace-' in again
    rotated = ada.post(f"/clusters/hpc1/keys/{key.id}/rotate", data={"grace_minutes": "30"})
    assert rotated.status_code == 201
    new_secret = rotated.text.split('id="issued-key" readonly value="')[1].split('"')[0]
    assert new_secret != secret and f"--key {new_secret}" in rotated.text
    old, new = client.agent_keys("hpc1")
    assert old.expires_at is not None and old.revoked_at is None and new.expires_at is None
    assert "works until" in ada.get("/clusters/hpc1").text
    revoked = ada.post(f"/clusters/hpc1/keys/{old.id}/revoke")
    assert (revoked.status_code, revoked.headers["location"]) == (303, "/clusters/hpc1#keys")
    assert heartbeat(server, secret, "login1").status_code == 401, "the revoked key is refused"
    assert heartbeat(server, new_secret, "login1").status_code == 200
    assert "revoked" in ada.get("/clusters/hpc1").text


def test_users_see_the_cluster_but_no_admin_button_and_their_posts_are_refused(
    browser: Callable[[str], httpx.Client], people: None, client: Client, made: Any
) -> None:
    uma = browser("uma")
    page = uma.get("/clusters/local").text
    assert "Cluster local" in page and "--key KEY" in page and "An admin gives you a key" in page
    for button in ("Create key", "Revoke key", "Rotate key", "Disable</button>", "Agent keys"):
        assert button not in page, button
    (key,) = client.agent_keys("local")
    for path, data in (
        ("/clusters/local/keys", {}),
        (f"/clusters/local/keys/{key.id}/rotate", {"grace_minutes": "0"}),
        (f"/clusters/local/keys/{key.id}/revoke", {}),
        ("/clusters/local/enabled", {"enabled": "false"}),
    ):
        assert uma.post(path, data=data).status_code == 403, path
    assert client.cluster("local").enabled and [k.revoked_at for k in client.agent_keys("local")] == [None]
    assert uma.get("/clusters/nowhere").status_code == 404


def test_an_admin_disables_and_enables_a_cluster_from_its_page(
    browser: Callable[[str], httpx.Client], people: None, client: Client
) -> None:
    ada = browser("ada")
    assert "Disable</button>" in ada.get("/clusters/local").text
    assert ada.post("/clusters/local/enabled", data={"enabled": "false"}).status_code == 303
    assert not client.cluster("local").enabled
    page = ada.get("/clusters/local").text
    assert "Enable</button>" in page and "cluster-state-disabled" in page
    assert ada.post("/clusters/local/enabled", data={"enabled": "true"}).status_code == 303
    assert client.cluster("local").enabled


def test_the_partition_table_joins_the_slurm_settings_and_what_agents_report(
    browser: Callable[[str], httpx.Client], people: None, server: ServerThread, client: Client
) -> None:
    client.register_cluster("hpc1", "", "slurm", {"partitions": ["short", "gpu"], "account": "lab42"})
    secret = client.issue_agent_key("hpc1").key
    partitions = [
        {"name": "short", "state": "up", "default": True, "nodes_total": 10, "nodes_idle": 4,
         "cpus_total": 320, "cpus_idle": 128, "time_limit": "4:00:00"},
        {"name": "debug", "state": "up", "nodes_total": 2, "nodes_idle": 2,
         "cpus_total": 64, "cpus_idle": 64},
    ]  # fmt: skip
    assert heartbeat(server, secret, "login1", executor="slurm", partitions=partitions).status_code == 200
    page = browser("uma").get("/clusters/hpc1").text
    table = page.split('<table class="partitions">')[1].split("</table>")[0]
    rows = [r.split("</tr>")[0] for r in table.split("<tr>")[2:]]
    assert [r.split("<td>")[1].split("</td>")[0] for r in rows] == ["short", "gpu", "debug"]
    assert "<td>yes</td><td>yes</td>" in rows[0] and "<td>4/10</td><td>128/320</td>" in rows[0]
    assert "not reported by an agent yet" in rows[1]
    assert "<td>debug</td><td>no</td>" in rows[2], "Slurm has it, but users may not choose it"
    assert "Account <code>lab42</code>" in page


def _events(lines: Iterator[str], wanted: set[str]) -> dict[str, str]:
    """Read server-sent events until each of ``wanted`` has come; the data of each (its lines joined)."""
    found: dict[str, str] = {}
    name = ""
    for line in lines:
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
            found[name] = ""
        elif line.startswith("data: "):
            found[name] = (found[name] + "\n" if found[name] else "") + line.removeprefix("data: ")
        elif line == "" and wanted <= found.keys():
            return found
    pytest.fail(f"the stream ended before {wanted - found.keys()}")


@pytest.fixture
def eager(monkeypatch: pytest.MonkeyPatch) -> None:
    """Streams send each snapshot at once, not at most one each few seconds."""
    monkeypatch.setattr(cluster_pages, "EVERY_SECONDS", 0.0)


def test_a_cluster_pages_stream_sends_the_load_again_when_a_sample_is_written(
    browser: Callable[[str], httpx.Client], people: None, server: ServerThread, made: Any, eager: None
) -> None:
    uma = browser("uma")
    with uma.stream("GET", "/clusters/local/live?hours=1") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        first = _events(lines, {"load", "status"})
        assert (
            first["load"] == '{"local": ' + first["load"].split(": ", 1)[1]
            and '"agents": []' in first["load"]
        )
        assert "No agent has sent a heartbeat yet" in first["status"]
        assert (
            heartbeat(server, made.agent_key, "node7").status_code == 200
        )  # an agent's first beat: a sample
        second = _events(lines, {"load", "status"})
    assert '"agent": "node7"' in second["load"] and '"cpu_percent": 37.5' in second["load"]
    assert "node7.lab" in second["status"] and "cluster-state-online" in second["status"]
    assert uma.get("/clusters/nowhere/live").status_code == 404


def test_the_dashboard_streams_every_clusters_cards_and_load(
    browser: Callable[[str], httpx.Client],
    people: None,
    server: ServerThread,
    made: Any,
    client: Client,
    eager: None,
) -> None:
    client.register_cluster("hpc1", "", "slurm")
    hpc1 = client.cluster("hpc1")
    uma = browser("uma")
    with uma.stream("GET", "/live/clusters?hours=6") as stream:
        lines = stream.iter_lines()
        first = _events(lines, {"load", f"status-{hpc1.id}", "rows"})
        assert '"hpc1": {"cluster": "hpc1"' in first["load"] and "never seen" in first[f"status-{hpc1.id}"]
        assert heartbeat(server, client.issue_agent_key("hpc1").key, "login1").status_code == 200
        second = _events(lines, {"load", f"status-{hpc1.id}"})
    assert "3/16 cores busy" in second[f"status-{hpc1.id}"] and '"agent": "login1"' in second["load"]


def test_the_dashboard_draws_each_cluster_from_one_query_whatever_the_number_of_rows(
    browser: Callable[[str], httpx.Client],
    people: None,
    server: ServerThread,
    made: Any,
    client: Client,
    settings: Settings,
) -> None:
    """Counted on an engine of its own: the server's also serves its lease reaper meanwhile."""
    hub = Hub.from_settings(settings)
    statements: list[str] = []
    event.listen(hub.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))

    def counted(token: str) -> int:
        caller = hub.user_for(token)
        statements.clear()
        with hub.uow() as session:
            overview.overview(session, caller, timedelta(seconds=settings.lease_seconds))
        return len(statements)

    try:
        with Client(server.url, "chu_placeholder") as own:
            token = own.login("uma", PASSWORD, days=1).token
            own.submit(["true"], name="first")
            few = counted(token)
            for n in range(4):
                client.register_cluster(f"site{n}", "", "local")
                heartbeat(server, client.issue_agent_key(f"site{n}").key, f"agent{n}")
            for n in range(12):
                own.submit(["true"], name=f"calc-{n}", cluster=f"site{n % 4}")
            many = counted(token)
    finally:
        hub.engine.dispose()
    assert many == few, f"no query per cluster, agent or calculation: {statements}"
    page = browser("uma").get("/").text
    assert page.count('class="cluster-card"') == 5 and 'id="cluster-loads"' in page
    assert '"cluster": "site3"' in page and '"agent": "agent3"' in page
