"""Approval, priority and quotas through the API, with a real agent claiming the work."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from calchub.agent.loop import Agent
from calchub.agent.settings import AgentSettings
from calchub.client import Client
from calchub.client.errors import BadRequest, Conflict, Forbidden, NotFound
from calchub.testing import FakeExecutor, ServerThread
from tests.integration.helpers import running


@pytest.fixture
def agent_for(server: ServerThread, made: Any, tmp_path: Path) -> Callable[[int], Agent]:
    def make(cores: int) -> Agent:
        settings = AgentSettings(
            url=server.url, key=made.agent_key, root=tmp_path / "agent", name="a1", cores=cores, prefetch=0
        )
        return Agent(settings, executor=FakeExecutor())

    return make


def _member(client: Client, make_user: Callable[..., Client], project: str, name: str = "alice") -> Client:
    user = make_user(name)
    client.add_member(project, name)
    return user


def test_a_project_that_requires_approval_holds_work_until_a_moderator_approves(
    client: Client, make_user: Callable[..., Client], agent_for: Callable[[int], Agent]
) -> None:
    client.create_project("reviewed", requires_approval=True)
    alice = _member(client, make_user, "reviewed")
    moderator = make_user("mo", role="moderator")

    async def scenario() -> tuple[list[int], Any, Any]:
        agent = agent_for(2)
        executor = agent.executor
        assert isinstance(executor, FakeExecutor)
        async with running(agent):
            waiting = await asyncio.to_thread(alice.submit, ["simulate"], project="reviewed", name="w")
            refused = await asyncio.to_thread(alice.submit, ["simulate"], project="reviewed", name="r")
            assert (waiting.state, refused.state) == ("pending_approval", "pending_approval")
            assert executor.started.empty(), "nothing runs before approval"
            with pytest.raises(Forbidden, match="calculations:approve"):
                await asyncio.to_thread(alice.approve, waiting.id)
            approved = await asyncio.to_thread(moderator.approve, waiting.id, "fine")
            rejected = await asyncio.to_thread(moderator.reject, refused.id, "uses the wrong basis set")
            run = await asyncio.wait_for(executor.started.get(), 10)
            run.finish(0)
            done = await asyncio.to_thread(alice.wait, waiting.id, 10)
        assert executor.started.empty(), "the rejected calculation never ran"
        return [approved.id, run.job.calc_id, done.id], approved, rejected

    ids, approved, rejected = asyncio.run(scenario())
    assert len(set(ids)) == 1 and approved.state == "queued"
    assert alice.get(ids[0]).state == "completed"
    seen = alice.get(rejected.id)
    assert (seen.state, seen.message) == ("rejected", "rejected by mo: uses the wrong basis set")
    events = [(e.to_state, e.actor, e.message) for e in alice.events(approved.id)]
    assert ("queued", "user:mo", "approved by mo: fine") in events
    with pytest.raises(Conflict, match="only calculations pending approval"):
        moderator.approve(rejected.id)


def test_agents_claim_the_highest_priority_first_then_the_oldest(
    client: Client, make_user: Callable[..., Client], agent_for: Callable[[int], Agent]
) -> None:
    client.create_project("ranked", priority_min=0, priority_max=10)
    alice = _member(client, make_user, "ranked")
    moderator = make_user("mo", role="moderator")
    low = alice.submit(["x"], project="ranked", name="low", priority=1)
    first_high = alice.submit(["x"], project="ranked", name="high-1", priority=9)
    second_high = alice.submit(["x"], project="ranked", name="high-2", priority=9)
    middle = alice.submit(["x"], project="ranked", name="middle", priority=5)
    with pytest.raises(BadRequest, match="allows priorities 0 to 10, not 50") as refused:
        alice.submit(["x"], project="ranked", priority=50)
    assert refused.value.field == "priority"
    with pytest.raises(BadRequest, match="not 11"):
        alice.update(low.id, priority=11)
    raised = moderator.update(low.id, priority=100)
    assert raised.priority == 100, "a moderator raises beyond the project's range"

    async def order() -> list[int]:
        agent = agent_for(1)
        executor = agent.executor
        assert isinstance(executor, FakeExecutor)
        started = []
        async with running(agent):
            for _ in range(4):
                run = await asyncio.wait_for(executor.started.get(), 10)
                started.append(run.job.calc_id)
                run.finish(0)
        return started

    assert asyncio.run(order()) == [low.id, first_high.id, second_high.id, middle.id]


def test_max_running_lets_work_wait_in_the_queue_instead_of_refusing_it(
    client: Client, make_user: Callable[..., Client], agent_for: Callable[[int], Agent]
) -> None:
    client.create_project("narrow", quotas={"max_running": 1})
    alice = _member(client, make_user, "narrow")
    bob = make_user("bob")
    client.update_user("bob", quotas={"max_running": 1})
    project_work = [alice.submit(["x"], project="narrow", name=f"p{i}").id for i in range(3)]
    bobs = [bob.submit(["x"], name=f"b{i}").id for i in range(2)]

    async def scenario() -> list[set[int]]:
        agent = agent_for(8)
        executor = agent.executor
        assert isinstance(executor, FakeExecutor)
        rounds = []
        async with running(agent):
            for _ in range(3):
                runs = [await asyncio.wait_for(executor.started.get(), 10)]
                if len(rounds) < 2:
                    runs.append(await asyncio.wait_for(executor.started.get(), 10))
                rounds.append({r.job.calc_id for r in runs})
                usage = await asyncio.to_thread(client.usage, "narrow")
                assert usage.running == 1, "never more than the project's max_running at once"
                assert executor.started.empty()
                for run in runs:
                    run.finish(0)
            await asyncio.to_thread(alice.wait_all, project_work, 10)
        return rounds

    rounds = asyncio.run(scenario())
    assert rounds == [{project_work[0], bobs[0]}, {project_work[1], bobs[1]}, {project_work[2]}]


def test_max_queued_refuses_a_submission_over_it_and_creates_nothing(
    client: Client, make_user: Callable[..., Client]
) -> None:
    client.create_project("small", quotas={"max_queued": 3})
    alice = _member(client, make_user, "small")
    alice.submit_many([{"command": ["x"], "project": "small"}] * 2)
    with pytest.raises(
        Conflict, match=r"max_queued quota of project 'small': 2 of 3 .* 1 more may be queued"
    ) as over:
        alice.submit_many([{"command": ["x"], "project": "small"}] * 2)
    assert over.value.field == "quota.max_queued"
    assert len(alice.list(project="small")) == 2, "the refused batch created nothing"
    alice.submit(["x"], project="small")
    usage = client.usage("small")
    assert {q.quota: (q.used, q.limit, q.left) for q in usage.quotas}["max_queued"] == (3, 3, 0)
    client.update_user("alice", quotas={"max_queued": 1})
    with pytest.raises(Conflict, match="max_queued quota of user 'alice': 3 of 1 calculations wait already"):
        alice.submit(["x"])


def test_core_hours_are_counted_from_the_runs_and_refuse_work_once_spent(
    client: Client, make_user: Callable[..., Client], settings: Any
) -> None:
    from datetime import UTC, datetime, timedelta

    from calchub.server.db.tables import Calculation
    from calchub.server.hub import Hub

    client.create_project("budget", quotas={"core_hours": 10, "quota_days": 7})
    alice = _member(client, make_user, "budget")
    ran = alice.submit(["x"], project="budget", resources={"cores": 4})
    old = alice.submit(["x"], project="budget", resources={"cores": 64})
    # Runs as the agent would have recorded them: 4 cores for 2 hours, and one outside the period.
    hub = Hub.from_settings(settings)
    at = datetime.now(UTC)
    with hub.uow() as session:
        for calc_id, start, end in (
            (ran.id, at - timedelta(hours=3), at - timedelta(hours=1)),
            (old.id, at - timedelta(days=9), at - timedelta(days=8)),
        ):
            row = session.get(Calculation, calc_id)
            assert row is not None
            row.state, row.started_at, row.finished_at = "completed", start, end
    hub.engine.dispose()
    usage = client.usage("budget")
    assert usage.core_hours == pytest.approx(8.0, abs=1e-3)
    with pytest.raises(
        Conflict,
        match=r"core_hours quota of project 'budget': 8.00 of 10 .* 2.00 left, and this asks for up to 4.00",
    ):
        alice.submit(["x"], project="budget", resources={"cores": 2, "walltime": "02:00:00"})
    fits = alice.submit(["x"], project="budget", resources={"cores": 1, "walltime": "01:00:00"})
    assert fits.state == "queued"


def test_core_hours_count_only_the_period_and_what_runs_now(
    client: Client, make_user: Callable[..., Client], settings: Any
) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import select

    from calchub.server.db.tables import Calculation, Project
    from calchub.server.hub import Hub
    from calchub.server.services import quotas

    client.create_project("span", quotas={"core_hours": 1000, "quota_days": 7})
    client.create_project("other", quotas={"core_hours": 1000, "quota_days": 30})
    alice = _member(client, make_user, "span")
    client.add_member("other", "alice")
    at = datetime.now(UTC)
    week = timedelta(days=7)
    runs = [  # project, cores, state, started, finished
        ("span", 2, "completed", at - week - timedelta(hours=1), at - week + timedelta(hours=2)),  # 2 h in
        ("span", 3, "running", at - timedelta(hours=1), None),  # 1 h so far
        ("span", 8, "failed", at - week - timedelta(hours=5), at - week - timedelta(hours=1)),  # before
        ("span", 64, "queued", None, None),
        # Started by an agent whose clock is ahead, cancelled at once by the server: nothing.
        ("span", 64, "cancelled", at + timedelta(minutes=2), at - timedelta(seconds=1)),
        ("other", 1, "completed", at - timedelta(days=20), at - timedelta(days=19)),  # 24 h, its 30 days
    ]
    ids = [alice.submit(["x"], project=run[0], resources={"cores": run[1]}).id for run in runs]
    hub = Hub.from_settings(settings)
    with hub.uow() as session:
        for calc_id, (_, _, state, start, end) in zip(ids, runs, strict=True):
            row = session.get(Calculation, calc_id)
            assert row is not None
            row.state, row.started_at, row.finished_at = state, start, end
        # The projects page asks for all projects at once: the same figures.
        projects = list(session.scalars(select(Project).where(Project.name.in_(["span", "other"]))))
        listed = {u.project: u.core_hours for u in quotas.usage_of(session, projects).values()}
    hub.engine.dispose()
    assert client.usage("span").core_hours == pytest.approx(2 * 2 + 3 * 1, abs=0.01)
    assert client.usage("other").core_hours == pytest.approx(24, abs=0.01)
    assert listed["span"] == pytest.approx(7, abs=0.01) and listed["other"] == pytest.approx(24, abs=0.01)


def test_a_project_is_named_by_its_members_only(client: Client, make_user: Callable[..., Client]) -> None:
    client.create_project("closed")
    eve = make_user("eve")
    with pytest.raises(NotFound, match="no project named 'closed' that you belong to") as refused:
        eve.submit(["x"], project="closed")
    assert refused.value.field == "project"
    with pytest.raises(NotFound):
        eve.project("closed")
    assert [p.name for p in eve.projects()] == ["~eve"]
    assert eve.submit(["x"]).project == "~eve", "with no project named, the personal one"
    with pytest.raises(Conflict, match="personal project and takes no members"):
        client.add_member("~eve", "admin")


def test_a_moderator_raises_priority_but_renames_only_what_they_may_change(
    client: Client, make_user: Callable[..., Client]
) -> None:
    alice = make_user("alice")
    moderator = make_user("mo", role="moderator")
    calc = alice.submit(["x"], name="mine")
    assert moderator.update(calc.id, priority=500).priority == 500
    for fields in ({"name": "theirs"}, {"name": "theirs", "priority": 500}):
        with pytest.raises(Forbidden, match="only its owner"):
            moderator.update(calc.id, **fields)
    assert alice.get(calc.id).name == "mine"


def test_an_unset_priority_is_the_nearest_the_project_allows(
    client: Client, make_user: Callable[..., Client]
) -> None:
    client.create_project("urgent", priority_min=5, priority_max=10)
    alice = _member(client, make_user, "urgent")
    assert alice.submit(["x"], project="urgent").priority == 5
    assert alice.submit(["x"]).priority == 0, "the personal project allows 0"


def test_a_users_quota_counts_a_whole_batch_across_projects(
    client: Client, make_user: Callable[..., Client]
) -> None:
    client.create_project("group")
    alice = _member(client, make_user, "group")
    client.update_user("alice", quotas={"max_queued": 3})
    alice.submit(["x"])
    batch = [{"command": ["x"], "project": p} for p in ("~alice", "group", "~alice", "group")]
    with pytest.raises(Conflict, match=r"user 'alice': 1 of 3 .* 2 more may be queued, and this asks for 4"):
        alice.submit_many(batch)
    assert len(alice.list()) == 1


def test_nobody_submits_into_someone_elses_personal_project(
    client: Client, make_user: Callable[..., Client]
) -> None:
    make_user("alice")
    with pytest.raises(Forbidden, match="personal project; only its owner submits"):
        client.submit(["x"], project="~alice")
