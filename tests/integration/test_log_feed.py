"""The log feed over real HTTP, on SQLite and PostgreSQL: events recorded by real actions, who sees
which, the filters and pages, following it live, and deleting old entries."""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event

from calchub.client import Client, Forbidden, NotFound
from calchub.client.agent import AgentClient
from calchub.contracts.activity import LogEntry
from calchub.contracts.agents import Heartbeat
from calchub.server.hub import Hub
from calchub.testing import ServerThread
from tests.integration.helpers import AGENT, call, claim, report

PASSWORD = "a feed password"


@pytest.fixture
def people(make_user: Callable[..., Client], client: Client) -> dict[str, Client]:
    """alice and bob in project optics, eve in no group project, mo a moderator, and the admin."""
    client.create_project("optics")
    found = {name: make_user(name, password=PASSWORD) for name in ("alice", "bob", "eve")}
    found["mo"] = make_user("mo", password=PASSWORD, role="moderator")
    for name in ("alice", "bob"):
        client.add_member("optics", name)
    found["admin"] = client
    return found


@pytest.fixture
def agent_run(server: ServerThread, made: Any) -> Callable[..., Any]:
    """``agent_run(lambda agent: ...)``: run a coroutine with an AgentClient of cluster ``local``."""

    def run(scenario: Callable[[AgentClient], Any]) -> Any:
        async def main() -> Any:
            agent = AgentClient(server.url, made.agent_key)
            try:
                return await scenario(agent)
            finally:
                await agent.close()

        return asyncio.run(main())

    return run


def kinds(client: Client, **filters: Any) -> list[str]:
    return [e.kind for e in client.log_feed(**filters).items]


def beat(version: str = "1.0", name: str = AGENT) -> Heartbeat:
    return Heartbeat(agent=name, version=version, host="node-1", cores=8, running=0)


def test_an_admins_changes_to_a_cluster_and_its_keys_are_in_everyones_feed(
    people: dict[str, Client],
) -> None:
    admin = people["admin"]
    admin.register_cluster("hpc", executor="slurm")
    admin.set_cluster_enabled("hpc", False)
    admin.set_cluster_enabled("hpc", False)  # no change, nothing to tell
    admin.set_cluster_enabled("hpc", True)
    admin.configure_slurm("hpc", {"partitions": ["short"]})
    key = admin.issue_agent_key("hpc")
    rotated = admin.rotate_key("hpc", key.id, grace_minutes=5)
    admin.revoke_agent_key("hpc", rotated.id)
    expected = [
        "key.revoked",
        "key.rotated",
        "key.created",
        "cluster.changed",
        "cluster.enabled",
        "cluster.disabled",
        "cluster.registered",
    ]
    for viewer in ("eve", "alice", "mo", "admin"):  # a cluster's entries are everyone's
        assert kinds(people[viewer], cluster="hpc") == expected, viewer
    entries = people["eve"].log_feed(cluster="hpc").items
    assert {(e.actor, e.cluster, e.project, e.source) for e in entries} == {
        ("user:admin", "hpc", None, "server")
    }
    assert entries[0].level == "warning" and entries[0].message.startswith(
        f"cluster hpc: agent key {rotated.id}"
    )
    assert "the old one stops in 5 minutes" in entries[1].message and entries[1].data == {
        "old": key.id,
        "new": rotated.id,
        "grace_minutes": 5,
    }
    assert entries[5].level == "warning" and entries[5].message == "cluster hpc disabled by admin"


def test_an_agent_is_told_of_when_first_seen_back_from_silence_or_upgraded_and_else_costs_nothing(
    server: ServerThread, people: dict[str, Client], agent_run: Callable[..., Any]
) -> None:
    hub: Hub = server.app.state.hub
    agent_run(lambda agent: agent.heartbeat(beat()))
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(hub.engine, "before_cursor_execute", seen)
    try:
        agent_run(lambda agent: agent.heartbeat(beat()))
    finally:
        event.remove(hub.engine, "before_cursor_execute", seen)
    assert statements and not any("log_entries" in s for s in statements), "a routine heartbeat"
    _silent_since(hub, timedelta(hours=1))
    agent_run(lambda agent: agent.heartbeat(beat()))
    agent_run(lambda agent: agent.heartbeat(beat("2.0")))
    entries = people["eve"].log_feed(source="agent").items
    assert [e.kind for e in entries] == ["agent.upgraded", "agent.back", "agent.connected"]
    upgraded, back, connected = entries
    assert connected.message == f"agent {AGENT} on node-1 connected: 8 cores, local, version 1.0"
    assert (
        back.message.startswith(f"agent {AGENT} on node-1 is back after 36")
        and "s of silence" in back.message
    )
    assert upgraded.message == f"agent {AGENT} on node-1 now runs version 2.0 (was 1.0)"
    assert {(e.cluster, e.actor) for e in entries} == {("local", f"agent:{AGENT}")}


def _silent_since(hub: Hub, ago: timedelta) -> None:
    """As if the agent's last heartbeat came ``ago``."""
    from calchub.server.repositories import clusters

    with hub.uow() as session:
        cluster = clusters.by_name(session, "local")
        assert cluster is not None
        agents = dict(cluster.status["agents"])
        agents[AGENT] = {**agents[AGENT], "at": (datetime.now(UTC) - ago).isoformat()}
        cluster.status = {**cluster.status, "agents": agents}


def test_a_failed_calculation_is_in_its_projects_feed_and_no_one_elses(
    people: dict[str, Client], agent_run: Callable[..., Any]
) -> None:
    failing = people["alice"].submit(["false"], project="optics", name="doomed")
    odd = people["alice"].submit(["true"], project="optics", name="odd")

    async def scenario(agent: AgentClient) -> None:
        claimed = await claim(agent)
        assert {c.id for c in claimed.calculations} == {failing.id, odd.id}
        await report(agent, failing.id, 1, "failed", exit_code=3, message="exit code 3")
        refused = await report(agent, odd.id, 1, "postprocessing")  # claimed cannot go there
        assert refused.results[0].outcome == "rejected"
        assert (await report(agent, 999_999, 1, "running")).results[0].outcome == "rejected"

    agent_run(scenario)
    for viewer in ("alice", "bob", "mo", "admin"):
        found = people[viewer].log_feed(kind="calculation.")
        assert [(e.kind, e.calculation_id, e.project) for e in found.items] == [
            ("calculation.failed", failing.id, "optics")
        ], viewer
    failed = people["bob"].log_feed(kind="calculation.").items[0]
    assert (failed.level, failed.source, failed.actor, failed.cluster) == (
        "error",
        "agent",
        f"agent:{AGENT}",
        "local",
    )
    assert failed.message == f"calculation {failing.id} failed: exit code 3"
    assert failed.data == {"attempt": 1, "exit_code": 3}
    eve = people["eve"]
    assert eve.log_feed(kind="calculation.").items == []
    assert eve.log_feed(calculation=failing.id).items == [], (
        "another project's calculation has no entries for her"
    )
    # A refused report: of a calculation of this cluster, for its project; of no such one, the cluster's.
    assert [e.calculation_id for e in people["bob"].log_feed(kind="agent.report-refused").items] == [
        None,
        odd.id,
    ]
    assert [e.message for e in eve.log_feed(kind="agent.report-refused").items] == [
        f"agent {AGENT}: a report of running was refused: no calculation 999999 on cluster 'local'"
    ]


@pytest.mark.settings(lease_seconds=1.0, heartbeat_seconds=0.25)
def test_a_lapsed_lease_is_told_to_the_cluster_and_the_lost_calculation_to_its_project(
    people: dict[str, Client], agent_run: Callable[..., Any]
) -> None:
    lost = people["alice"].submit(["sleep", "60"], project="optics", max_attempts=1)
    agent_run(lambda agent: claim(agent))
    assert people["alice"].wait(lost.id, 15).state == "lost"  # the reaper; no heartbeat renewed it
    mine = people["bob"].log_feed(level="warning").items
    assert [(e.kind, e.calculation_id) for e in mine] == [
        ("lease.lapsed", None),
        ("calculation.lost", lost.id),
    ]
    assert (
        mine[0].message == f"agent {AGENT} went silent: the leases of 1 calculations lapsed (0 queued again)"
    )
    assert (
        mine[1].message == f"calculation {lost.id} lost: lease held by {AGENT} lapsed; the agent went silent"
    )
    assert [e.kind for e in people["eve"].log_feed(level="warning").items] == ["lease.lapsed"]


def test_filters_pick_by_level_source_kind_cluster_words_and_time_and_pages_go_by_id(
    people: dict[str, Client], agent_run: Callable[..., Any]
) -> None:
    admin = people["admin"]
    for name in ("c-one", "c-two", "c_100"):
        admin.register_cluster(name)
    admin.set_cluster_enabled("c-one", False)
    agent_run(lambda agent: agent.heartbeat(beat()))
    eve = people["eve"]
    assert kinds(eve, level="warning") == ["cluster.disabled"]
    assert kinds(eve, source="agent") == ["agent.connected"]
    assert kinds(eve, kind="cluster.r") == ["cluster.registered"] * 3
    assert kinds(eve, kind="cluster.%") == [], "the kind is a prefix, not a pattern"
    assert kinds(eve, cluster="c-two") == ["cluster.registered"]
    assert [e.cluster for e in eve.log_feed(search="C_10").items] == ["c_100"], "words, case ignored"
    assert kinds(eve, search="c%o") == [] and kinds(eve, search="c_t") == [], "% and _ are no wildcards"
    everything = eve.log_feed().items
    assert [e.id for e in everything] == sorted((e.id for e in everything), reverse=True)
    first, second = eve.log_feed(limit=2), None
    assert first.older == first.items[-1].id
    second = eve.log_feed(limit=2, before_id=first.older)
    assert [e.id for e in first.items + second.items] == [e.id for e in everything[:4]]
    oldest = everything[-1]
    newer = eve.log_feed(after_id=oldest.id, limit=2)
    assert [e.id for e in newer.items] == [everything[-3].id, everything[-2].id], "the next two, newest first"
    assert newer.older is None
    later = oldest.at + timedelta(microseconds=1)
    assert oldest.id not in [e.id for e in eve.log_feed(since=later).items]
    assert [e.id for e in eve.log_feed(before=later).items] == [oldest.id]
    with pytest.raises(NotFound, match="no cluster named 'nowhere'"):
        eve.log_feed(cluster="nowhere")


def test_the_feed_is_followed_live_and_a_blocked_follower_is_let_go(
    server: ServerThread, people: dict[str, Client]
) -> None:
    entries: queue.Queue[LogEntry | BaseException | None] = queue.Queue()

    def follow() -> None:
        try:
            for entry in people["alice"].follow_log_feed(kind="cluster."):
                entries.put(entry)
        except BaseException as error:  # handed to the test
            entries.put(error)
        entries.put(None)

    people["admin"].register_cluster("before")  # before the follow: not streamed
    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    _wait_for_followers(server.app.state.hub)
    people["admin"].issue_agent_key("before")  # not a cluster.* kind
    people["admin"].register_cluster("during")
    got = entries.get(timeout=10)
    assert isinstance(got, LogEntry) and (got.kind, got.cluster) == ("cluster.registered", "during")
    people["admin"].block_user("alice")
    assert entries.get(timeout=10) is None, "the stream ended"
    reader.join(5)


def _wait_for_followers(hub: Hub) -> None:
    """Until a stream is parked on the ``logs`` wake-up (it then sees every later entry)."""
    deadline = datetime.now(UTC) + timedelta(seconds=10)
    while "logs" not in hub.wakeups._events:
        assert datetime.now(UTC) < deadline, "no one follows the feed"
        threading.Event().wait(0.01)


def test_admins_delete_old_entries_others_may_not_and_bad_times_are_refused(
    server: ServerThread, people: dict[str, Client], made: Any
) -> None:
    admin = people["admin"]
    admin.register_cluster("old")
    with pytest.raises(Forbidden):
        people["mo"].delete_logs(datetime.now(UTC))
    with pytest.raises(Forbidden):
        people["alice"].delete_logs(datetime.now(UTC))
    future = call(server.url, "DELETE", "/logs", made.token, params={"before": "2999-01-01T00:00:00"})
    assert future.status_code == 422 and future.json() == {
        "detail": "2999-01-01 00:00 UTC is in the future: only entries older than a past time are deleted",
        "field": "before",
    }
    missing = call(server.url, "DELETE", "/logs", made.token)
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["query", "before"]
    garbage = call(server.url, "DELETE", "/logs", made.token, params={"before": "last tuesday"})
    assert garbage.status_code == 422
    assert kinds(admin) == ["cluster.registered"], "nothing was deleted by a refused call"
    assert admin.delete_logs(datetime(2000, 1, 1, tzinfo=UTC)).deleted == 0
    purged = admin.delete_logs(datetime.now(UTC))
    assert purged.deleted == 2, "the cluster's entry and the first deletion's"
    assert kinds(people["mo"]) == ["logs.deleted"], "the deletion is the service's own entry"
    assert people["mo"].log_feed().items[0].message.startswith("admin deleted 2 log entries older than")
    assert kinds(people["alice"]) == []
    admin.register_cluster("new")
    assert admin.log_feed().items[0].id > purged.deleted, "ids are never reused"


#: Bad filters, and the parameter the 422 names.
BAD_FILTERS = [
    ({"level": "loud"}, "level"),
    ({"limit": 0}, "limit"),
    ({"limit": 501}, "limit"),
    ({"kind": "k" * 61}, "kind"),
    ({"after_id": -1}, "after_id"),
    ({"since": "yesterday"}, "since"),
]


def test_bad_filters_are_refused_naming_the_parameter_and_a_read_only_token_only_reads(
    server: ServerThread, made: Any, client: Client
) -> None:
    for params, field in BAD_FILTERS:
        answer = call(server.url, "GET", "/logs", made.token, params=params)
        assert answer.status_code == 422, params
        assert answer.json()["detail"][0]["loc"] == ["query", field], params
    read = client.create_token("ro", scope="read")
    assert call(server.url, "GET", "/logs", read.token).status_code == 200
    assert call(server.url, "DELETE", "/logs", read.token, params={"before": "2000-01-01"}).status_code == 403
    assert call(server.url, "GET", "/logs").status_code == 401


def test_the_cli_lists_the_feed_and_an_admin_purges_it(
    server: ServerThread, made: Any, people: dict[str, Client]
) -> None:
    import json

    from typer.testing import CliRunner

    from calchub.cli.app import app

    def cli(token: str, *args: str, code: int = 0) -> str:
        env = {"CALCHUB_URL": server.url, "CALCHUB_TOKEN": token, "COLUMNS": "200"}
        result = CliRunner().invoke(app, list(args), env=env)
        assert result.exit_code == code, result.output
        return result.output

    people["admin"].register_cluster("hpc")
    people["admin"].set_cluster_enabled("hpc", False)
    listed = json.loads(cli(made.token, "feed", "ls", "--cluster", "hpc", "--json"))
    assert [e["kind"] for e in listed["items"]] == ["cluster.disabled", "cluster.registered"]
    shown = cli(made.token, "feed", "ls", "--level", "warning")
    assert "cluster.disabled" in shown and "cluster hpc disabled by admin" in shown
    assert "cluster.registered" not in shown
    assert "--level is one of debug, info, warning, error" in cli(
        made.token, "feed", "ls", "--level", "x", code=1
    )
    eve = people["eve"].create_token("cli").token
    refused = cli(eve, "feed", "purge", "--before", "2000-01-01", "--yes", code=1)
    assert "may not do this (logs:delete)" in refused
    kept = json.loads(cli(made.token, "feed", "purge", "--before", "2000-01-01", "--yes", "--json"))
    assert kept["deleted"] == 0
    assert cli(made.token, "feed", "purge", "--before", "2000-01-01", "--yes").startswith(
        "deleted 0 log entries"
    )
    future = cli(made.token, "feed", "purge", "--before", "2999-01-01", "--yes", code=1)
    assert "is in the future" in future
