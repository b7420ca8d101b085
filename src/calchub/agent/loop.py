"""The agent: heartbeat, claim by long-poll, run, and deliver, until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import calchub
from calchub.agent import probe, runner
from calchub.agent.delivery import Delivery, _first
from calchub.agent.executors import load
from calchub.agent.executors.base import Executor, Job, Running
from calchub.agent.pace import Pace
from calchub.agent.records import Records
from calchub.agent.settings import AgentSettings
from calchub.agent.spool import Spool
from calchub.calctypes.registry import Registry, discover
from calchub.client.agent import AgentClient
from calchub.client.errors import ApiError, ServerUnreachable
from calchub.contracts.agents import Assignment, ClaimRequest, Heartbeat, Held
from calchub.contracts.local import home_from_env
from calchub.domain.states import State

log = logging.getLogger("calchub.agent")
STOP_GRACE = 10.0
#: With no work wanted, how long the agent waits for cores to free before it opens a
#: claim that only listens for cancels (so that is how late a cancel can be heard).
LISTEN_AFTER_SECONDS = 0.5
#: The most calculations one claim may ask for (the server's limit).
MAX_CLAIM = 1000
#: How long a queued job's first report waits for the scheduler's pending reason.
FIRST_LOOK_SECONDS = 10.0


class AgentBroken(RuntimeError):
    """One of the agent's loops died; the agent stops rather than limp on."""


@dataclass
class Slot:
    job: Job
    task: asyncio.Task[None]
    running: Running | None = None
    kill_reason: str | None = None


@dataclass
class Agent:
    settings: AgentSettings
    client: AgentClient | None = None
    executor: Executor | None = None
    slots: dict[tuple[int, int], Slot] = field(default_factory=dict)
    #: Claimed, waiting here for free cores (see ``AgentSettings.prefetch``).
    waiting: deque[Assignment] = field(default_factory=deque)
    #: The calculation types for post-processing; found under CALCHUB_HOME on first need.
    types: Registry | None = None

    def __post_init__(self) -> None:
        self.client = self.client or AgentClient(self.settings.url, self.settings.key)
        self.executor = self.executor or load(self.settings.executor)
        self.delivery = Delivery(self.client, Spool(self.settings.spool), self.settings.name)
        self.records = Records(self.settings.root / ".jobs", self.executor.survives_agent)
        #: Set by the first heartbeat's answer, which carries the cluster's settings.
        self.configured = asyncio.Event()
        self.capacity = asyncio.Event()
        self.heartbeat_seconds = 5.0
        self.pace = Pace()

    def ahead(self) -> int:
        """Cores' worth of work to hold claimed beyond the free cores."""
        if self.settings.prefetch is not None:
            return self.settings.prefetch
        return self.settings.cores * self.pace.rounds()

    # -- what the agent holds -------------------------------------------------

    def used_cores(self) -> int:
        return sum(s.job.cores for s in self.slots.values())

    def held(self) -> list[Held]:
        mine = [Held(id=i, attempt=a) for i, a in self.slots]
        mine += [Held(id=a.id, attempt=a.attempt) for a in self.waiting]
        return mine + [h for h in self.delivery.held() if (h.id, h.attempt) not in self.slots]

    # -- the loops -------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        assert self.client is not None
        log.info(
            "agent %s up: %s cores, root %s",
            self.settings.name,
            self.settings.cores,
            self.settings.root,
            extra={"action": "agent.start"},
        )
        delivery_stop = asyncio.Event()
        self._reattach()
        tasks = [
            asyncio.create_task(self.delivery.run(delivery_stop), name="delivery"),
            asyncio.create_task(self._heartbeats(stop), name="heartbeats"),
            asyncio.create_task(self._claims(stop), name="claims"),
        ]
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait([stopping, *tasks], return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        # A loop that saw `stop` may end in the same turn as `stopping`: that is not breaking.
        broken = next((t for t in tasks if t.done() and (not stop.is_set() or t.exception())), None)
        await self._shut_down(tasks[1:])
        delivery_stop.set()
        await asyncio.wait([tasks[0]], timeout=STOP_GRACE)
        await self.client.close()
        if broken is not None:
            # A loop must never end on its own: stop the whole agent rather than
            # go on heartbeating without claiming (or claiming without delivering).
            raise AgentBroken(f"agent loop {broken.get_name()} ended") from broken.exception()

    async def _shut_down(self, loops: list[asyncio.Task[None]]) -> None:
        for task in loops:
            task.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        while self.waiting:
            # Claimed but never started: hand them back so they run again elsewhere or later.
            self._never_started(self.waiting.popleft(), State.LOST, "the agent stopped before it started")
        for slot in list(self.slots.values()):
            await self._kill(slot, "stopping")
        await asyncio.gather(*(s.task for s in list(self.slots.values())), return_exceptions=True)
        assert self.executor is not None
        await self.executor.close()

    def _reattach(self) -> None:
        for assignment, scheduler_id in self.records.load():
            job = runner.job_for(assignment, self.settings.root)
            key = (job.calc_id, job.attempt)
            slot = Slot(job, asyncio.create_task(self._resume(assignment, job, scheduler_id)))
            self.slots[key] = slot
            slot.task.add_done_callback(lambda _, key=key: self._release(key))  # type: ignore[misc]

    async def _heartbeats(self, stop: asyncio.Event) -> None:
        assert self.client is not None and self.executor is not None
        while not stop.is_set():
            try:
                began = time.monotonic()
                reply = await self.client.heartbeat(await self._beat())
                self.pace.saw_round_trip(time.monotonic() - began)
                self.heartbeat_seconds = reply.heartbeat_seconds
                self.executor.configure(reply.settings)
                self.configured.set()
                await self._drop(reply.released, "released")
            except (ServerUnreachable, ApiError) as error:
                log.warning("heartbeat failed: %s", error, extra={"action": "agent.heartbeat.error"})
            await _first(stop.wait(), timeout=self.heartbeat_seconds)

    async def _beat(self) -> Heartbeat:
        assert self.executor is not None
        try:
            partitions = await self.executor.partitions()
        except (OSError, ValueError) as error:
            log.warning("no partition table: %s", error, extra={"action": "agent.partitions.error"})
            partitions = []
        return Heartbeat(
            root=str(self.settings.root),
            partitions=partitions,
            agent=self.settings.name,
            version=calchub.__version__,
            executor=self.settings.executor,
            cores=self.settings.cores,
            gpus=self.settings.gpus,
            running=len(self.slots),
            held=self.held(),
            **probe.machine(self.settings.root),
        )

    async def _claims(self, stop: asyncio.Event) -> None:
        backoff = 0.2
        assert self.executor is not None
        if self.executor.needs_settings:
            # Work runs with the cluster's settings: wait for the first heartbeat's answer.
            await _first(self.configured.wait(), stop.wait())
        while not stop.is_set():
            try:
                await self._claim_once()
                backoff = 0.2
            except (ServerUnreachable, ApiError) as error:
                log.warning("claim failed: %s", error, extra={"action": "agent.claim.error"})
                await _first(stop.wait(), timeout=backoff)
                backoff = min(backoff * 2, 5.0)

    def _wanted(self) -> int:
        """Cores' worth of work to ask for now: none while half the window still waits here."""
        window = self.ahead()
        waiting = sum(a.resources.cores for a in self.waiting)
        if self.waiting and waiting > window // 2:
            return 0
        return max(self.settings.cores + window - self.used_cores() - waiting, 0)

    async def _claim_once(self) -> None:
        assert self.client is not None
        want = self._wanted()
        if want == 0:
            # Enough work here. Runs that end soon free cores before a listening claim
            # would be worth a request; listen for cancels only if they do not.
            self.capacity.clear()
            if self._wanted() > 0 or await _first(self.capacity.wait(), timeout=LISTEN_AFTER_SECONDS):
                return
        request = ClaimRequest(
            agent=self.settings.name,
            cores=want,
            gpus=self.settings.gpus,
            max_count=min(want, MAX_CLAIM),
            job_cores=self.settings.cores,
            wait=self.settings.claim_wait,
            held=self.held(),
        )
        began = time.monotonic()
        call = asyncio.create_task(self.client.claim(request))
        if want == 0:
            # A claim that asks for nothing only listens for cancels: once work is
            # wanted again (runs ended), drop it and ask for work.
            while not call.done():
                self.capacity.clear()
                if self._wanted() > 0:
                    call.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await call
                    return
                capacity = asyncio.create_task(self.capacity.wait())
                await asyncio.wait({call, capacity}, return_when=asyncio.FIRST_COMPLETED)
                capacity.cancel()
        reply = await call
        if reply.calculations and want > 0:
            # Work was there at once, so this was a plain round trip, not a long wait.
            self.pace.saw_round_trip(time.monotonic() - began)
        await self._drop(reply.cancel, "cancelled")
        self.waiting.extend(reply.calculations)
        self._fill()

    # -- one calculation -------------------------------------------------------

    def _fill(self) -> None:
        """Start waiting work, in the order the server gave it, while cores are free."""
        while self.waiting and self.waiting[0].resources.cores <= self.settings.cores - self.used_cores():
            self._launch(self.waiting.popleft())

    def _never_started(self, assignment: Assignment, state: State, message: str) -> None:
        job = runner.job_for(assignment, self.settings.root)
        self._finish(assignment, job, runner.report(job, state, message=message))

    def _launch(self, assignment: Assignment) -> None:
        job = runner.job_for(assignment, self.settings.root)
        key = (job.calc_id, job.attempt)
        if key in self.slots:
            return
        slot = Slot(job, asyncio.create_task(self._run(assignment, job)))
        self.slots[key] = slot
        slot.task.add_done_callback(lambda _: self._release(key))

    def _release(self, key: tuple[int, int]) -> None:
        self.slots.pop(key, None)
        self._fill()
        self.capacity.set()

    async def _run(self, assignment: Assignment, job: Job) -> None:
        assert self.client is not None and self.executor is not None
        try:
            for item in assignment.files:
                await self.client.fetch_input(job.calc_id, job.attempt, item.path, job.workdir / item.path)
            began = time.monotonic()
            running = await runner.start(self.executor, job)
        except (OSError, ValueError, ApiError, ServerUnreachable) as error:
            self._finish(
                assignment,
                job,
                runner.report(job, State.FAILED, message=f"could not start: {error}"),
            )
            return
        self.records.keep(assignment, running.scheduler_id)
        await self._follow(assignment, job, running, began)

    async def _resume(self, assignment: Assignment, job: Job, scheduler_id: str) -> None:
        """Follow a job that outlived the last agent, as if this agent had started it."""
        assert self.executor is not None
        running = await self.executor.reattach(job, scheduler_id)
        log.info("reattached to %s for %s/%s", scheduler_id, job.calc_id, job.attempt)
        await self._follow(assignment, job, running, time.monotonic(), resumed=True)

    async def _follow(
        self, assignment: Assignment, job: Job, running: Running, began: float, resumed: bool = False
    ) -> None:
        assert self.executor is not None
        slot = self.slots[(job.calc_id, job.attempt)]
        slot.running = running
        if slot.kill_reason:
            await running.kill(slot.kill_reason)
        if not running.began.is_set():
            # Report the queued job with the scheduler's first word on it (its pending reason).
            await _first(running.seen.wait(), running.began.wait(), timeout=FIRST_LOOK_SECONDS)
        first = runner.started(job, running, self.executor)
        if not resumed or first["state"] == State.RUNNING:
            self.delivery.put({"kind": "report", "report": first})
        ended = asyncio.Event()
        watchers = [asyncio.create_task(self._ship_while_running(job, running, ended))]
        if first["state"] == State.SUBMITTED:
            watchers.append(asyncio.create_task(self._report_when_running(job, running, ended)))
        outcome = await running.wait()
        self.pace.saw_run(time.monotonic() - began)
        ended.set()
        await asyncio.gather(*watchers)
        if outcome.killed == "detached":
            return  # the job goes on without this agent; the next one reattaches
        final = runner.finished(job, outcome)
        if assignment.type and final is not None and final["state"] == State.COMPLETED:
            self.delivery.put({"kind": "report", "report": runner.report(job, State.POSTPROCESSING)})
            final = await asyncio.to_thread(runner.postprocess, assignment, job, self.calctypes())
        elif assignment.type and final is not None and final["state"] == State.FAILED and not outcome.killed:
            await asyncio.to_thread(runner.explain_failure, assignment, job, self.calctypes(), final)
        self._finish(assignment, job, final)

    async def _report_when_running(self, job: Job, running: Running, ended: asyncio.Event) -> None:
        if await _first(running.began.wait(), ended.wait()) and running.began.is_set():
            assert self.executor is not None
            self.delivery.put({"kind": "report", "report": runner.started(job, running, self.executor)})

    def calctypes(self) -> Registry:
        """The calculation types this agent knows, found on first need."""
        if self.types is None:
            self.types = discover(home_from_env())
        return self.types

    def _finish(self, assignment: Assignment, job: Job, report: dict[str, Any] | None) -> None:
        self.records.drop(job.calc_id, job.attempt)
        # Figures drawn by a type's analyses go up with the files the type keeps.
        outputs = [*assignment.outputs, "figures/*.svg"] if assignment.type else assignment.outputs
        self.delivery.put(
            {
                "kind": "finish",
                "id": job.calc_id,
                "attempt": job.attempt,
                "workdir": str(job.workdir),
                "outputs": outputs,
                "report": report,
            }
        )

    async def _ship_while_running(self, job: Job, running: Running, ended: asyncio.Event) -> None:
        while await runner.wait_for_output(running, ended):
            try:
                await self.delivery.ship_logs(job.calc_id, job.attempt, job.workdir)
            except (ServerUnreachable, ApiError) as error:
                # What is not sent now goes with the final delivery.
                log.debug("log shipping postponed: %s", error)

    async def _drop(self, held: list[Held], reason: str) -> None:
        gone = {(h.id, h.attempt) for h in held}
        self.waiting = deque(a for a in self.waiting if (a.id, a.attempt) not in gone)
        for h in held:
            slot = self.slots.get((h.id, h.attempt))
            if slot is not None:
                await self._kill(slot, reason)

    async def _kill(self, slot: Slot, reason: str) -> None:
        slot.kill_reason = slot.kill_reason or reason
        if slot.running is not None:
            await slot.running.kill(reason)
