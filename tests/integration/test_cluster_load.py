"""Heartbeat samples on SQLite and PostgreSQL: thinning, retention and a cluster's load over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from calchub.cli.app import app
from calchub.client import BadRequest, Client, NotFound
from calchub.contracts.agents import Heartbeat
from calchub.server.db.tables import Cluster, HeartbeatSample
from calchub.server.hub import Hub
from calchub.server.repositories import clusters as cluster_repo
from calchub.server.repositories import heartbeats as repo
from calchub.server.services import heartbeats
from calchub.server.settings import Settings
from calchub.testing import ServerThread

#: A Monday noon, on a period's edge, far from today, so nothing else's samples interfere.
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
GIB = 2**30


@pytest.fixture
def hub(settings: Settings, made: Any) -> Iterator[Hub]:
    found = Hub.from_settings(settings)
    yield found
    found.engine.dispose()


def beat(agent: str = "a1", cpu: float = 50.0, running: int = 2, available: int = 6 * GIB) -> Heartbeat:
    return Heartbeat(
        agent=agent,
        version="0",
        host="h",
        cores=8,
        running=running,
        cpu_percent=cpu,
        load_avg=[cpu / 10, 0.0, 0.0],
        memory_total=8 * GIB,
        memory_available=available,
    )


def record(hub: Hub, at: datetime, **kw: Any) -> bool:
    with hub.uow() as session:
        cluster = cluster_repo.by_name(session, "local")
        assert cluster is not None
        return heartbeats.record(session, cluster, beat(**kw), at)


def put(hub: Hub, at: datetime, agent: str = "a1", cpu: float = 50.0, coarse: bool = False) -> None:
    """A sample straight in the table, as if written long ago."""
    with hub.uow() as session:
        cluster = cluster_repo.by_name(session, "local")
        assert cluster is not None
        values = {"cluster_id": cluster.id, "agent": agent, "at": at, "cores": 8, "running": 2}
        values |= {"cpu_percent": cpu, "load1": 1.0, "memory_total": 8 * GIB, "memory_available": GIB}
        repo.add(session, values | {"coarse": coarse})


def samples(hub: Hub) -> list[tuple[str, datetime, bool, float]]:
    with hub.uow() as session:
        rows = session.execute(
            select(
                HeartbeatSample.agent, HeartbeatSample.at, HeartbeatSample.coarse, HeartbeatSample.cpu_percent
            ).order_by(HeartbeatSample.agent, HeartbeatSample.at)
        ).all()
    return [(r.agent, r.at, r.coarse, r.cpu_percent) for r in rows]


def test_an_agent_beating_every_five_seconds_writes_one_sample_per_thirty(hub: Hub) -> None:
    written = [record(hub, T0 + timedelta(seconds=s)) for s in range(0, 70, 5)]
    assert written.count(True) == 3, "at 0, 30 and 60 s"
    assert record(hub, T0 + timedelta(seconds=70), agent="a2"), "each agent has its own pace"
    assert [(a, at - T0) for a, at, _, _ in samples(hub)] == [
        ("a1", timedelta(0)),
        ("a1", timedelta(seconds=30)),
        ("a1", timedelta(seconds=60)),
        ("a2", timedelta(seconds=70)),
    ]


def test_samples_past_48_hours_become_one_mean_per_agent_and_period_and_go_after_30_days(hub: Hub) -> None:
    now = T0 + timedelta(days=40)
    old = now - timedelta(hours=49)  # a period's edge: 49 h before a period's edge
    for n in range(40):  # two whole periods at full rate, two agents
        put(hub, old + timedelta(seconds=30 * n), cpu=float(n))
        put(hub, old + timedelta(seconds=30 * n), agent="a2", cpu=100.0)
    put(hub, now - timedelta(hours=47), cpu=7.0)  # still young: kept as it is
    put(hub, now - timedelta(days=31), cpu=1.0, coarse=True)  # past 30 days: dropped
    put(hub, now - timedelta(days=29), cpu=2.0, coarse=True)  # not yet
    assert record(hub, now, cpu=3.0)
    assert samples(hub) == [
        ("a1", now - timedelta(days=29), True, 2.0),
        ("a1", old, True, 9.5),  # the mean of 0..19
        ("a1", old + timedelta(minutes=10), True, 29.5),  # of 20..39
        ("a1", now - timedelta(hours=47), False, 7.0),
        ("a1", now, False, 3.0),
        ("a2", old, True, 100.0),
        ("a2", old + timedelta(minutes=10), True, 100.0),
    ]
    assert not record(hub, now + timedelta(seconds=1)), "and the next early beat writes nothing"


def test_thinning_in_small_batches_never_splits_a_period(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(heartbeats, "BATCH", 25)
    now = T0 + timedelta(days=10)
    old = now - timedelta(hours=50)
    for n in range(60):  # three periods of twenty samples, two agents
        for agent in ("a1", "a2"):
            put(hub, old + timedelta(seconds=30 * n), agent=agent, cpu=float(n // 20))
    for step in range(6):  # each sample merges what one batch holds whole
        record(hub, now + timedelta(seconds=30 * step))
    thinned = [(agent, at, cpu) for agent, at, coarse, cpu in samples(hub) if coarse]
    assert thinned == [(a, old + timedelta(minutes=10 * p), float(p)) for a in ("a1", "a2") for p in range(3)]
    assert len(samples(hub)) == 6 + 6, "and the six new ones"


def test_the_load_of_a_window_has_a_bounded_number_of_means_per_agent(hub: Hub) -> None:
    end = T0 + timedelta(hours=6)
    for n in range(6 * 120):  # six hours at full rate
        put(hub, T0 + timedelta(seconds=30 * n), cpu=10.0 if n % 2 else 30.0)
    put(hub, end - timedelta(minutes=1), agent="a2", cpu=99.0)
    with hub.uow() as session:
        cluster = session.scalar(select(Cluster).where(Cluster.name == "local"))
        assert cluster is not None
        found = heartbeats.load(session, cluster, heartbeats.Window.last(6, until=end))
    assert found.step_seconds == 90 and found.cluster == "local"
    first, second = found.agents
    assert (first.agent, second.agent) == ("a1", "a2")
    assert len(first.points) == 240, "six hours in periods of 90 s"
    means = {round(p.cpu_percent, 1) for p in first.points}
    assert means == {23.3, 16.7}, "each period holds three samples: 30, 10, 30 or 10, 30, 10"
    assert first.points[0].memory_used == 7 * GIB and first.points[0].cores == 8
    assert [(p.cpu_percent, p.at.tzinfo is not None) for p in second.points] == [(99.0, True)]
    assert all(p.at.timestamp() % 90 == 0 for p in first.points), "periods are aligned to the clock"


# -- over HTTP ---------------------------------------------------------------------------------


def test_a_heartbeat_shows_in_the_load_of_its_cluster_through_api_client_and_cli(
    server: ServerThread, client: Client, made: Any
) -> None:
    body = beat("login1", cpu=42.0, running=3).model_dump(mode="json")
    headers = {"Authorization": f"Bearer {made.agent_key}"}
    answer = httpx.post(f"{server.url}/api/v1/agent/heartbeat", json=body, headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    load = client.cluster_load("local", hours=1)
    assert load.cluster == "local" and load.step_seconds == 30
    (agent,) = load.agents
    (point,) = agent.points
    assert (agent.agent, point.cpu_percent, point.running, point.cores) == ("login1", 42.0, 3, 8)
    assert point.memory_used == 2 * GIB and point.load1 == pytest.approx(4.2)
    with pytest.raises(NotFound):
        client.cluster_load("nowhere")
    for hours in (0, 721):
        with pytest.raises(BadRequest):
            client.cluster_load("local", hours=hours)
    env = {"CALCHUB_URL": server.url, "CALCHUB_TOKEN": made.token, "COLUMNS": "200"}
    shown = CliRunner().invoke(app, ["cluster", "load", "local", "--hours", "1"], env=env)
    assert shown.exit_code == 0, shown.output
    assert "one point per 0.5 min" in shown.output
    assert "login1" in shown.output and "▄" in shown.output and "3/8" in shown.output
    assert "2.0 / 8.0 GiB" in shown.output
    as_json = CliRunner().invoke(app, ["cluster", "load", "local", "--json"], env=env)
    assert '"cpu_percent": 42.0' in as_json.output
