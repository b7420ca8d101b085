"""/calculations: submit, list, show, change, approve, wait, cancel, retry, delete, events, logs, files."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, PlainTextResponse, StreamingResponse
from pydantic import BaseModel, Field

from calchub.contracts import calculations as wire
from calchub.contracts.calculations import MAX_ID, Id
from calchub.contracts.projects import Decision, Rejection
from calchub.domain.states import TERMINAL, State
from calchub.server.api.deps import (
    Approver,
    CalcReader,
    CalcWriter,
    HubDep,
    Offset,
    Reader,
    Recheck,
    RecordId,
    Waiter,
    Writer,
)
from calchub.server.api.longpoll import park
from calchub.server.services import calculation_lists as lists
from calchub.server.services import calculations as calcs
from calchub.server.services import files, scripts
from calchub.server.services.errors import ServiceError
from calchub.server.services.unit import CALLERS
from calchub.server.services.wakeups import wait_first

router = APIRouter(prefix="/calculations", tags=["calculations"])
WAIT_COALESCE_SECONDS = 0.1


@router.post("", response_model=wire.Calculation, status_code=status.HTTP_201_CREATED)
def create(hub: HubDep, user: Writer, body: wire.CalculationCreate) -> wire.Calculation:
    with hub.uow() as session:
        return calcs.submit(session, hub.store, user, [body], hub.calctypes)[0]


@router.post("/preview", response_model=wire.Preview)
def preview(hub: HubDep, user: Writer, body: wire.CalculationCreate) -> wire.Preview:
    """Check and render a submission, and show its batch script, without creating anything."""
    with hub.uow() as session:
        calc, paths, cluster = calcs.preview(session, user, body, hub.calctypes)
        script = scripts.render(cluster, calc) if cluster.executor == "slurm" else None
    return wire.Preview(calculation=calc, files=paths, script=script)


@router.get("/{calc_id}/script", response_class=PlainTextResponse)
def script(hub: HubDep, user: CalcReader, calc_id: RecordId) -> str:
    """The sbatch script, exactly as the cluster's agent submits it (batch clusters only)."""
    with hub.uow() as session:
        return scripts.script(session, user, calc_id)


@router.post("/batch", response_model=list[wire.Calculation], status_code=status.HTTP_201_CREATED)
def create_many(hub: HubDep, user: Writer, body: wire.CalculationBatch) -> list[wire.Calculation]:
    """Create many calculations in one transaction: all of them, or none."""
    with hub.uow() as session:
        return calcs.submit(session, hub.store, user, body.calculations, hub.calctypes)


@router.get("", response_model=wire.CalculationPage)
def list_(
    hub: HubDep,
    user: Reader,
    state: Annotated[list[State] | None, Query()] = None,
    cluster: str | None = None,
    owner: str | None = None,
    project: str | None = None,
    favorite: Annotated[bool, Query(description="only your favorites")] = False,
    name: Annotated[str | None, Query(description="exact, or a pattern with *; case is ignored")] = None,
    type: Annotated[
        str | None, Query(max_length=100, description="a calculation type; `command` for plain commands")
    ] = None,
    study: Annotated[str | None, Query(max_length=100, description="only this study's")] = None,
    submitted_from: Annotated[
        datetime | None, Query(description="submitted at or after (UTC if no zone)")
    ] = None,
    submitted_before: Annotated[
        datetime | None, Query(description="submitted before (UTC if no zone)")
    ] = None,
    sort: wire.SortKey = "-id",
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> wire.CalculationPage:
    query = lists.list_query(
        user,
        states=state or [],
        name=name,
        sort=sort,
        limit=limit,
        favorite=favorite,
        calctype=type,
        study=study,
        submitted_from=submitted_from,
        submitted_before=submitted_before,
        cursor=cursor,
    )
    with hub.uow() as session:
        return lists.search(session, user, query, owner, cluster, project)


class WaitRequest(BaseModel):
    ids: list[Id] = Field(min_length=1, max_length=10_000)
    timeout: float = Field(30.0, ge=0, le=300)


@router.post("/wait", response_model=list[wire.Calculation])
async def wait_any(
    hub: HubDep, user: Waiter, again: Recheck, body: WaitRequest, request: Request
) -> list[wire.Calculation]:
    """Those of ``ids`` that have finished; holds the request until one has, or ``timeout``."""
    deadline = time.monotonic() + body.timeout
    while True:
        event = hub.wakeups.current("terminal")
        done = await run_in_threadpool(_finished, hub, again, body.ids)
        if done or await park(event, request, deadline - time.monotonic()) != "woken":
            return done
        if len(body.ids) > 1:
            # Many to wait for: let completions that come close together arrive in one
            # answer (about ten answers a second at most), rather than one each.
            await asyncio.sleep(min(WAIT_COALESCE_SECONDS, max(deadline - time.monotonic(), 0)))


def _finished(hub: HubDep, again: Recheck, ids: list[int]) -> list[wire.Calculation]:
    user = again()
    with hub.uow() as session:
        return lists.finished_among(session, user, ids)


@router.get("/{calc_id}", response_model=wire.Calculation)
def show(hub: HubDep, user: CalcReader, calc_id: RecordId) -> wire.Calculation:
    with hub.uow() as session:
        return calcs.describe(session, user, calc_id)


@router.patch("/{calc_id}", response_model=wire.Calculation)
def update(
    hub: HubDep, user: CalcWriter, calc_id: RecordId, body: wire.CalculationUpdate
) -> wire.Calculation:
    """Rename it, or change its priority (within the project's range; moderators beyond it)."""
    with hub.uow() as session:
        return calcs.update(session, user, calc_id, body)


@router.post("/{calc_id}/approve", response_model=wire.Calculation)
def approve(hub: HubDep, user: Approver, calc_id: RecordId, body: Decision | None = None) -> wire.Calculation:
    """Let a calculation that waits for approval queue (moderators and admins)."""
    with hub.uow() as session:
        return calcs.decide(session, user, calc_id, True, body.comment if body else None)


@router.post("/{calc_id}/reject", response_model=wire.Calculation)
def reject(hub: HubDep, user: Approver, calc_id: RecordId, body: Rejection) -> wire.Calculation:
    """Refuse a calculation that waits for approval; the submitter reads the comment."""
    with hub.uow() as session:
        return calcs.decide(session, user, calc_id, False, body.comment)


@router.put("/{calc_id}/favorite", status_code=status.HTTP_204_NO_CONTENT)
def favorite(hub: HubDep, user: CalcReader, calc_id: RecordId) -> Response:
    with hub.uow() as session:
        calcs.set_favorite(session, user, calc_id, True)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/{calc_id}/favorite", status_code=status.HTTP_204_NO_CONTENT)
def unfavorite(hub: HubDep, user: CalcReader, calc_id: RecordId) -> Response:
    with hub.uow() as session:
        calcs.set_favorite(session, user, calc_id, False)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


class CancelRequest(BaseModel):
    reason: str | None = Field(None, max_length=1000)


@router.post("/{calc_id}/cancel", response_model=wire.Calculation)
def cancel(
    hub: HubDep, user: CalcWriter, calc_id: RecordId, body: CancelRequest | None = None
) -> wire.Calculation:
    with hub.uow() as session:
        return calcs.cancel(session, user, calc_id, body.reason if body else None)


@router.post("/{calc_id}/retry", response_model=wire.Calculation)
def retry(hub: HubDep, user: CalcWriter, calc_id: RecordId) -> wire.Calculation:
    """Run a failed, cancelled, invalid or lost calculation again as its next attempt (409 when it
    has not finished or completed, or a quota of its project or owner is used up)."""
    with hub.uow() as session:
        return calcs.retry(session, user, calc_id)


@router.delete("/{calc_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete(hub: HubDep, user: CalcWriter, calc_id: RecordId) -> Response:
    with hub.uow() as session:
        calcs.delete(session, user, calc_id)
    hub.store.delete([calc_id])
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{calc_id}/events", response_model=list[wire.Event])
def events(hub: HubDep, user: CalcReader, calc_id: RecordId) -> list[wire.Event]:
    with hub.uow() as session:
        return calcs.events(session, user, calc_id)


@router.get("/{calc_id}/logs", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def logs(
    hub: HubDep,
    user: CalcReader,
    again: Recheck,
    calc_id: RecordId,
    stream: Literal["stdout", "stderr"] = "stdout",
    attempt: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
    offset: Offset = 0,
    follow: bool = False,
) -> Response:
    """The log of an attempt (the latest by default); ``follow`` streams until the run ends."""
    chosen, _ = await run_in_threadpool(_log_view, hub, lambda: user, calc_id, attempt)
    if not follow:
        data = hub.store.read_log(calc_id, chosen, stream, offset)
        return Response(data, media_type="text/plain", headers={"X-Calchub-Attempt": str(chosen)})
    body = _follow(hub, again, calc_id, chosen, stream, offset)
    return StreamingResponse(body, media_type="text/plain", headers={"X-Calchub-Attempt": str(chosen)})


def _log_view(hub: HubDep, again: Recheck, calc_id: RecordId, attempt: int | None) -> tuple[int, State]:
    user = again()
    with hub.uow() as session:
        return files.log_view(session, user, calc_id, attempt)


async def _follow(
    hub: HubDep, again: Recheck, calc_id: RecordId, attempt: int, stream: str, offset: int
) -> AsyncIterator[bytes]:
    """Stream a log as it grows; the caller's rights are checked again at each pause, and a
    change to anyone's rights wakes the stream to do so (a blocked user's stream ends)."""
    while True:
        events = [hub.wakeups.current(f"calc:{calc_id}"), hub.wakeups.current(CALLERS)]
        data = hub.store.read_log(calc_id, attempt, stream, offset)
        if data:
            offset += len(data)
            yield data
            continue
        try:
            current, state = await run_in_threadpool(_log_view, hub, again, calc_id, None)
        except ServiceError:
            return  # no longer allowed to read it (blocked, left the project, token revoked)
        if attempt == 0 and current > 0:
            # Followed while still queued: the first run has begun, follow it.
            attempt = current
            continue
        if current != attempt or state in TERMINAL:
            # One last read: the final chunk may have landed with the state change.
            tail = hub.store.read_log(calc_id, attempt, stream, offset)
            if tail:
                yield tail
            return
        await wait_first(events, 15.0)


@router.get("/{calc_id}/files", response_model=list[wire.FileInfo])
def list_files(hub: HubDep, user: CalcReader, calc_id: RecordId) -> list[wire.FileInfo]:
    with hub.uow() as session:
        return files.listing(session, user, calc_id)


@router.get("/{calc_id}/files/{path:path}", response_class=FileResponse)
def download(
    hub: HubDep,
    user: CalcReader,
    calc_id: RecordId,
    path: str,
    kind: Literal["output", "input"] = "output",
) -> FileResponse:
    with hub.uow() as session:
        record, where = files.one(session, hub.store, user, calc_id, path, kind)
    headers = {"X-Calchub-Sha256": record.sha256}
    return FileResponse(where, filename=where.name, headers=headers, media_type="application/octet-stream")


@router.get(
    "/{calc_id}/archive",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}}},
)
def archive(hub: HubDep, user: CalcReader, calc_id: RecordId) -> Response:
    """Every input and output file, and the logs, as one zip."""
    with hub.uow() as session:
        zipped = files.archive(session, hub.store, user, calc_id)
    headers = {"Content-Disposition": f'attachment; filename="calc-{calc_id}.zip"'}
    return Response(zipped, media_type="application/zip", headers=headers)
