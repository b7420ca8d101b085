"""An agent whose loop dies stops, loudly, instead of heartbeating without working."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from calchub.agent.loop import Agent, AgentBroken
from calchub.agent.settings import AgentSettings
from calchub.contracts.agents import ClaimReply, ClaimRequest, HeartbeatReply
from calchub.testing import FakeExecutor


class BrokenClaims:
    """Answers heartbeats; the claim call fails in a way the agent does not expect."""

    def __init__(self) -> None:
        self.heartbeats = 0

    async def heartbeat(self, beat: Any) -> HeartbeatReply:
        self.heartbeats += 1
        return HeartbeatReply(lease_seconds=30, heartbeat_seconds=0.05)

    async def claim(self, request: ClaimRequest) -> ClaimReply:
        raise RuntimeError("a bug in the claim path")

    async def close(self) -> None:
        pass


def test_a_dead_loop_stops_the_agent(tmp_path: Path) -> None:
    settings = AgentSettings(url="http://unused", key="cha_x", root=tmp_path, cores=1)

    async def scenario() -> None:
        agent = Agent(settings, client=BrokenClaims(), executor=FakeExecutor())  # type: ignore[arg-type]
        await asyncio.wait_for(agent.run(asyncio.Event()), 10)

    with pytest.raises(AgentBroken, match="claims") as raised:
        asyncio.run(scenario())
    assert isinstance(raised.value.__cause__, RuntimeError)
