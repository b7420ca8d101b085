"""The Logs page over real HTTP: what each viewer sees, the filters, the live stream, older pages,
and the admins' form that deletes old entries."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from calchub.client import Client
from calchub.server.hub import Hub
from calchub.testing import ServerThread
from tests.integration.helpers import PAGE_PASSWORD

PASSWORD = PAGE_PASSWORD


@pytest.fixture
def people(make_user: Callable[..., Client], client: Client) -> dict[str, Client]:
    client.create_project("optics")
    found = {name: make_user(name, password=PASSWORD) for name in ("alice", "eve")}
    found["mo"] = make_user("mo", password=PASSWORD, role="moderator")
    found["root"] = make_user("root", password=PASSWORD, role="admin")
    client.add_member("optics", "alice")
    return found


@pytest.fixture
def hub(server: ServerThread) -> Hub:
    found: Hub = server.app.state.hub
    return found


def _record(hub: Hub, count: int, kind: str = "test.entry", **fields: Any) -> None:
    """``count`` entries straight through the service, in one transaction."""
    from calchub.server.services import activity

    with hub.uow() as session:
        for n in range(count):
            activity.record(session, kind, f"entry {n}", **fields)


def _optics_id(hub: Hub) -> int:
    from calchub.server.repositories import projects

    with hub.uow() as session:
        project = projects.by_name(session, "optics")
        assert project is not None
        return project.id


def test_each_viewer_sees_their_projects_entries_the_clusters_and_moderators_the_services(
    browser: Callable[[str], httpx.Client], people: dict[str, Client], client: Client, hub: Hub
) -> None:
    client.register_cluster("hpc")  # a cluster's: everyone's
    _record(hub, 1, kind="calculation.failed", level="error", project_id=_optics_id(hub), calculation_id=None)
    _record(hub, 1, kind="user.blocked", actor="user:mo")  # the service's own
    alice, eve, mo = (browser(n).get("/logs").text for n in ("alice", "eve", "mo"))
    for page in (alice, eve, mo):
        assert "cluster.registered" in page and "cluster hpc registered (local) by admin" in page
    assert "calculation.failed" in alice and '<span class="level level-error">error</span>' in alice
    assert "calculation.failed" not in eve and "user.blocked" not in eve and "user.blocked" not in alice
    assert "user.blocked" in mo and "calculation.failed" in mo
    for page in (alice, eve, mo):
        assert "Delete old entries" not in page, "only admins get the form"
        assert 'sse-connect="/logs/stream?after_id=' in page
    assert browser("eve").post("/logs/delete", data={"before": "2000-01-01"}).status_code == 403
    assert "Delete old entries" in browser("root").get("/logs").text


def test_the_dashboard_shows_the_latest_events_each_viewer_may_see(
    browser: Callable[[str], httpx.Client], people: dict[str, Client], client: Client, hub: Hub
) -> None:
    _record(hub, 10, kind="calculation.failed", level="error", project_id=_optics_id(hub))
    alice, eve = (browser(n).get("/").text for n in ("alice", "eve"))
    latest = alice.split('<h2 id="events-h">Latest events</h2>')[1]
    assert latest.count('class="log-entry"') == 8, "the latest 8"
    assert "entry 9<" in latest and "entry 1<" not in latest, "newest first"
    assert '<a href="/logs">All events, live</a>' in latest
    assert "calculation.failed" not in eve, "another project's events are not shown"


def test_every_field_is_labelled_and_filters_answer_htmx_with_the_feed_alone(
    browser: Callable[[str], httpx.Client], people: dict[str, Client], client: Client
) -> None:
    client.register_cluster("hpc")
    client.set_cluster_enabled("hpc", False)
    root = browser("root")
    page = root.get("/logs").text
    fields = re.findall(r'<(?:input|select)[^>]*\bid="([^"]+)"', page)
    assert set(fields) >= {"f-level", "f-source", "f-cluster", "f-kind", "f-q", "purge-before"}
    for field in fields:
        assert f'<label for="{field}">' in page, field
    fragment = root.get("/logs?level=warning", headers={"HX-Request": "true", "HX-Target": "log-feed"}).text
    assert fragment.startswith('<div id="log-feed"') and "<form" not in fragment
    assert "cluster.disabled" in fragment and "cluster.registered" not in fragment
    assert 'sse-connect="/logs/stream?level=warning&amp;after_id=' in fragment, "the stream keeps the filters"
    bad = root.get("/logs?cluster=nowhere&level=loud").text
    assert "Level: the level is one of debug, info, warning, error, not &#39;loud&#39;" in bad


def test_older_entries_come_in_pages_and_the_newest_page_alone_is_live(
    browser: Callable[[str], httpx.Client], people: dict[str, Client], hub: Hub
) -> None:
    _record(hub, 60, cluster=None)
    _record(hub, 1, kind="other.entry")
    mo = browser("mo")
    first = mo.get("/logs?kind=test.").text
    assert first.count('class="log-entry"') == 50 and "other.entry" not in first
    older = re.search(r'href="/logs\?(kind=test\.&amp;before_id=\d+)">Older entries', first)
    assert older, "a link to the next page, with the filters"
    second = mo.get("/logs?" + older.group(1).replace("&amp;", "&")).text
    assert second.count('class="log-entry"') == 10 and "entry 0<" in second
    assert "sse-connect" not in second and 'href="/logs?kind=test.">Back to the newest' in second


def test_the_stream_sends_new_entries_as_rows_and_ends_when_its_viewer_is_blocked(
    browser: Callable[[str], httpx.Client], people: dict[str, Client], client: Client, hub: Hub
) -> None:
    alice = browser("alice")
    client.register_cluster("first")
    newest = int(re.findall(r'id="log-(\d+)"', alice.get("/logs").text)[0])
    client.register_cluster("second")
    with alice.stream("GET", f"/logs/stream?kind=cluster.&after_id={newest}") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        assert next(lines) == "event: entry"
        row = next(lines)
        assert row.startswith(f'data: <tr class="log-entry" id="log-{newest + 1}">')
        chunk = "".join(line for line in _until_blank(lines))
        assert "cluster second registered" in row + chunk and "cluster first" not in row + chunk
        blocking = threading.Timer(0.05, client.block_user, ["alice"])
        blocking.start()
        assert list(lines) == [], "the stream ended, nothing more sent"
    blocking.join()  # its answer may come after the stream ends: the client stays open until then


def _until_blank(lines: Iterator[str]) -> Iterator[str]:
    for line in lines:
        if not line:
            return
        yield line


def test_an_admin_deletes_old_entries_after_confirming_and_bad_dates_are_said_by_the_field(
    browser: Callable[[str], httpx.Client], people: dict[str, Client], client: Client
) -> None:
    client.register_cluster("old-one")
    client.register_cluster("old-two")
    root = browser("root")
    htmx = {"HX-Request": "true"}
    future = root.post("/logs/delete", data={"before": "2999-01-01"}, headers=htmx).text
    assert 'aria-invalid="true"' in future and "2999-01-01 00:00 UTC is in the future" in future
    missing = root.post("/logs/delete", data={"before": ""})
    assert missing.status_code == 422 and "give the date before which entries are deleted" in missing.text
    assert root.post("/logs/delete", data={"before": "soon"}).status_code == 422
    ask = root.post("/logs/delete", data={"before": _now()}, headers=htmx)
    assert "This deletes <strong>2</strong> entries older than" in ask.text
    assert 'name="confirmed" value="yes"' in ask.text and "Yes, delete 2</button>" in ask.text
    assert len(client.log_feed().items) == 2, "asking deleted nothing"
    done = root.post("/logs/delete", data={"before": _now(), "confirmed": "yes"}, headers=htmx).text
    assert re.search(r"Deleted 2 entries older than \d{4}-\d\d-\d\d \d\d:\d\d UTC\.", done)
    assert [e.kind for e in client.log_feed().items] == ["logs.deleted"]


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat()
