"""Several server replicas on one PostgreSQL database wake each other's long-polls."""

from __future__ import annotations

import asyncio
import time
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
