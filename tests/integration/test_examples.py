"""The example calculation types in examples/calctypes work as their comments say."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest

from calchub.agent.loop import Agent
from calchub.agent.settings import AgentSettings
from calchub.calctypes.registry import discover
from calchub.client import BadRequest, Client
from calchub.server.settings import Settings
from calchub.testing import ServerThread
from tests.integration.helpers import running

EXAMPLES = Path(__file__).parents[2] / "examples" / "calctypes"


@pytest.fixture
def examples_installed(settings: Settings) -> Path:
    folder = settings.home / "calctypes"
    folder.mkdir(parents=True)
    for name in ("relax.yaml", "dimer_scan.py"):
        shutil.copy(EXAMPLES / name, folder / name)
    return folder


def test_the_example_types_run_and_give_their_results(
    examples_installed: Path,
    client: Client,
    server: ServerThread,
    made: Any,
    settings: Settings,
    tmp_path: Path,
) -> None:
    assert client.calctypes().refused == []
    agent = AgentSettings(
        url=server.url, key=made.agent_key, root=tmp_path / "agent", name="examples", cores=2
    )

    async def scenario() -> list[Any]:
        async with running(Agent(agent, types=discover(settings.home))):
            calcs = [
                client.submit(type="relax", inputs={"start": 1.2}),
                client.submit(type="relax", inputs={"max_steps": 3}),
                client.submit(type="dimer_scan", inputs={"points": 301}),
            ]
            return await asyncio.to_thread(client.wait_all, [c.id for c in calcs], 30)

    relaxed, short, scan = asyncio.run(scenario())
    assert relaxed.state == "completed", relaxed.message
    found = {s.name: s.value for s in client.results(relaxed.id).scalars}
    assert found["bond"] == pytest.approx(0.74, abs=1e-5) and found["energy"] == pytest.approx(-4.7)
    assert relaxed.bytes_freed and relaxed.bytes_freed > 0
    assert short.state == "invalid"
    assert short.message == "stdout says: NOT CONVERGED; stdout lacks '(?m)^CONVERGED$'"
    assert scan.state == "completed", scan.message
    minimum = {s.name: s.value for s in client.results(scan.id).scalars}
    assert minimum["r_min"] == pytest.approx(2 ** (1 / 6) * 3.4, rel=1e-4)
    assert minimum["e_min"] == pytest.approx(-0.0104, rel=1e-4)
    with pytest.raises(BadRequest, match="r_max must be larger than r_min") as refused:
        client.submit(type="dimer_scan", inputs={"r_min": 5, "r_max": 4})
    assert (refused.value.field, refused.value.rule) == ("inputs.r_max", "order")
