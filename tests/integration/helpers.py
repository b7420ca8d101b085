"""Small helpers shared by the integration tests."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from calchub.agent.loop import Agent
from calchub.client import Client
from calchub.client.agent import AgentClient
from calchub.contracts.agents import ClaimReply, ClaimRequest, Held, Report, ReportBatch, ReportReply

AGENT = "agent-1"

#: The password of the users who sign in to the pages (the ``browser`` fixture).
PAGE_PASSWORD = "a page password"


def count(client: Client, **filters: Any) -> int:
    return sum(1 for _ in client.iter(limit=1000, **filters))


async def claim(agent: AgentClient, cores: int = 64, wait: float = 0, **fields: Any) -> ClaimReply:
    fields.setdefault("agent", AGENT)
    return await agent.claim(ClaimRequest(cores=cores, wait=wait, **fields))


async def report(
    agent: AgentClient, calc_id: int, attempt: int, state: str, name: str = AGENT, **fields: Any
) -> ReportReply:
    body = Report.model_validate(
        {"id": calc_id, "attempt": attempt, "state": state, "at": datetime.now(UTC), **fields}
    )
    return await agent.report(ReportBatch(agent=name, reports=[body]))


async def outcome(agent: AgentClient, calc_id: int, attempt: int, state: str, **fields: Any) -> str:
    reply = await report(agent, calc_id, attempt, state, **fields)
    assert [(r.id, r.attempt) for r in reply.results] == [(calc_id, attempt)]
    return reply.results[0].outcome


def held(*pairs: tuple[int, int]) -> list[Held]:
    return [Held(id=i, attempt=a) for i, a in pairs]


@contextlib.asynccontextmanager
async def running(agent: Agent) -> AsyncIterator[Agent]:
    """Run the agent's loops in this event loop until the block ends, then stop it as a signal would."""
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    try:
        yield agent
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


def call(url: str, method: str, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
    """One raw request to ``/api/v1{path}``, as the holder of ``token`` (anonymous without one)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.request(method, f"{url}/api/v1{path}", headers=headers, timeout=30, **kwargs)


def sign_in(url: str, username: str, password: str) -> str:
    """An access token for ``username``, as a browser or ``calchub login`` gets one."""
    answer = call(url, "POST", "/auth/login", json={"username": username, "password": password})
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


def cli(url: str, token: str, *args: str, code: int = 0) -> str:
    """Run ``calchub ARGS`` in this process against the server at ``url``; what it printed,
    once it exited with ``code``."""
    from typer.testing import CliRunner

    from calchub.cli.app import app

    result = CliRunner().invoke(app, list(args), env={"CALCHUB_URL": url, "CALCHUB_TOKEN": token})
    assert result.exit_code == code, result.output
    return result.output


class HandAgent:
    """An agent of one cluster driven by hand over the agent API, one step at a time."""

    def __init__(self, url: str, key: str) -> None:
        self.url, self.key = url, key

    def _do(self, step: Callable[[AgentClient], Awaitable[Any]]) -> Any:
        async def main() -> Any:
            agent = AgentClient(self.url, self.key)
            try:
                return await step(agent)
            finally:
                await agent.close()

        return asyncio.run(main())

    def claim(self, calc_id: int, gpus: int = 0) -> int:
        """Claim the one queued calculation, which must be ``calc_id``; its attempt."""
        reply = self._do(lambda agent: claim(agent, gpus=gpus, max_count=1))
        assert [a.id for a in reply.calculations] == [calc_id]
        attempt: int = reply.calculations[0].attempt
        return attempt

    def report(self, calc_id: int, attempt: int, state: str, **fields: Any) -> None:
        applied = self._do(lambda agent: outcome(agent, calc_id, attempt, state, **fields))
        assert applied == "applied"

    def log(self, calc_id: int, attempt: int, text: str, stream: str = "stdout", offset: int = 0) -> None:
        self._do(lambda agent: agent.append_log(calc_id, attempt, stream, offset, text.encode()))

    def run(self, calc_id: int, state: str, log: str = "", **fields: Any) -> int:
        """Claim ``calc_id``, run it (writing ``log``) and end it in ``state``; the attempt."""
        attempt = self.claim(calc_id)
        self.report(calc_id, attempt, "running")
        if log:
            self.log(calc_id, attempt, log)
        self.report(calc_id, attempt, state, **fields)
        return attempt


#: The test model packages: ``linear`` (y = 2x + 1, standard library) and ``broken``.
MODELS = Path(__file__).parents[1] / "data" / "models"


def model_package(tmp_path: Path, name: str = "linear", **manifest: str) -> Path:
    """A copy of a test model package in a folder of its own, with manifest lines changed."""
    folder = tmp_path / f"{name}-{len(list(tmp_path.iterdir()))}"
    shutil.copytree(MODELS / name, folder)
    text = (folder / "calchub-model.yaml").read_text()
    for key, value in manifest.items():
        lines = [line for line in text.splitlines() if not line.startswith(f"{key}:")]
        text = "\n".join([*lines, f"{key}: {value}"]) + "\n"
    (folder / "calchub-model.yaml").write_text(text)
    return folder


def sse_events(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    """Each server-sent event of a stream's lines, as (name, data)."""
    event, data = None, []
    for line in lines:
        if line.startswith("event: "):
            event, data = line.removeprefix("event: "), []
        elif line.startswith("data: "):
            data.append(line.removeprefix("data: "))
        elif line == "" and event is not None:
            yield event, "\n".join(data)
            event = None
