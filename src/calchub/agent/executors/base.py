"""The narrow interface every executor implements; ``local`` is the reference."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Job:
    """One attempt of one calculation, ready to start in ``workdir``."""

    calc_id: int
    attempt: int
    command: list[str]
    env: dict[str, str]
    workdir: Path
    cores: int = 1
    gpus: int = 0
    memory: int | None = None
    walltime: float | None = None

    @property
    def stdout(self) -> Path:
        return self.workdir / ".calchub" / "stdout"

    @property
    def stderr(self) -> Path:
        return self.workdir / ".calchub" / "stderr"


@dataclass
class Outcome:
    exit_code: int | None
    #: Why the run ended other than by exiting on its own ("walltime", "cancelled"), if so.
    killed: str | None = None


@dataclass
class Running(ABC):
    """A started job. ``output`` is set whenever its log files grew."""

    job: Job
    scheduler_id: str
    output: asyncio.Event = field(default_factory=asyncio.Event)

    @abstractmethod
    async def wait(self) -> Outcome:
        """Wait for the end: its own exit, the walltime, or ``kill``."""

    @abstractmethod
    async def kill(self, reason: str) -> None:
        """Stop the whole job (every process it started)."""


class Executor(ABC):
    name: str

    @abstractmethod
    async def start(self, job: Job) -> Running:
        """Launch ``job``; raise ``OSError`` or ``ValueError`` when it cannot start."""
