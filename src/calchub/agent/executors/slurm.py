"""Run jobs through Slurm, the way an experienced user would.

Starts that arrive together are submitted together: alone as one ``sbatch``,
or, when several have the same shape, as one job array (split by the
cluster's ``max_array_size``). One ``squeue`` call per poll cycle follows
every job of this agent; output files are watched on the same beat. Jobs
outlive the agent: a restarted agent reattaches to them by id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from calchub.agent.executors.base import Executor, Job, Outcome, Running
from calchub.contracts.calculations import Resources
from calchub.contracts.clusters import SlurmSettings
from calchub.schedulers import slurm

log = logging.getLogger("calchub.agent")
#: Starts that arrive less than this apart share one submission...
BATCH_SECONDS = 0.2
#: ...unless they keep arriving for this long: then what has come goes.
BATCH_LIMIT_SECONDS = 2.0
#: Every job of this user that Slurm still remembers, array tasks one per line.
SQUEUE = ["squeue", "--me", "-h", "-r", "--states=all", "-o", slurm.SQUEUE_FORMAT]
Command = Callable[[list[str], Path | None], Awaitable[tuple[int, str, str]]]


async def run_command(argv: list[str], cwd: Path | None = None) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await process.communicate()
    except asyncio.CancelledError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise
    return process.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")


def script_job(job: Job) -> slurm.ScriptJob:
    return slurm.ScriptJob(
        calc_id=job.calc_id,
        attempt=job.attempt,
        name=job.name,
        command=job.command,
        env=job.env,
        workdir=str(job.workdir),
        resources=job.resources
        or Resources(
            cores=job.cores,
            gpus=job.gpus,
            memory=job.memory,
            walltime=math.ceil(job.walltime) if job.walltime is not None else None,
        ),
    )


@dataclass
class SlurmRun(Running):
    executor: SlurmExecutor | None = None
    ended: asyncio.Future[Outcome] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    killed: str | None = None
    sizes: tuple[int, int] = (0, 0)

    async def wait(self) -> Outcome:
        return await self.ended

    async def kill(self, reason: str) -> None:
        assert self.executor is not None
        if reason == "stopping":
            # The agent stops; the job goes on, and the next agent reattaches to it.
            self.executor.forget(self)
            self.end(Outcome(None, "detached"))
            return
        self.killed = self.killed or reason
        await self.executor.cancel(self)

    def end(self, outcome: Outcome) -> None:
        if not self.ended.done():
            self.ended.set_result(outcome)

    def saw_output(self) -> None:
        sizes = (_size(self.job.stdout), _size(self.job.stderr))
        if sizes != self.sizes:
            self.sizes = sizes
            self.output.set()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


class SlurmExecutor(Executor):
    name = "slurm"
    survives_agent = True
    needs_settings = True

    def __init__(self, settings: SlurmSettings | None = None, command: Command = run_command) -> None:
        self.settings = settings or SlurmSettings()
        self.command = command
        self.jobs: dict[str, SlurmRun] = {}
        self._queue: list[tuple[Job, asyncio.Future[Running]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._poller: asyncio.Task[None] | None = None
        self.submissions = 0

    def configure(self, settings: dict[str, Any]) -> None:
        self.settings = SlurmSettings.model_validate(settings.get("slurm") or {})

    async def close(self) -> None:
        for task in (self._poller, self._flusher):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    # -- submitting -----------------------------------------------------------

    async def start(self, job: Job) -> Running:
        started: asyncio.Future[Running] = asyncio.get_running_loop().create_future()
        self._queue.append((job, started))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_soon())
        return await started

    async def _flush_soon(self) -> None:
        # Starts that arrive while sbatch runs wait for the next round of this same task:
        # start() makes no new flusher while this one lives.
        while self._queue:
            await self._gathered()
            queued, self._queue = self._queue, []
            await self._flush(queued)

    async def _gathered(self) -> None:
        """Wait until starts stop arriving: the assignments of one claim are prepared one by
        one (their input files fetched first), and on a busy machine that takes longer than
        one short window, which would split a sweep into several job arrays."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + BATCH_LIMIT_SECONDS
        seen = -1
        while len(self._queue) != seen and loop.time() < deadline:
            seen = len(self._queue)
            await asyncio.sleep(min(BATCH_SECONDS, deadline - loop.time()))

    async def _flush(self, queued: list[tuple[Job, asyncio.Future[Running]]]) -> None:
        groups: dict[str, list[tuple[Job, asyncio.Future[Running]]]] = {}
        for item in queued:
            groups.setdefault(slurm.shape(script_job(item[0]).resources), []).append(item)
        for group in groups.values():
            size = self.settings.max_array_size
            for first in range(0, len(group), size):
                await self._submit(group[first : first + size])

    async def _submit(self, group: list[tuple[Job, asyncio.Future[Running]]]) -> None:
        try:
            ids = await (self._submit_one(group[0][0]) if len(group) == 1 else self._submit_array(group))
        except (OSError, ValueError) as error:
            for _, started in group:
                if not started.done():
                    started.set_exception(ValueError(str(error)))
            return
        for (job, started), scheduler_id in zip(group, ids, strict=True):
            if not started.done():
                started.set_result(self._follow(job, scheduler_id))

    async def _submit_one(self, job: Job) -> list[str]:
        script = job.workdir / ".calchub" / "job.sh"
        _write(script, slurm.render_script(script_job(job), self.settings))
        return [await self._sbatch([str(script)], job.workdir)]

    async def _submit_array(self, group: list[tuple[Job, asyncio.Future[Running]]]) -> list[str]:
        jobs = [job for job, _ in group]
        scripts = []
        for job in jobs:
            script = job.workdir / ".calchub" / "job.sh"
            _write(script, slurm.render_script(script_job(job), self.settings))
            scripts.append(str(script))
        folder = jobs[0].workdir.parent / ".slurm" / f"array-{jobs[0].calc_id}-{jobs[0].attempt}"
        launcher = folder / "launcher.sh"
        _write(launcher, slurm.array_launcher(script_job(jobs[0]), scripts, self.settings, str(folder)))
        array_id = await self._sbatch([f"--array=0-{len(jobs) - 1}", str(launcher)], folder)
        return [f"{array_id}_{index}" for index in range(len(jobs))]

    async def _sbatch(self, args: list[str], cwd: Path) -> str:
        code, out, err = await self.command(["sbatch", "--parsable", *args], cwd)
        self.submissions += 1
        if code != 0:
            raise ValueError(f"sbatch refused the job: {err.strip() or out.strip()}")
        return slurm.parse_sbatch(out)

    async def reattach(self, job: Job, scheduler_id: str) -> Running:
        return self._follow(job, scheduler_id)

    def _follow(self, job: Job, scheduler_id: str) -> SlurmRun:
        run = SlurmRun(job, scheduler_id, executor=self)
        self.jobs[scheduler_id] = run
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll_forever())
        return run

    def forget(self, run: SlurmRun) -> None:
        self.jobs.pop(run.scheduler_id, None)

    async def cancel(self, run: SlurmRun) -> None:
        code, out, err = await self.command(["scancel", run.scheduler_id], None)
        if code != 0:
            log.warning("scancel %s: %s", run.scheduler_id, err.strip() or out.strip())

    async def partitions(self) -> list[dict[str, Any]]:
        code, out, err = await self.command(["sinfo", "-h", "-o", slurm.SINFO_FORMAT], None)
        if code != 0:
            raise OSError(f"sinfo: {err.strip() or out.strip()}")
        return [p.model_dump() for p in slurm.parse_sinfo(out)]

    # -- following --------------------------------------------------------------

    async def _poll_forever(self) -> None:
        while self.jobs:
            try:
                await self.poll()
            except (OSError, ValueError) as error:
                log.warning("squeue failed: %s", error, extra={"action": "agent.slurm.poll_error"})
            await asyncio.sleep(self.settings.poll_seconds)

    async def poll(self) -> None:
        """One ``squeue`` for every job of this agent; ``sacct`` for those squeue forgot."""
        code, out, err = await self.command(
            ["squeue", "--me", "-h", "-r", "--states=all", "-o", slurm.SQUEUE_FORMAT], None
        )
        if code != 0:
            raise OSError(f"squeue: {err.strip() or out.strip()}")
        seen = slurm.parse_squeue(out)
        missing = [job_id for job_id in self.jobs if job_id not in seen]
        if missing:
            seen |= await self._accounted(missing)
        for job_id, run in list(self.jobs.items()):
            self._update(run, seen.get(job_id))

    async def _accounted(self, ids: list[str]) -> dict[str, slurm.JobStatus]:
        argv = ["sacct", "-n", "-P", "-X", "-o", slurm.SACCT_FIELDS, "-j", ",".join(ids)]
        code, out, _ = await self.command(argv, None)
        return slurm.parse_sacct(out) if code == 0 else {}

    def _update(self, run: SlurmRun, status: slurm.JobStatus | None) -> None:
        run.saw_output()
        self._read(run, status)
        run.seen.set()

    def _read(self, run: SlurmRun, status: slurm.JobStatus | None) -> None:
        if status is None:
            # Neither squeue nor sacct knows it (aged out, no accounting): read what it left.
            status = slurm.JobStatus(run.scheduler_id, "COMPLETED" if _exit_code(run.job) is not None else "")
            if status.state == "PENDING":
                return
        if status.phase == "pending":
            run.note = status.reason
            return
        run.note = ""
        run.began.set()
        if status.phase == "done":
            self.forget(run)
            run.end(_outcome(run, status))


def _outcome(run: SlurmRun, status: slurm.JobStatus) -> Outcome:
    code = _exit_code(run.job)
    code = status.exit_code if code is None else code
    if status.state == "COMPLETED":
        return Outcome(code if code is not None else 0)
    if status.state == "TIMEOUT":
        return Outcome(code, "walltime", slurm.FAILURES["TIMEOUT"])
    if status.state == "CANCELLED" and run.killed:
        return Outcome(code, run.killed)
    reason = slurm.FAILURES.get(status.state, f"Slurm ended the job as {status.state}")
    if status.reason:
        reason = f"{reason} ({status.reason})"
    return Outcome(code if status.state == "FAILED" else None, None, reason)


def _exit_code(job: Job) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int((job.workdir / slurm.EXIT_CODE_FILE).read_text().strip())
    return None


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(text)
    os.replace(tmp, path)
