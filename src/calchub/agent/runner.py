"""One attempt of one calculation on this agent: folder, start, watch, finish."""

from __future__ import annotations

import asyncio
import logging
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import calchub
from calchub.agent.executors.base import Executor, Job, Outcome, Running
from calchub.calctypes.api import RunDir
from calchub.calctypes.postprocess import postprocess as calctypes_postprocess
from calchub.calctypes.registry import Registry, UnknownType
from calchub.contracts.agents import Assignment, Report
from calchub.domain.states import State

log = logging.getLogger("calchub.agent")
HOST = socket.gethostname()


def workdir_for(root: Path, calc_id: int, attempt: int) -> Path:
    return root / f"{calc_id}-{attempt}"


def report(calc: Assignment | Job, state: State, **fields: Any) -> dict[str, Any]:
    attempt = calc.attempt
    calc_id = calc.id if isinstance(calc, Assignment) else calc.calc_id
    body = Report(id=calc_id, attempt=attempt, state=state, at=datetime.now(UTC), **fields)
    return body.model_dump(mode="json")


def job_for(assignment: Assignment, root: Path) -> Job:
    r = assignment.resources
    return Job(
        calc_id=assignment.id,
        attempt=assignment.attempt,
        command=assignment.command,
        env=assignment.env,
        workdir=workdir_for(root, assignment.id, assignment.attempt),
        cores=r.cores,
        gpus=r.gpus,
        memory=r.memory,
        walltime=float(r.walltime) if r.walltime else None,
        name=assignment.name,
        resources=r,
    )


async def start(executor: Executor, job: Job) -> Running:
    job.workdir.mkdir(parents=True, exist_ok=True)
    return await executor.start(job)


def started(job: Job, running: Running, executor: Executor) -> dict[str, Any]:
    """``running``, or ``submitted`` (with the scheduler's pending reason) while it waits in a queue."""
    queued = not running.began.is_set()
    return report(
        job,
        State.SUBMITTED if queued else State.RUNNING,
        message=f"pending in the queue: {running.note}" if queued and running.note else None,
        host=HOST,
        workdir=str(job.workdir),
        scheduler_id=running.scheduler_id,
        executor=executor.name,
        agent_version=calchub.__version__,
    )


def finished(job: Job, outcome: Outcome) -> dict[str, Any] | None:
    """The final report for how the run ended; None when the server ended it (cancel)."""
    if outcome.killed in {"cancelled", "released", "detached"}:
        return None
    if outcome.killed == "stopping":
        return report(
            job,
            State.LOST,
            message="the agent was stopped during the run",
            exit_code=outcome.exit_code,
        )
    if outcome.killed == "walltime":
        limit = f"{job.walltime:g} s" if job.walltime else "time limit"
        message = outcome.reason or f"ran over its walltime of {limit} and was killed"
        return report(job, State.FAILED, message=f"timeout: {message}", exit_code=outcome.exit_code)
    if outcome.reason:
        return report(job, State.FAILED, message=outcome.reason, exit_code=outcome.exit_code)
    code = outcome.exit_code
    if code == 0:
        return report(job, State.COMPLETED, exit_code=0)
    reason = f"killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
    return report(job, State.FAILED, message=reason, exit_code=code)


def explain_failure(assignment: Assignment, job: Job, registry: Registry, final: dict[str, Any]) -> None:
    """Add the type's own reading of a failed run's output (``ERROR: Lost atoms`` ...) to its message."""
    try:
        calctype = registry.get(assignment.type or "")
        reasons = calctype.validate(RunDir(job.workdir, assignment.inputs, final.get("exit_code")))
    except Exception as error:  # a diagnosis is a courtesy: never let it hide the failure
        log.debug("no diagnosis for %s/%s: %s", job.calc_id, job.attempt, error)
        return
    if reasons:
        final["message"] = f"{final.get('message')}: {'; '.join(reasons)}"[:10_000]


def postprocess(assignment: Assignment, job: Job, registry: Registry) -> dict[str, Any]:
    """Validate, extract, analyse and clean up a typed run that exited 0; its final report."""
    try:
        calctype = registry.get(assignment.type or "")
    except UnknownType as error:
        message = f"{error}; install the type on this agent, or put it in CALCHUB_HOME/calctypes"
        return report(job, State.FAILED, exit_code=0, message=message)
    if calctype.version != assignment.type_version:
        message = (
            f"this agent has {calctype.name} version {calctype.version}, but the calculation was "
            f"prepared with version {assignment.type_version}; update the agent's copy of the type"
        )
        return report(job, State.FAILED, exit_code=0, message=message)
    run = RunDir(job.workdir, assignment.inputs, 0)
    done = calctypes_postprocess(calctype, run, assignment.analyses, assignment.outputs)
    return report(job, State(done.verdict), exit_code=0, message=done.message, results=done.results)


async def wait_for_output(running: Running, finished: asyncio.Event) -> bool:
    """True when the run wrote more output, False when it has ended."""
    waiter = asyncio.create_task(running.output.wait())
    ender = asyncio.create_task(finished.wait())
    await asyncio.wait({waiter, ender}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    ender.cancel()
    running.output.clear()
    return not finished.is_set()
