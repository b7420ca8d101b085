"""Test helpers shipped with calchub, for its own tests and for plug-in authors.

- :class:`ServerThread`: the real app served over real HTTP on a free port,
  in a thread of this process (needs the server extra);
- :class:`FakeExecutor`: an in-memory executor whose jobs end when told to.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from calchub.agent.executors.base import Executor, Job, Outcome, Running

if TYPE_CHECKING:
    from calchub.server.settings import Settings


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class ServerThread:
    """``with ServerThread(settings) as server:`` serves ``create_app(settings)`` at ``server.url``."""

    def __init__(self, settings: Settings, port: int | None = None) -> None:
        import uvicorn

        from calchub.server.app import create_app

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = create_app(settings)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the server thread died while starting")
            self._thread.join(0.01)
        return self

    def __exit__(self, *_: object) -> None:
        self._server.should_exit = True
        self._thread.join(10)


@dataclass
class FakeRun(Running):
    done: asyncio.Future[Outcome] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    async def wait(self) -> Outcome:
        return await self.done

    async def kill(self, reason: str) -> None:
        if not self.done.done():
            self.done.set_result(Outcome(-9, reason))

    def finish(self, exit_code: int = 0, stdout: bytes = b"") -> None:
        if stdout:
            self.job.stdout.parent.mkdir(parents=True, exist_ok=True)
            with self.job.stdout.open("ab") as out:
                out.write(stdout)
            self.output.set()
        self.done.set_result(Outcome(exit_code))


class FakeExecutor(Executor):
    """Starts nothing; each job waits until the test calls ``finish`` on its run."""

    name = "fake"

    def __init__(self) -> None:
        self.runs: dict[int, FakeRun] = {}
        self.started = asyncio.Queue[FakeRun]()

    async def start(self, job: Job) -> Running:
        run = FakeRun(job, f"fake-{job.calc_id}-{job.attempt}")
        run.began.set()
        self.runs[job.calc_id] = run
        await self.started.put(run)
        return run


def bootstrap(settings: Settings) -> Any:
    """Admin, token, local cluster and agent key on the settings' (migrated) database."""
    from calchub.server.db.migrate import upgrade
    from calchub.server.hub import Hub
    from calchub.server.services.people import bootstrap as make

    hub = Hub.from_settings(settings)
    upgrade(hub.engine)
    with hub.uow() as session:
        made = make(session)
    hub.engine.dispose()
    return made
