"""One calculation: its facts, results, files and timeline, with a live log and state over SSE."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, StreamingResponse

from calchub.domain.permissions import Action
from calchub.domain.states import TERMINAL, State
from calchub.server.services import calculations as calcs
from calchub.server.services import files, results
from calchub.server.services.errors import Invalid, ServiceError
from calchub.server.services.unit import CALLERS
from calchub.server.services.wakeups import wait_first
from calchub.server.web.rendering import allowed, render, sse, templates
from calchub.server.web.session import (
    HubDep,
    PageViewer,
    Viewer,
)

router = APIRouter(include_in_schema=False)
#: How much of a log a page shows before the live tail takes over.
LOG_TAIL = 64 * 1024


@router.get("/calculations/{calc_id}", response_class=HTMLResponse)
def calculation(hub: HubDep, request: Request, who: PageViewer, calc_id: int) -> Response:
    allowed(who, Action.CALCULATIONS_READ)
    caller = who.caller
    with hub.uow() as session:
        calc = calcs.describe(session, caller, calc_id)
        events = calcs.events(session, caller, calc_id)
        found = results.of_calculation(session, caller, calc_id)
        listed = files.listing(session, caller, calc_id)
        attempt, state = files.log_view(session, caller, calc_id, None)
        row = calcs.visible(session, caller, calc_id)
        can_cancel = state not in TERMINAL and caller.may_cancel(row.owner_id, row.project_id)
    data = hub.store.read_log(calc_id, attempt, "stdout", 0)
    log = data[-LOG_TAIL:].decode(errors="replace")
    # The live tail goes on from exactly what this page shows, however late it connects.
    stream = f"/calculations/{calc_id}/log/stream?attempt={attempt}&offset={len(data)}"
    context: dict[str, Any] = {
        "calc": calc,
        "events": events,
        "results": found,
        "files": listed,
        "log": log,
        "stream": stream,
        "live": state not in TERMINAL,
        "can_cancel": can_cancel,
        "can_decide": state is State.PENDING_APPROVAL and caller.may(Action.CALCULATIONS_APPROVE),
        "active": "calculations",
    }
    return render(request, who, "pages/calculation.html", **context)


@router.post("/calculations/{calc_id}/cancel")
def cancel(hub: HubDep, request: Request, who: PageViewer, calc_id: int) -> Response:
    allowed(who, Action.CALCULATIONS_WRITE)
    with hub.uow() as session:
        calcs.cancel(session, who.caller, calc_id, f"cancelled by {who.caller.username} from the web")
    return _back_to(request, who, calc_id)


def _back_to(request: Request, who: Viewer, calc_id: int) -> Response:
    """After a button: the calculation's page again (and no form to post twice)."""
    return who.finish(request, RedirectResponse(f"/calculations/{calc_id}", status_code=303))


@router.post("/calculations/{calc_id}/approve")
def approve(hub: HubDep, request: Request, who: PageViewer, calc_id: int) -> Response:
    allowed(who, Action.CALCULATIONS_APPROVE)
    with hub.uow() as session:
        calcs.decide(session, who.caller, calc_id, True, None)
    return _back_to(request, who, calc_id)


@router.post("/calculations/{calc_id}/reject")
def reject(
    hub: HubDep,
    request: Request,
    who: PageViewer,
    calc_id: int,
    comment: Annotated[str, Form(min_length=1, max_length=5000)],
) -> Response:
    allowed(who, Action.CALCULATIONS_APPROVE)
    with hub.uow() as session:
        calcs.decide(session, who.caller, calc_id, False, comment)
    return _back_to(request, who, calc_id)


@router.get("/calculations/{calc_id}/files/{path:path}")
def download(
    hub: HubDep, request: Request, who: PageViewer, calc_id: int, path: str, kind: str = "output"
) -> Response:
    allowed(who, Action.CALCULATIONS_READ)
    if kind not in {"output", "input"}:
        raise Invalid("kind is output or input", "kind")
    with hub.uow() as session:
        record, where = files.one(session, hub.store, who.caller, calc_id, path, kind)
    response = FileResponse(where, filename=Path(record.path).name, media_type="application/octet-stream")
    return who.finish(request, response)


@router.get("/calculations/{calc_id}/archive")
def archive(hub: HubDep, request: Request, who: PageViewer, calc_id: int) -> Response:
    allowed(who, Action.CALCULATIONS_READ)
    with hub.uow() as session:
        zipped = files.archive(session, hub.store, who.caller, calc_id)
    headers = {"Content-Disposition": f'attachment; filename="calc-{calc_id}.zip"'}
    return who.finish(request, Response(zipped, media_type="application/zip", headers=headers))


@router.get("/calculations/{calc_id}/log/stream")
async def log_stream(
    hub: HubDep,
    request: Request,
    who: PageViewer,
    calc_id: int,
    attempt: Annotated[int, Query(ge=0)] = 0,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    """The log of ``attempt`` from ``offset`` on as it grows (then the next attempt's, from its
    start), as server-sent events, until the run ends."""
    allowed(who, Action.CALCULATIONS_READ)
    await run_in_threadpool(_log_view, hub, who, calc_id)
    body = _events(hub, who, calc_id, attempt, offset)
    return StreamingResponse(body, media_type="text/event-stream", headers={"Cache-Control": "no-store"})


def _log_view(hub: HubDep, who: Viewer, calc_id: int) -> tuple[int, State]:
    caller = hub.user_for(who.secret)  # asked again each time: a block ends the stream
    with hub.uow() as session:
        return files.log_view(session, caller, calc_id, None)


async def _events(hub: HubDep, who: Viewer, calc_id: int, attempt: int, offset: int) -> AsyncIterator[bytes]:
    """``log`` events carry what the log gained, ``state`` the new state's badge, ``end`` the last state."""
    shown: State | None = None
    while True:
        events = [hub.wakeups.current(f"calc:{calc_id}"), hub.wakeups.current(CALLERS)]
        data = hub.store.read_log(calc_id, attempt, "stdout", offset)
        if data:
            offset += len(data)
            yield sse("log", html.escape(data.decode(errors="replace")))
            continue
        try:
            current, state = await run_in_threadpool(_log_view, hub, who, calc_id)
        except ServiceError:
            return
        if state != shown:
            shown = state
            yield sse(
                "state", templates.get_template("partials/state.html").render(state=state.value).strip()
            )
        if current != attempt and attempt == 0:
            attempt, offset = current, 0
            continue
        if state in TERMINAL or current != attempt:
            yield sse("end", state.value)
            return
        await wait_first(events, 15.0)
