"""The calculation page over real HTTP: its buttons for each viewer, retry, delete, the copy link,
resources, the scheduler's reason, result tables, and the timeline as it grows."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from calchub.client import Client
from calchub.client.errors import NotFound
from calchub.contracts.results import ResultSet, Scalar, Table
from calchub.server.settings import Settings
from calchub.testing import ServerThread
from tests.integration.helpers import PAGE_PASSWORD, HandAgent

PASSWORD = PAGE_PASSWORD
RETRY = "Retry</button>"
DELETE = "Delete for good</button>"
STREAM = re.compile(r'sse-connect="([^"]+)"')
EVENT_IDS = re.compile(r'<li id="event-(\d+)"')


@pytest.fixture
def team(client: Client, make_user: Callable[..., Client]) -> dict[str, Client]:
    """alice owns the work in `lab`; bob is a plain member of it; mo is a moderator."""
    client.create_project("lab")
    found = {name: make_user(name, password=PASSWORD) for name in ("alice", "bob")}
    found["mo"] = make_user("mo", password=PASSWORD, role="moderator")
    for name in ("alice", "bob"):
        client.add_member("lab", name)
    return found


@pytest.fixture
def agent(server: ServerThread, made: Any) -> HandAgent:
    return HandAgent(server.url, made.agent_key)


def _stream_of(page: str) -> str:
    found = STREAM.search(page)
    assert found, "the page is not live"
    return html.unescape(found.group(1))


def _until(lines: Iterator[str], event: str) -> str:
    """Read server-sent events up to and including the whole ``event``."""
    read: list[str] = []
    seen = False
    for line in lines:
        read.append(line)
        seen = seen or line == f"event: {event}"
        if seen and line == "":
            return "\n".join(read)
    pytest.fail(f"the stream ended before a {event!r} event: {read}")


def test_retry_and_delete_are_offered_exactly_to_those_who_may_press_them(
    browser: Callable[..., httpx.Client], team: dict[str, Client], agent: HandAgent
) -> None:
    calc = team["alice"].submit(["simulate"], project="lab")
    url = f"/calculations/{calc.id}"
    alice = browser("alice")
    queued = alice.get(url).text
    assert "Cancel</button>" in queued and RETRY not in queued and DELETE not in queued
    agent.run(calc.id, "failed", exit_code=3, message="exited with code 3")
    token = team["alice"].create_token("notebook", scope="read").token
    viewers = {"alice": alice, "bob": browser("bob"), "mo": browser("mo")}
    pages = {name: http.get(url).text for name, http in viewers.items()}
    assert {n for n, p in pages.items() if RETRY in p} == {"alice"}, "bob and mo may not"
    assert {n for n, p in pages.items() if DELETE in p} == {"alice"}
    assert f'action="/calculations/{calc.id}/retry"' in pages["alice"]
    assert (
        f'action="/calculations/{calc.id}/delete"' in pages["alice"]
        and "<summary>Delete…</summary>" in pages["alice"]
    )
    clone = f'<a href="/calculations/new?from={calc.id}">Run again as a copy</a>'
    assert {n for n, p in pages.items() if clone in p} == {"alice", "bob", "mo"}, "anyone who may submit"
    for name in ("bob", "mo"):
        forged = viewers[name].post(f"{url}/retry")
        assert forged.status_code == 403, name
        assert "only its owner, the managers of its project and admins can retry" in forged.text
    # A personal token is no page session, even put in the cookie by hand: sign in first.
    for button in ("retry", "delete", "cancel"):
        refused = browser(token=token).post(f"{url}/{button}")
        assert refused.status_code == 303 and refused.headers["location"].startswith("/login?next="), button
    assert team["alice"].get(calc.id).state == "failed", "nothing changed"


def test_retry_from_the_page_runs_the_next_attempt_and_a_refusal_says_why(
    browser: Callable[..., httpx.Client], team: dict[str, Client], agent: HandAgent
) -> None:
    done = team["alice"].submit(["true"], project="lab")
    agent.run(done.id, "completed", exit_code=0)
    calc = team["alice"].submit(["simulate"], project="lab", max_attempts=1)
    agent.run(calc.id, "failed", log="first attempt\n", exit_code=3, message="exited with code 3")
    alice = browser("alice")
    url = f"/calculations/{calc.id}"
    answer = alice.post(f"{url}/retry")
    assert (answer.status_code, answer.headers["location"]) == (303, url)
    retried = team["alice"].get(calc.id)
    assert (retried.state, retried.attempt, retried.max_attempts) == ("queued", 1, 2)
    page = alice.get(url).text
    assert RETRY not in page and "Cancel</button>" in page
    assert "<summary>Log of attempt 1</summary>" in page and "first attempt" in page
    stream = _stream_of(page)
    assert "attempt=2&offset=0" in stream, "the page follows the next attempt from its start"
    again = alice.post(f"{url}/retry")
    assert again.status_code == 409 and "Not now" in again.text
    assert f"calculation {calc.id} is queued and has not finished" in again.text
    completed = alice.post(f"/calculations/{done.id}/retry")
    assert completed.status_code == 409
    assert "only failed, cancelled, invalid or lost calculations can be retried" in completed.text
    # The next attempt runs and fails; the stream the page opened carries it, and not the first.
    second = agent.claim(calc.id)
    agent.report(calc.id, second, "running")
    agent.log(calc.id, second, "second attempt\n")
    agent.report(calc.id, second, "failed", exit_code=4, message="exited with code 4")
    events = alice.get(stream).text
    assert "data: second attempt" in events and "first attempt" not in events
    assert events.endswith("event: end\ndata: failed\n\n")
    assert "exited with code 4" in events and "claimed by agent-1" in events, "the new timeline entries"
    assert f'action="/calculations/{calc.id}/retry"' in events, "the buttons of the failed state"


def test_delete_from_the_page_removes_a_finished_calculation_and_its_files(
    browser: Callable[..., httpx.Client], team: dict[str, Client], settings: Settings
) -> None:
    calc = team["alice"].submit(type="shell", inputs={"script": "echo hi"}, project="lab")
    stored = settings.resolved_storage_dir() / "calcs" / str(calc.id)
    assert any(p.is_file() for p in stored.rglob("*")), "its script is stored"
    alice = browser("alice")
    early = alice.post(f"/calculations/{calc.id}/delete")
    assert early.status_code == 409 and "cancel it before deleting it" in early.text
    team["alice"].cancel(calc.id)
    assert browser("bob").post(f"/calculations/{calc.id}/delete").status_code == 403
    gone = alice.post(f"/calculations/{calc.id}/delete")
    assert (gone.status_code, gone.headers["location"]) == (303, "/calculations")
    assert alice.get(f"/calculations/{calc.id}").status_code == 404
    with pytest.raises(NotFound):
        team["alice"].get(calc.id)
    assert not stored.exists()


@pytest.mark.settings(lease_seconds=60.0)
def test_resources_the_schedulers_reason_and_result_tables(
    browser: Callable[..., httpx.Client], team: dict[str, Client], client: Client, server: ServerThread
) -> None:
    client.register_cluster("hpc", "a Slurm cluster", executor="slurm", slurm={"partitions": ["gpu"]})
    hpc = HandAgent(server.url, client.issue_agent_key("hpc").key)
    resources = {"nodes": 2, "tasks": 4, "cores": 8, "gpus": 1, "memory": "2G", "memory_per": "cpu"}
    resources |= {"walltime": "1:30:00", "partition": "gpu", "qos": "high"}
    calc = team["alice"].submit(["simulate"], project="lab", cluster="hpc", resources=resources)
    attempt = hpc.claim(calc.id, gpus=1)
    hpc.report(calc.id, attempt, "submitted", scheduler_id="1234", message="pending in the queue: Resources")
    alice = browser("alice")
    url = f"/calculations/{calc.id}"
    page = alice.get(url).text
    assert '<dd>1234 · reason: <span class="reason">Resources</span></dd>' in page
    rows = dict(re.findall(r'<tr><th scope="row">([^<]+)</th><td>([^<]*)</td></tr>', page))
    expected = {"nodes": "2", "tasks": "4", "cores": "8 per task", "GPUs": "1", "memory": "2G per CPU"}
    expected |= {"walltime": "1:30:00", "partition": "gpu", "QOS": "high"}
    assert expected.items() <= rows.items()
    hpc.report(calc.id, attempt, "running")
    running = alice.get(url).text
    assert "<dd>1234</dd>" in running and "reason:" not in running, "it waits no more"
    assert "pending in the queue" not in running.split('<dl class="facts">')[0], "no stale message"
    assert team["alice"].get(calc.id).message is None, "the API tells no stale reason either"
    table = Table(
        name="trace",
        columns=["t", "energy", "note"],
        units=["s", "eV"],
        rows=[[i, i / 2, None] for i in range(120)],
    )
    found = ResultSet(scalars=[Scalar(name="gap", value=1.1, unit="eV")], tables=[table])
    hpc.report(calc.id, attempt, "completed", exit_code=0, results=found)
    done = alice.get(url).text
    assert '<h3 id="table-trace-h">trace</h3>' in done
    assert '<th scope="col">t [s]</th><th scope="col">energy [eV]</th><th scope="col">note</th>' in done
    assert "<tr><td>49</td><td>24.5</td><td></td></tr>" in done and "<td>50</td>" not in done
    assert "50 of 120 rows" in done
    assert f'<a href="/calculations/{calc.id}/tables/trace.csv" download>' in done
    csv = alice.get(f"{url}/tables/trace.csv")
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.splitlines()
    assert (len(lines), lines[0], lines[-1]) == (121, "t [s],energy [eV],note", "119,59.5,")
    assert alice.get(f"{url}/tables/nothing.csv").status_code == 404
    assert browser("mo").get(f"{url}/tables/trace.csv").status_code == 200, "moderators see every project"


def test_standard_error_is_shown_and_grows_live_beside_the_log(
    browser: Callable[..., httpx.Client], team: dict[str, Client], agent: HandAgent
) -> None:
    calc = team["alice"].submit(["simulate"], project="lab")
    attempt = agent.claim(calc.id)
    agent.report(calc.id, attempt, "running")
    agent.log(calc.id, attempt, "step 1\n")
    agent.log(calc.id, attempt, "warning: <slow> convergence\n", stream="stderr")
    alice = browser("alice")
    page = alice.get(f"/calculations/{calc.id}").text
    assert '<h3 id="stderr-h">Standard error</h3>' in page
    assert "warning: &lt;slow&gt; convergence" in page, "shown, and escaped"
    stream = _stream_of(page)
    assert "&offset=7&error_offset=28&" in stream, "each log goes on from what the page shows"
    with alice.stream("GET", stream) as answer:
        lines = answer.iter_lines()
        _until(lines, "actions")
        agent.log(calc.id, attempt, "error: diverged\n", stream="stderr", offset=28)
        grown = _until(lines, "stderr")
        agent.report(calc.id, attempt, "failed", exit_code=2, message="exited with code 2")
        rest = _until(lines, "end")
    assert "event: stderr\ndata: error: diverged" in grown and "warning" not in grown, "only what it gained"
    assert "event: log" not in grown + rest, "stdout did not grow"
    done = alice.get(f"/calculations/{calc.id}").text
    assert "warning: &lt;slow&gt; convergence\nerror: diverged" in done


def test_the_live_stream_adds_timeline_entries_as_they_happen(
    browser: Callable[..., httpx.Client], team: dict[str, Client]
) -> None:
    calc = team["alice"].submit(["simulate"], project="lab")
    alice = browser("alice")
    page = alice.get(f"/calculations/{calc.id}").text
    shown = set(EVENT_IDS.findall(page))
    stream = _stream_of(page)
    assert f"after={max(map(int, shown))}" in stream, "the stream goes on from the page's last entry"
    with alice.stream("GET", stream) as answer:
        lines = answer.iter_lines()
        first = _until(lines, "actions")
        assert "event: event" not in first, "nothing new yet"
        assert 'event: state\ndata: <span class="state state-queued">' in first
        team["alice"].cancel(calc.id, "no longer needed")
        rest = _until(lines, "end")
    added = EVENT_IDS.findall(rest)
    assert len(added) == 1 and added[0] not in shown
    assert "event: event\ndata: <li id=" in rest and "no longer needed" in rest
    assert '<span class="state state-cancelled">cancelled</span>' in rest
    assert RETRY in rest and "Cancel</button>" not in rest.split("event: actions")[1], "the new buttons"
    without = alice.get(f"/calculations/{calc.id}/log/stream").text
    assert "event: event" not in without, "a stream asked without `after` sends no timeline"
