"""Run jobs as process groups on this machine: the reference executor.

Each job is the leader of its own session, so cancel and walltime kill every
process it started. Output is read from pipes as it comes and written to the
job's log files, which wakes the log shipper; nothing here polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from dataclasses import dataclass, field

from calchub.agent.executors.base import Executor, Job, Outcome, Running

GRACE_SECONDS = 5.0


class LocalExecutor(Executor):
    name = "local"

    async def start(self, job: Job) -> Running:
        job.stdout.parent.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            **job.env,
            "CALCHUB_CALCULATION_ID": str(job.calc_id),
            "CALCHUB_ATTEMPT": str(job.attempt),
            "OMP_NUM_THREADS": str(job.cores),
        }
        process = await asyncio.create_subprocess_exec(
            *job.command,
            cwd=job.workdir,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        running = LocalRun(job, str(process.pid), process=process)
        running.pumps = [
            asyncio.create_task(running.pump(process.stdout, job.stdout)),
            asyncio.create_task(running.pump(process.stderr, job.stderr)),
        ]
        return running


@dataclass
class LocalRun(Running):
    process: asyncio.subprocess.Process | None = None
    pumps: list[asyncio.Task[None]] = field(default_factory=list)
    killed: str | None = None

    async def pump(self, pipe: asyncio.StreamReader | None, target: os.PathLike[str]) -> None:
        if pipe is None:
            return
        with open(target, "ab", buffering=0) as out:  # noqa: ASYNC230 - small appends to a local disk
            while chunk := await pipe.read(65536):
                out.write(chunk)
                self.output.set()

    async def wait(self) -> Outcome:
        assert self.process is not None
        walltime = self.job.walltime
        try:
            await asyncio.wait_for(self.process.wait(), walltime)
        except TimeoutError:
            await self.kill("walltime")
        code = await self.process.wait()
        # Grandchildren may hold the pipes open; the group was killed, so don't wait forever.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*self.pumps), GRACE_SECONDS)
        return Outcome(code, self.killed)

    async def kill(self, reason: str) -> None:
        assert self.process is not None
        self.killed = self.killed or reason
        pgid = self.process.pid
        _signal_group(pgid, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.process.wait()), GRACE_SECONDS)
        # Always finish the group off: children that ignored SIGTERM or outlived the leader.
        _signal_group(pgid, signal.SIGKILL)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
