"""/agent: what a site agent calls, with its cluster's key and nothing else."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from pydantic import BaseModel

from calchub.contracts import agents as wire
from calchub.contracts.calculations import FileInfo
from calchub.server.api.deps import AttemptQuery, CurrentAgent, HubDep, Offset, RecordId
from calchub.server.api.longpoll import park
from calchub.server.services import agents, files
from calchub.server.services.errors import TooLarge

router = APIRouter(prefix="/agent", tags=["agent"])


@router.post("/heartbeat", response_model=wire.HeartbeatReply)
def heartbeat(hub: HubDep, agent: CurrentAgent, body: wire.Heartbeat) -> wire.HeartbeatReply:
    settings = hub.settings
    with hub.uow() as session:
        return agents.heartbeat(session, agent, body, settings.lease_seconds, settings.heartbeat_seconds)


@router.post("/claim", response_model=wire.ClaimReply)
async def claim(
    hub: HubDep, agent: CurrentAgent, body: wire.ClaimRequest, request: Request
) -> wire.ClaimReply:
    """Claim work that fits; with nothing to give, hold the request until there is (long-poll)."""
    deadline = time.monotonic() + body.wait
    while True:
        event = hub.wakeups.current(f"claim:{agent.cluster_id}")
        if await request.is_disconnected():
            # The agent is gone (killed, restarted): what it claimed now would be lost with it.
            return wire.ClaimReply(lease_seconds=hub.settings.lease_seconds)
        reply = await run_in_threadpool(_claim_once, hub, agent, body)
        if reply.calculations or reply.cancel:
            return reply
        if await park(event, request, deadline - time.monotonic()) != "woken":
            return reply


def _claim_once(hub: HubDep, agent: CurrentAgent, body: wire.ClaimRequest) -> wire.ClaimReply:
    with hub.uow() as session:
        return agents.claim_once(session, agent, body, hub.settings.lease_seconds)


@router.post("/reports", response_model=wire.ReportReply)
def report(hub: HubDep, agent: CurrentAgent, body: wire.ReportBatch) -> wire.ReportReply:
    with hub.uow() as session:
        return agents.report(session, agent, body)


class LogAck(BaseModel):
    size: int


@router.put("/calculations/{calc_id}/logs/{stream}", response_model=LogAck)
async def append_log(
    hub: HubDep,
    agent: CurrentAgent,
    request: Request,
    calc_id: RecordId,
    stream: str,
    attempt: AttemptQuery,
    offset: Offset,
) -> LogAck:
    data = await _body(request, hub.settings.max_upload_bytes)
    return await run_in_threadpool(_append, hub, agent, calc_id, attempt, stream, offset, data)


def _append(
    hub: HubDep,
    agent: CurrentAgent,
    calc_id: RecordId,
    attempt: AttemptQuery,
    stream: str,
    offset: int,
    data: bytes,
) -> LogAck:
    with hub.uow() as session:
        calc = files.attempt_of_agent(session, agent, calc_id, attempt)
        return LogAck(size=files.append_log(session, hub.store, calc, stream, offset, data))


@router.put("/calculations/{calc_id}/files/{path:path}", response_model=FileInfo)
async def upload(
    hub: HubDep, agent: CurrentAgent, request: Request, calc_id: RecordId, path: str, attempt: AttemptQuery
) -> FileInfo:
    """Store an output file; streamed to disk, refused with 413 past the upload limit."""
    path = files.checked_path(path)
    await run_in_threadpool(_check_attempt, hub, agent, calc_id, attempt)
    limit = hub.settings.max_upload_bytes
    _refuse_declared(request, limit)
    stored = await hub.store.put_stream(calc_id, "output", path, request.stream(), limit)
    if stored is None:
        raise TooLarge(f"{path!r} is over the upload limit of {limit} bytes (CALCHUB_MAX_UPLOAD_BYTES)")
    return await run_in_threadpool(_record, hub, agent, calc_id, attempt, path, stored)


def _check_attempt(hub: HubDep, agent: CurrentAgent, calc_id: RecordId, attempt: AttemptQuery) -> None:
    with hub.uow() as session:
        files.attempt_of_agent(session, agent, calc_id, attempt)


def _record(
    hub: HubDep,
    agent: CurrentAgent,
    calc_id: RecordId,
    attempt: AttemptQuery,
    path: str,
    stored: tuple[int, str],
) -> FileInfo:
    with hub.uow() as session:
        calc = files.attempt_of_agent(session, agent, calc_id, attempt)
        return files.record_output(session, calc, path, *stored)


@router.get("/calculations/{calc_id}/inputs/{path:path}", response_class=FileResponse)
def input_file(
    hub: HubDep, agent: CurrentAgent, calc_id: RecordId, path: str, attempt: AttemptQuery
) -> FileResponse:
    with hub.uow() as session:
        calc = files.attempt_of_agent(session, agent, calc_id, attempt)
        where = files.input_path(session, hub.store, calc, files.checked_path(path))
    return FileResponse(where, media_type="application/octet-stream")


def _refuse_declared(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"the upload is {declared} bytes; the limit is {limit} (CALCHUB_MAX_UPLOAD_BYTES)")


async def _body(request: Request, limit: int) -> bytes:
    _refuse_declared(request, limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
