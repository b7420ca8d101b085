"""Submitting, finding, paging, cancelling and deleting calculations through the Client."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from calchub.client import Client, Conflict, NotFound, WaitTimeout
from calchub.client.agent import AgentClient
from calchub.contracts.calculations import Calculation
from calchub.server.settings import Settings
from calchub.testing import ServerThread
from tests.integration.helpers import claim, outcome


def test_submit_one_and_read_it_back(client: Client) -> None:
    calc = client.submit(
        ["echo", "hi"],
        name="first",
        env={"GREETING": "hi"},
        outputs=["*.txt"],
        resources={"cores": 2, "memory": "2G", "walltime": "01:00:00"},
        priority=5,
        max_attempts=3,
    )
    assert calc.state == "queued"
    assert (calc.owner, calc.cluster, calc.attempt, calc.priority) == ("admin", "local", 0, 5)
    assert calc.resources.memory == 2 * 1024**3 and calc.resources.walltime == 3600
    assert calc.provenance.command == ["echo", "hi"]
    assert calc.started_at is None and calc.finished_at is None
    again = client.get(calc.id)
    assert again.model_dump() == calc.model_dump()
    (event,) = client.events(calc.id)
    assert (event.from_state, event.to_state, event.actor, event.attempt) == (None, "queued", "user:admin", 0)


def test_input_files_are_stored_and_downloadable(client: Client, tmp_path: Path) -> None:
    binary = bytes(range(256)) * 4
    calc = client.submit(["true"], files={"in/data.txt": "hello\n", "blob.bin": binary})
    listed = {f.path: f for f in client.files(calc.id)}
    assert set(listed) == {"in/data.txt", "blob.bin"}
    assert listed["blob.bin"].sha256 == hashlib.sha256(binary).hexdigest()
    assert all(f.kind == "input" for f in listed.values())
    got = client.download(calc.id, tmp_path, "blob.bin", kind="input")
    assert got == tmp_path / "blob.bin"
    assert got.read_bytes() == binary
    with pytest.raises(NotFound):
        client.download(calc.id, tmp_path, "blob.bin")  # there is no output of that name


def test_submit_many_in_one_transaction(client: Client) -> None:
    made = client.submit_many([["true"], {"command": ["false"], "name": "second"}, ["sh", "-c", "exit 0"]])
    assert [c.name for c in made] == ["calculation", "second", "calculation"]
    assert [c.id for c in made] == sorted(c.id for c in made)
    assert {c.state for c in made} == {"queued"}
    assert sorted(c.id for c in client.list()) == [c.id for c in made]


def _names(page: list[Calculation]) -> list[str]:
    return [c.name for c in page]


def test_list_filters(client: Client, make_user: Callable[..., Client]) -> None:
    client.register_cluster("big")
    a = client.submit(["true"], name="relax-a")
    b = client.submit(["true"], name="relax-b", cluster="big")
    c = client.submit(["true"], name="md-c")
    client.cancel(c.id)
    bob = make_user("bob")
    d = bob.submit(["true"], name="relax-bob")
    assert _names(client.list(state="queued")) == ["relax-bob", "relax-b", "relax-a"]
    assert _names(client.list(state=["cancelled"])) == ["md-c"]
    assert _names(client.list(state=["cancelled", "queued"], cluster="local")) == [
        "relax-bob",
        "md-c",
        "relax-a",
    ]
    assert [x.id for x in client.list(cluster="big")] == [b.id]
    assert [x.id for x in client.list(owner="bob")] == [d.id]
    assert [x.id for x in client.list(owner="admin", name="relax*")] == [b.id, a.id]
    assert _names(client.list(name="*-b*")) == ["relax-bob", "relax-b"]
    assert _names(client.list(name="md-c")) == ["md-c"]
    assert client.list(name="md") == []
    assert client.list(owner="nobody") == []
    with pytest.raises(NotFound):
        client.list(cluster="nowhere")


def test_a_name_filter_matches_underscores_and_percents_literally(client: Client) -> None:
    client.submit_many(
        [{"command": ["true"], "name": n} for n in ["run_1", "runX1", "100%", "1000", "run_10"]]
    )
    assert _names(client.list(name="run_1")) == ["run_1"]
    assert _names(client.list(name="100%")) == ["100%"]
    assert _names(client.list(name="run_*")) == ["run_10", "run_1"]


def test_a_name_filter_ignores_case_on_every_database(client: Client) -> None:
    client.submit_many([{"command": ["true"], "name": n} for n in ["Relax-Si", "relax-ge", "scf"]])
    assert _names(client.list(name="relax*")) == ["relax-ge", "Relax-Si"]
    assert _names(client.list(name="RELAX-SI")) == ["Relax-Si"]


def test_users_see_only_their_own(client: Client, make_user: Callable[..., Client]) -> None:
    bob, eve = make_user("bob"), make_user("eve")
    mine = client.submit(["true"], name="admin's")
    his = bob.submit(["true"], name="bob's")
    assert [c.id for c in bob.list()] == [his.id]
    assert eve.list() == []
    assert [c.id for c in client.list()] == [his.id, mine.id], "an admin sees everyone's"
    for call in (bob.get, bob.events, bob.files, bob.cancel, bob.delete):
        with pytest.raises(NotFound):
            call(mine.id)
    assert eve.list(owner="bob") == [], "bob's calculations are in his personal project, not eve's"
    assert [c.id for c in bob.list(owner="bob")] == [his.id]
    assert client.get(mine.id).state == "queued", "bob's failed cancel changed nothing"


SORTS = {
    "id": lambda c: (c.id,),
    "created": lambda c: (c.created_at, c.id),
    "priority": lambda c: (c.priority, c.id),
    "name": lambda c: (c.name, c.id),
}


def test_every_sort_key_pages_through_every_item_once(client: Client) -> None:
    # Batches share one creation time and names and priorities repeat: ties must not lose or repeat items.
    for batch in range(3):
        client.submit_many(
            [
                {"command": ["true"], "name": f"n{(batch + i) % 3}", "priority": (i * 7) % 4 - 1}
                for i in range(4)
            ]
        )
    client.submit(["true"], name="n0", priority=2)
    everything = client.list(sort="id", limit=1000)
    assert len(everything) == 13
    for key, order in SORTS.items():
        for descending in (False, True):
            sort = f"-{key}" if descending else key
            expected = sorted(everything, key=order, reverse=descending)
            seen, cursor, pages = [], None, 0
            while True:
                page = client.page(sort=sort, limit=4, cursor=cursor)
                seen += [c.id for c in page.items]
                pages += 1
                cursor = page.next_cursor
                if cursor is None:
                    break
            assert seen == [c.id for c in expected], sort
            assert pages == 4, sort  # 4 + 4 + 4 + 1
            assert [c.id for c in client.iter(sort=sort, limit=5)] == seen


def test_cancel_a_queued_calculation(client: Client) -> None:
    calc = client.submit(["true"])
    cancelled = client.cancel(calc.id, reason="changed my mind")
    assert cancelled.state == "cancelled"
    assert cancelled.message == "changed my mind"
    assert cancelled.finished_at is not None
    last = client.events(calc.id)[-1]
    assert (last.from_state, last.to_state, last.actor, last.message) == (
        "queued",
        "cancelled",
        "user:admin",
        "changed my mind",
    )
    with pytest.raises(Conflict, match="only unfinished work"):
        client.cancel(calc.id)
    assert len(client.events(calc.id)) == 2
    assert client.wait(calc.id, timeout=5).state == "cancelled"


def test_cancelling_a_finished_calculation_is_409(server: ServerThread, made: Any, client: Client) -> None:
    calc = client.submit(["true"])

    async def run_it() -> None:
        agent = AgentClient(server.url, made.agent_key)
        try:
            (assignment,) = (await claim(agent)).calculations
            assert await outcome(agent, calc.id, assignment.attempt, "running") == "applied"
            assert await outcome(agent, calc.id, assignment.attempt, "completed", exit_code=0) == "applied"
        finally:
            await agent.close()

    asyncio.run(run_it())
    with pytest.raises(Conflict, match="completed"):
        client.cancel(calc.id)
    assert client.get(calc.id).state == "completed"


def test_delete_only_finished_calculations(client: Client, tmp_path: Path) -> None:
    calc = client.submit(["true"], files={"in.txt": "x"})
    with pytest.raises(Conflict, match="cancel it before deleting"):
        client.delete(calc.id)
    assert client.get(calc.id).state == "queued"
    client.cancel(calc.id)
    client.delete(calc.id)
    for call in (client.get, client.events, client.files):
        with pytest.raises(NotFound):
            call(calc.id)
    with pytest.raises(NotFound):
        client.delete(calc.id)
    assert client.list() == []
    for call in (client.get, client.events, client.files, client.cancel, client.delete):
        with pytest.raises(NotFound):
            call(999)


def test_wait_returns_finished_work_and_times_out_on_the_rest(client: Client) -> None:
    done, pending = client.submit(["true"]), client.submit(["true"])
    client.cancel(done.id)
    assert [c.id for c in client.wait_all([done.id], timeout=5)] == [done.id]
    with pytest.raises(WaitTimeout) as raised:
        client.wait_all([done.id, pending.id], timeout=0.2)
    assert raised.value.pending == [pending.id]


def test_a_wait_whose_client_hung_up_does_not_hold_the_server(settings: Settings, made: Any) -> None:
    with ServerThread(settings) as server, Client(server.url, made.token) as user:
        calc = user.submit(["true"])
        waiting = threading.Thread(target=_hang_up_while_waiting, args=(server.url, made.token, calc.id))
        waiting.start()
        waiting.join()
        began = time.monotonic()
    assert time.monotonic() - began < 5.0, "the server stopped only when the 300 s wait ran out"


def _hang_up_while_waiting(url: str, token: str, calc_id: int) -> None:
    """Start a long wait, then drop the connection as a user's Ctrl-C would."""
    body = {"ids": [calc_id], "timeout": 300}
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers) as http, contextlib.suppress(httpx.ReadTimeout):
        http.post("/api/v1/calculations/wait", json=body, timeout=0.5)


def test_the_submission_time_filter_finds_rows_stamped_out_of_id_order(
    client: Client, server: ServerThread
) -> None:
    """Two replicas whose clocks disagree by less than the allowed skew stamp rows out of id
    order: the filter still finds every row in the range, and only those."""
    from datetime import UTC, datetime, timedelta

    from calchub.server.db.tables import Calculation as Row

    noon = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    stamps = {
        "long before": noon - timedelta(hours=2),
        "fast clock": noon + timedelta(seconds=30),  # written first, stamped later
        "slow clock": noon - timedelta(seconds=20),  # written next, stamped earlier
        "in the hour": noon + timedelta(minutes=40),
        "fast at the end": noon + timedelta(minutes=60, seconds=10),  # after the range
        "slow at the end": noon + timedelta(minutes=59, seconds=50),  # in it, written later
        "long after": noon + timedelta(hours=3),
    }
    ids = {name: client.submit(["true"], name=name).id for name in stamps}
    with server.app.state.hub.uow() as session:
        for name, at in stamps.items():
            row = session.get(Row, ids[name])
            assert row is not None
            row.created_at = at

    def names(**window: datetime) -> set[str]:
        params = {key: value.isoformat() for key, value in window.items()}
        return {c.name for c in client.list(**params, limit=100)}

    hour = {"submitted_from": noon, "submitted_before": noon + timedelta(hours=1)}
    assert names(**hour) == {"fast clock", "in the hour", "slow at the end"}
    assert names(submitted_from=noon) == set(stamps) - {"long before", "slow clock"}
    assert names(submitted_before=noon) == {"long before", "slow clock"}
    assert names(submitted_from=noon + timedelta(days=1)) == set()
