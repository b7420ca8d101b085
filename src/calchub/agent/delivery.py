"""Deliver the spool to the server in order: logs, then output files, then reports.

Consecutive entries go in one request, so a busy agent makes few round trips.
When the server cannot be reached, entries stay on disk and the sender backs
off; a report the server has seen already comes back ``duplicate``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from pathlib import Path
from typing import Any

from calchub.agent.spool import Entry, Spool
from calchub.client.agent import AgentClient
from calchub.client.errors import ApiError, Conflict, ServerUnreachable, Unauthorized
from calchub.contracts.agents import Held, Report, ReportBatch

log = logging.getLogger("calchub.agent")
CHUNK = 4 * 1024 * 1024
BATCH = 500
#: While busy (a request went out within BUSY_SECONDS), wait this long for more to batch.
LINGER_SECONDS = 0.01
BUSY_SECONDS = 0.05
STREAMS = ("stdout", "stderr")


class Delivery:
    def __init__(self, client: AgentClient, spool: Spool, agent: str) -> None:
        self.client = client
        self.spool = spool
        self.agent = agent
        self.queue: deque[Entry] = deque(spool.pending())
        self.wake = asyncio.Event()
        self.acked: dict[tuple[int, int, str], int] = {}
        self.finishing: dict[tuple[int, int], int] = {}
        self.last_send = 0.0
        for entry in self.queue:
            self._count(entry.body, +1)

    def put(self, body: dict[str, Any]) -> None:
        self.queue.append(Entry(self.spool.put(body), body))
        self._count(body, +1)
        self.wake.set()

    def _count(self, body: dict[str, Any], step: int) -> None:
        if body["kind"] == "finish":
            key = (body["id"], body["attempt"])
            self.finishing[key] = self.finishing.get(key, 0) + step
            if self.finishing[key] <= 0:
                del self.finishing[key]

    def _busy(self) -> bool:
        """The last request went out moments ago: an idle agent sends at once."""
        return time.monotonic() - self.last_send < BUSY_SECONDS

    def held(self) -> list[Held]:
        """Attempts that finished here but whose results the server has not had yet."""
        return [Held(id=i, attempt=a) for i, a in self.finishing]

    async def run(self, stop: asyncio.Event) -> None:
        backoff = 0.2
        while True:
            if not self.queue:
                if stop.is_set():
                    return
                await _first(self.wake.wait(), stop.wait())
            self.wake.clear()
            if await self.drain():
                backoff = 0.2
                continue
            if await _first(stop.wait(), timeout=backoff):
                return
            backoff = min(backoff * 2, 5.0)

    async def drain(self) -> bool:
        """Send what is queued; False when the server could not take it now."""
        while self.queue:
            if self._busy() and len(self.queue) < BATCH:
                # Reports are coming fast: let a few more join this request.
                await asyncio.sleep(LINGER_SECONDS)
            self.last_send = time.monotonic()
            batch = [self.queue[i] for i in range(min(BATCH, len(self.queue)))]
            try:
                for entry in batch:
                    if entry.body["kind"] == "finish":
                        await self.finish_files(entry.body)
                await self._send(batch)
            except (ServerUnreachable, Unauthorized) as error:
                log.warning("delivery postponed: %s", error, extra={"action": "agent.spool.wait"})
                return False
            for entry in batch:
                self.queue.popleft()
                self.spool.done(entry.name)
                self._count(entry.body, -1)
        return True

    async def _send(self, batch: list[Entry]) -> None:
        reports = [Report.model_validate(e.body["report"]) for e in batch if e.body.get("report")]
        if not reports:
            return
        try:
            reply = await self.client.report(ReportBatch(agent=self.agent, reports=reports))
        except ApiError as error:
            if isinstance(error, Unauthorized):
                raise
            # The server refused the batch as such: nothing in it can ever be delivered.
            log.error("reports refused, dropped: %s", error, extra={"action": "agent.spool.refused"})
            return
        for result in reply.results:
            if result.outcome in {"stale", "rejected"}:
                log.warning(
                    "report for %s/%s %s: %s",
                    result.id,
                    result.attempt,
                    result.outcome,
                    result.detail,
                    extra={"action": "agent.report.refused"},
                )

    async def finish_files(self, body: dict[str, Any]) -> None:
        calc_id, attempt, workdir = body["id"], body["attempt"], Path(body["workdir"])
        try:
            await self.ship_logs(calc_id, attempt, workdir)
            for path, source in outputs(workdir, body.get("outputs", [])):
                await self.client.upload(calc_id, attempt, path, source)
        except Conflict as error:
            log.info("attempt %s/%s is over; its files are not sent: %s", calc_id, attempt, error)

    async def ship_logs(self, calc_id: int, attempt: int, workdir: Path) -> None:
        for stream in STREAMS:
            source = workdir / ".calchub" / stream
            if not source.exists():
                continue
            key = (calc_id, attempt, stream)
            offset = self.acked.get(key, 0)
            with source.open("rb") as handle:
                handle.seek(offset)
                while chunk := handle.read(CHUNK):
                    await self.client.append_log(calc_id, attempt, stream, offset, chunk)
                    offset += len(chunk)
                    self.acked[key] = offset

    def forget(self, calc_id: int, attempt: int) -> None:
        for stream in STREAMS:
            self.acked.pop((calc_id, attempt, stream), None)


def outputs(workdir: Path, patterns: list[str]) -> list[tuple[str, Path]]:
    """Files in ``workdir`` matching the declared glob patterns, calchub's own folder excepted."""
    found: dict[str, Path] = {}
    for pattern in patterns:
        for match in sorted(workdir.glob(pattern)):
            relative = match.relative_to(workdir)
            if match.is_file() and relative.parts[0] != ".calchub":
                found[relative.as_posix()] = match
    return list(found.items())


async def _first(*waits: Any, timeout: float | None = None) -> bool:
    """Wait for the first of several awaitables; True if one finished before ``timeout``."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    done, pending = await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    return bool(done)
