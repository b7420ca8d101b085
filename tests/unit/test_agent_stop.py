"""Stopping an agent is a clean stop, even when its loops notice the stop in the same turn."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from calchub.agent.loop import Agent
from calchub.agent.settings import AgentSettings
from calchub.contracts.agents import ClaimReply, ClaimRequest, HeartbeatReply
from calchub.testing import FakeExecutor


class AnswersAtStop:
    """A server whose answers all arrive the moment the agent is told to stop."""

    def __init__(self, stop: asyncio.Event) -> None:
        self.stop = stop
        self.claims = 0
        self.claiming = asyncio.Event()

    async def heartbeat(self, beat: Any) -> HeartbeatReply:
        await self.stop.wait()
        return HeartbeatReply(lease_seconds=30, heartbeat_seconds=5)

    async def claim(self, request: ClaimRequest) -> ClaimReply:
        self.claims += 1
        self.claiming.set()
        await self.stop.wait()
        return ClaimReply(lease_seconds=30)

    async def close(self) -> None:
        pass


def test_loops_that_end_because_of_the_stop_are_not_broken(tmp_path: Path) -> None:
    settings = AgentSettings(url="http://unused", key="cha_x", root=tmp_path, cores=1)

    async def scenario() -> int:
        stop = asyncio.Event()
        client = AnswersAtStop(stop)
        agent = Agent(settings, client=client, executor=FakeExecutor())  # type: ignore[arg-type]
        running = asyncio.create_task(agent.run(stop))
        await asyncio.wait_for(client.claiming.wait(), 10)
        stop.set()
        await asyncio.wait_for(running, 10)  # raises AgentBroken if a loop's end is taken for a crash
        return client.claims

    assert asyncio.run(scenario()) == 1
