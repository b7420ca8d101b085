"""The narrow interface every executor implements; ``local`` is the reference."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from calchub.contracts.calculations import Resources


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
    name: str = "calculation"
    #: Everything asked for, batch scheduler fields included (nodes, tasks, partition ...).
    resources: Resources | None = None

    @property
    def stdout(self) -> Path:
        return self.workdir / ".calchub" / "stdout"

    @property
    def stderr(self) -> Path:
        return self.workdir / ".calchub" / "stderr"


@dataclass
class Outcome:
    exit_code: int | None
    #: Why the run ended other than by exiting on its own ("walltime", "cancelled"), if so;
    #: "detached" when the agent stopped and the job goes on without it (a batch scheduler's).
    killed: str | None = None
    #: What the scheduler says about the end ("the job ran out of memory"), if anything.
    reason: str | None = None


@dataclass
class Running(ABC):
    """A started job. ``output`` is set whenever its log files grew."""

    job: Job
    scheduler_id: str
    output: asyncio.Event = field(default_factory=asyncio.Event)
    #: Set once the job runs; a batch scheduler's job may wait in its queue first.
    began: asyncio.Event = field(default_factory=asyncio.Event)
    #: Why it still waits (the scheduler's pending reason), while it does.
    note: str = ""
    #: Set once the scheduler has been asked about the job at least once.
    seen: asyncio.Event = field(default_factory=asyncio.Event)

    @abstractmethod
    async def wait(self) -> Outcome:
        """Wait for the end: its own exit, the walltime, or ``kill``."""

    @abstractmethod
    async def kill(self, reason: str) -> None:
        """Stop the whole job (every process it started)."""


class Executor(ABC):
    name: str
    #: Jobs go on when the agent stops, and a restarted agent finds them again (``reattach``).
    survives_agent: bool = False
    #: Runs need the cluster's settings from the server (the first heartbeat brings them).
    needs_settings: bool = False

    @abstractmethod
    async def start(self, job: Job) -> Running:
        """Launch ``job``; raise ``OSError`` or ``ValueError`` when it cannot start."""

    async def reattach(self, job: Job, scheduler_id: str) -> Running:
        """Follow a job this executor started before the agent restarted."""
        raise NotImplementedError(f"the {self.name} executor cannot reattach to jobs")

    def configure(self, settings: dict[str, Any]) -> None:
        """Apply the cluster's settings, as an admin set them on the server."""
        del settings  # a plain machine has none

    async def close(self) -> None:
        """Stop following jobs (the agent is stopping); jobs that survive the agent go on."""
        return None  # a plain machine's runs were stopped with the agent

    async def partitions(self) -> list[dict[str, Any]]:
        """The scheduler's partition table, for the heartbeat; none for a plain machine."""
        return []
