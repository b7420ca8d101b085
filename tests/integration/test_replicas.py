"""Several server replicas on one PostgreSQL database wake each other's long-polls."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from calchub.client import Client
from calchub.client.agent import AgentClient
from calchub.contracts.agents import ClaimRequest
from calchub.server.settings import Settings
from calchub.testing import ServerThread


def test_work_submitted_through_one_replica_wakes_an_agent_waiting_on_another(
    db_kind: str, settings: Settings, made: Any
) -> None:
    if db_kind != "postgresql":
        pytest.skip("replicas share a PostgreSQL database; SQLite serves one process")
    with ServerThread(settings) as first, ServerThread(settings) as second:

        async def scenario() -> tuple[int, float]:
            agent = AgentClient(first.url, made.agent_key)
            request = ClaimRequest(agent="a", cores=1, max_count=1, wait=20)
            claim = asyncio.create_task(agent.claim(request))
            await asyncio.sleep(0.3)  # let the claim find nothing and park (nothing signals that)
            began = time.monotonic()
            with Client(second.url, made.token) as user:
                await asyncio.to_thread(user.submit, ["true"])
            reply = await asyncio.wait_for(claim, 30)
            await agent.close()
            return len(reply.calculations), time.monotonic() - began

        handed, waited = asyncio.run(scenario())
    assert handed == 1
    assert waited < 5, f"the claim waited {waited:.1f} s: woken by its timeout, not by the other replica"


def test_two_replicas_following_chains_release_each_child_once(
    db_kind: str, settings: Settings, made: Any
) -> None:
    """Parents end through one replica; both hear it and race to release: each child is taken once."""
    if db_kind != "postgresql":
        pytest.skip("replicas share a PostgreSQL database; SQLite serves one process")
    from calchub.contracts.agents import Report, ReportBatch
    from calchub.contracts.results import ResultSet, Scalar

    step = {"type": "python", "inputs": {"code": "def main(n):\n    return {'n': n}\n", "function": "main"}}
    pairs = 30
    with (
        ServerThread(settings) as first,
        ServerThread(settings) as second,
        Client(first.url, made.token) as user,
    ):
        batch = []
        for k in range(pairs):
            batch.append(step | {"step": f"p{k}", "inputs": step["inputs"] | {"kwargs": {"n": k}}})
            batch.append(step | {"after": [{"step": f"p{k}", "results": {"kwargs.n": "n"}}]})
        made_calcs = user.submit_many(batch)
        parents, children = made_calcs[0::2], made_calcs[1::2]

        async def finish_parents() -> None:
            agent = AgentClient(second.url, made.agent_key)
            reply = await agent.claim(ClaimRequest(agent="a", cores=64, max_count=pairs, wait=0))
            assert {c.id for c in reply.calculations} == {p.id for p in parents}
            now = datetime.now(UTC)
            running = [
                Report(id=c.id, attempt=c.attempt, state="running", at=now) for c in reply.calculations
            ]
            await agent.report(ReportBatch(agent="a", reports=running))
            done = [
                Report(
                    id=c.id,
                    attempt=c.attempt,
                    state="completed",
                    at=now,
                    exit_code=0,
                    results=ResultSet(scalars=[Scalar(name="n", value=float(c.id))]),
                )
                for c in reply.calculations
            ]
            await agent.report(ReportBatch(agent="a", reports=done))
            await agent.close()

        async def claim_children() -> set[int]:
            """The released children, as an agent on the other replica is handed them."""
            agent = AgentClient(first.url, made.agent_key)
            claimed: set[int] = set()
            while len(claimed) < pairs:
                request = ClaimRequest(agent="b", cores=64, max_count=pairs, wait=20)
                reply = await agent.claim(request)
                assert reply.calculations, f"only {len(claimed)} of {pairs} children were released"
                claimed |= {c.id for c in reply.calculations}
            await agent.close()
            return claimed

        asyncio.run(finish_parents())
        assert asyncio.run(claim_children()) == {c.id for c in children}
        for parent, child in zip(parents, children, strict=True):
            got = user.get(child.id)
            assert got.inputs is not None and got.inputs["kwargs"]["n"] == float(parent.id)
            states = [e.to_state for e in user.events(child.id)]
            assert states == ["waiting", "queued", "claimed"], "released once"
