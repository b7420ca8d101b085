"""Run jobs as process groups on this machine: the reference executor.

Each job leads its own session, so cancel and walltime kill every process it
started. The event loop watches the job's output pipes and a pidfd for its
exit, so output reaches the log files (and wakes the log shipper) as it
comes, and nothing here polls or needs a thread per job.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from calchub.agent.executors.base import Executor, Job, Outcome, Running

GRACE_SECONDS = 5.0


class LocalExecutor(Executor):
    name = "local"

    def __init__(self, spawners: int = 2) -> None:
        # fork-exec releases the GIL: from threads, starts overlap and the event loop runs on.
        self._spawner = ThreadPoolExecutor(max_workers=spawners, thread_name_prefix="calchub-spawn")

    async def start(self, job: Job) -> Running:
        job.stdout.parent.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            **job.env,
            "CALCHUB_CALCULATION_ID": str(job.calc_id),
            "CALCHUB_ATTEMPT": str(job.attempt),
            "OMP_NUM_THREADS": str(job.cores),
        }
        env["PATH"] = with_agent_bin(env.get("PATH", os.defpath))
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        try:
            # A direct fork-exec: asyncio's subprocess transports cost several times more per run.
            spawn = functools.partial(_spawn, job, env, out_write, err_write)
            process = await asyncio.get_running_loop().run_in_executor(self._spawner, spawn)
        except BaseException:
            for fd in (out_read, err_read):
                os.close(fd)
            raise
        finally:
            os.close(out_write)
            os.close(err_write)
        run = LocalRun(job, str(process.pid), process=process)
        run.began.set()
        run.watch(out_read, job.stdout)
        run.watch(err_read, job.stderr)
        run.watch_exit()
        return run


@dataclass
class LocalRun(Running):
    process: subprocess.Popen[bytes] | None = None
    killed: str | None = None
    exited: asyncio.Future[int] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    streams: list[asyncio.Future[None]] = field(default_factory=list)

    def watch(self, fd: int, target: Path) -> None:
        """Copy a pipe into ``target`` as data arrives; the future ends at end of file."""
        loop = asyncio.get_running_loop()
        os.set_blocking(fd, False)
        sink: BinaryIO = target.open("ab", buffering=0)
        closed = loop.create_future()
        self.streams.append(closed)

        def readable() -> None:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                return
            if chunk:
                sink.write(chunk)
                self.output.set()
                return
            loop.remove_reader(fd)
            os.close(fd)
            sink.close()
            closed.set_result(None)

        loop.add_reader(fd, readable)

    def watch_exit(self) -> None:
        assert self.process is not None
        process, loop = self.process, asyncio.get_running_loop()
        try:
            pidfd = os.pidfd_open(process.pid)
        except (AttributeError, OSError):
            # No pidfd (not Linux, or an old kernel): one waiting thread per job instead.
            task = loop.run_in_executor(None, process.wait)
            task.add_done_callback(lambda t: self.exited.set_result(t.result()))
            return

        def ended() -> None:
            loop.remove_reader(pidfd)
            os.close(pidfd)
            self.exited.set_result(process.wait())

        loop.add_reader(pidfd, ended)

    async def wait(self) -> Outcome:
        try:
            await asyncio.wait_for(asyncio.shield(self.exited), self.job.walltime)
        except TimeoutError:
            await self.kill("walltime")
        code = await self.exited
        # Grandchildren may hold the pipes open; the group was killed, so don't wait forever.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*self.streams), GRACE_SECONDS)
        return Outcome(code, self.killed)

    async def kill(self, reason: str) -> None:
        assert self.process is not None
        self.killed = self.killed or reason
        pgid = self.process.pid
        _signal_group(pgid, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.exited), GRACE_SECONDS)
        # Always finish the group off: children that ignored SIGTERM or outlived the leader.
        _signal_group(pgid, signal.SIGKILL)


def with_agent_bin(path: str) -> str:
    """PATH with the agent's own environment first, so tools installed beside calchub are found."""
    own = os.path.dirname(sys.executable)
    return path if path.split(os.pathsep)[:1] == [own] else os.pathsep.join([own, path])


def _spawn(job: Job, env: dict[str, str], stdout: int, stderr: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        job.command,
        cwd=job.workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
    )


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
