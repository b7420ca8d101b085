"""What every model runtime does: start a model on a port, say whether it still runs, stop it.

A runtime is narrow, as the calculation executors are: ``start`` returns a :class:`Served`,
the supervisor in the server pings its ``endpoint`` and asks :meth:`Served.exit_code`
whether it still runs, and ``stop`` ends it. Output goes to the model's log file, which
any server that shares the artifact store can read.
"""

from __future__ import annotations

import os
import socket
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import httpx

from calchub.contracts.models import ModelSpec

#: Variables of the server's own environment a model process inherits; nothing else (the
#: server's secrets and database address stay with the server).
INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ", "USER", "LOGNAME")


class StartFailed(RuntimeError):
    """The runtime could not start the model (no such image, no Docker engine ...)."""


@dataclass(frozen=True)
class Launch:
    """One start of one model version."""

    model_id: int
    name: str
    version: str
    spec: ModelSpec
    #: The unpacked package (process runtime).
    folder: Path | None
    log: Path
    #: The address the model listens on, and where the proxy reaches it.
    host: str
    port: int


class Served(ABC):
    """A model the runtime started: where it answers, and whether it still runs."""

    ident: str
    endpoint: str

    @abstractmethod
    def exit_code(self) -> int | None:
        """None while it runs; its exit code (or -1, unknown) once it has ended."""

    @abstractmethod
    async def stop(self, grace: float) -> None:
        """End it: politely, then, after ``grace`` seconds, by force."""


class Runtime(ABC):
    name: str

    @abstractmethod
    async def start(self, launch: Launch) -> Served:
        """Start the model; raises StartFailed saying why it cannot."""

    async def close(self) -> None:
        """Release what the runtime holds (not the models: the supervisor stops those)."""
        return None


def free_port(host: str) -> int:
    """A port nothing listens on now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def model_env(launch: Launch, port: int, host: str) -> dict[str, str]:
    """The environment a model runs with: a few of the server's, the manifest's, and where to listen."""
    env = {name: os.environ[name] for name in INHERITED if name in os.environ}
    env |= launch.spec.env
    env |= {
        "PORT": str(port),
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "HOST": host,
        "MODEL_NAME": launch.name,
        "MODEL_VERSION": launch.version,
        "PYTHONUNBUFFERED": "1",
    }
    return env


async def ping(client: httpx.AsyncClient, endpoint: str, timeout: float) -> bool:
    """Whether ``GET /ping`` answers 200 within ``timeout`` seconds."""
    try:
        answer = await client.get(f"{endpoint}/ping", timeout=timeout)
    except httpx.HTTPError:
        return False
    return answer.status_code == 200
