"""One calculation: its facts, resources, results, files and timeline, with its buttons, and a live
log, state, timeline and buttons over SSE."""

from __future__ import annotations

import codecs
import csv
import html
import io
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, StreamingResponse

from calchub.contracts import calculations as wire
from calchub.contracts import results as result_wire
from calchub.domain.permissions import Action
from calchub.domain.states import TERMINAL, WAITING_TO_RUN, State
from calchub.server.services import calculations as calcs
from calchub.server.services import files, results, study_views
from calchub.server.services.auth import Caller
from calchub.server.services.errors import Invalid, NotFound, ServiceError
from calchub.server.services.unit import CALLERS
from calchub.server.services.wakeups import wait_first
from calchub.server.web.forms import memory_text, walltime_text
from calchub.server.web.rendering import allowed, render, sse, templates
from calchub.server.web.session import (
    HubDep,
    PageViewer,
    Viewer,
)

router = APIRouter(include_in_schema=False)
#: How much of a log a page shows before the live tail takes over.
LOG_TAIL = 64 * 1024
#: Rows of a result table the page shows; the CSV download has them all.
TABLE_ROWS = 50
#: How the agent words a batch job's pending reason in its ``submitted`` report (``agent.runner.started``).
PENDING = "pending in the queue: "


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
        buttons = _buttons(caller, calc_id, state, calcs.actions_on(session, caller, [calc_id]))
        study_id = study_views.id_of(session, caller, calc.project, calc.study)
    context: dict[str, Any] = {
        "calc": calc,
        "study_id": study_id,
        "events": events,
        "results": found,
        "tables": [_table(t) for t in found.tables],
        "resources": _resources(calc.resources),
        "reason": _pending_reason(calc, events),
        "message": _message(calc),
        "files": listed,
        "live": state not in TERMINAL,
        "active": "calculations",
        **buttons,
        **_log(hub, calc_id, attempt, state, events[-1].id if events else 0),
    }
    return render(request, who, "pages/calculation.html", **context)


def _log(hub: HubDep, calc_id: int, attempt: int, state: State, last_event: int) -> dict[str, Any]:
    """The log the page shows, and the stream that goes on from exactly there, however late it
    connects. A calculation waiting for its next attempt (a retry) shows the last attempt's log
    apart and follows the next one from its start."""
    (tail, size), (error_tail, error_size) = (_tail(hub, calc_id, attempt, s) for s in LOG_EVENTS)
    if attempt > 0 and state in WAITING_TO_RUN:
        live, offset, error_offset, shown, shown_errors, earlier = attempt + 1, 0, 0, "", "", tail
    else:
        live, offset, error_offset = attempt, size, error_size
        shown, shown_errors, earlier = tail, error_tail, ""
    stream = f"/calculations/{calc_id}/log/stream?attempt={live}&offset={offset}"
    stream += f"&error_offset={error_offset}&after={last_event}"
    return {
        "log": shown,
        "error_log": shown_errors,
        "earlier_log": earlier,
        "earlier_attempt": attempt,
        "stream": stream,
    }


def _tail(hub: HubDep, calc_id: int, attempt: int, stream: str) -> tuple[str, int]:
    """The last ``LOG_TAIL`` bytes of a log as text, and the offset the live stream goes on from.

    Only what the log held when its size was read is shown (it may grow meanwhile), from a whole
    character on and up to the last whole one: a character cut at the end is the stream's to send.
    """
    size = hub.store.log_size(calc_id, attempt, stream)
    start = max(0, size - LOG_TAIL)
    data = hub.store.read_log(calc_id, attempt, stream, start, size - start)
    head = next((i for i, byte in enumerate(data[:4]) if byte & 0xC0 != 0x80), 0)
    end = whole_characters(data)
    return data[head:end].decode(errors="replace"), start + end


def whole_characters(data: bytes) -> int:
    """How many bytes of ``data`` hold whole UTF-8 characters: all, unless the last is cut short."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 == 0x80:
            continue  # a continuation byte: its lead is further back
        needs = 2 if byte & 0xE0 == 0xC0 else 3 if byte & 0xF0 == 0xE0 else 4 if byte & 0xF8 == 0xF0 else 1
        return len(data) - back if needs > back else len(data)
    return len(data)


def _buttons(
    caller: Caller, calc_id: int, state: State, actions: dict[int, frozenset[str]]
) -> dict[str, Any]:
    """What the viewer may press now: ``actions`` (from ``calcs.actions_on``) are the rules the
    services apply when it is pressed."""
    writes = caller.may(Action.CALCULATIONS_WRITE)
    return {
        "calc_id": calc_id,
        "actions": actions.get(calc_id, frozenset()) if writes else frozenset(),
        "can_clone": writes,
        "can_decide": writes and state is State.PENDING_APPROVAL and caller.may(Action.CALCULATIONS_APPROVE),
    }


def _resources(chosen: wire.Resources) -> list[tuple[str, str]]:
    """Every resource the calculation asked for, as the page lists them."""
    per_cpu = " per CPU" if chosen.memory_per == "cpu" else ""
    found = [
        ("nodes", str(chosen.nodes)),
        ("tasks", str(chosen.tasks)),
        ("cores", f"{chosen.cores}{' per task' if chosen.tasks > 1 else ''}"),
        ("GPUs", str(chosen.gpus)),
        ("memory", f"{memory_text(chosen.memory)}{per_cpu}" if chosen.memory else "no limit"),
        ("walltime", walltime_text(chosen.walltime) if chosen.walltime else "no limit"),
    ]
    named = [("partition", chosen.partition), ("QOS", chosen.qos), ("account", chosen.account)]
    found += [(label, value) for label, value in named if value]
    if chosen.mail_user:
        kinds = f" ({', '.join(chosen.mail_type)})" if chosen.mail_type else ""
        found.append(("mail", f"{chosen.mail_user}{kinds}"))
    return found


def _pending_reason(calc: wire.Calculation, events: Sequence[wire.Event]) -> str | None:
    """Why the scheduler still holds the job in its queue (``Resources``, ``Priority``), while it does."""
    if calc.state is not State.SUBMITTED:
        return None
    for event in reversed(events):
        if event.attempt == calc.attempt and event.to_state is State.SUBMITTED:
            message = event.message or ""
            return message.removeprefix(PENDING) if message.startswith(PENDING) else None
    return None


def _message(calc: wire.Calculation) -> str | None:
    """The calculation's message; a pending reason left over from its time in the queue is not one."""
    if calc.message and calc.message.startswith(PENDING) and calc.state is not State.SUBMITTED:
        return None
    return calc.message


@dataclass(frozen=True)
class TableView:
    """A result table as the page shows it: headers with units, and its first rows."""

    name: str
    source: str
    headers: list[str]
    rows: list[list[result_wire.Cell]]
    total: int


def _table(table: result_wire.Table) -> TableView:
    return TableView(table.name, table.source, _headers(table), table.rows[:TABLE_ROWS], len(table.rows))


def _headers(table: result_wire.Table) -> list[str]:
    units = table.units + [""] * (len(table.columns) - len(table.units))
    pairs = zip(table.columns, units, strict=False)
    return [f"{column} [{unit}]" if unit else column for column, unit in pairs]


@router.post("/calculations/{calc_id}/cancel")
def cancel(hub: HubDep, request: Request, who: PageViewer, calc_id: int) -> Response:
    allowed(who, Action.CALCULATIONS_WRITE)
    with hub.uow() as session:
        calcs.cancel(session, who.caller, calc_id, f"cancelled by {who.caller.username} from the web")
    return _back_to(request, who, calc_id)


@router.post("/calculations/{calc_id}/retry")
def retry(hub: HubDep, request: Request, who: PageViewer, calc_id: int) -> Response:
    allowed(who, Action.CALCULATIONS_WRITE)
    with hub.uow() as session:
        calcs.retry(session, who.caller, calc_id)
    return _back_to(request, who, calc_id)


@router.post("/calculations/{calc_id}/delete")
def delete(hub: HubDep, request: Request, who: PageViewer, calc_id: int) -> Response:
    allowed(who, Action.CALCULATIONS_WRITE)
    with hub.uow() as session:
        calcs.delete(session, who.caller, calc_id)
    hub.store.delete([calc_id])  # once the record is gone for good
    return who.finish(request, RedirectResponse("/calculations", status_code=303))


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


@router.get("/calculations/{calc_id}/tables/{name}.csv")
def table_csv(hub: HubDep, request: Request, who: PageViewer, calc_id: int, name: str) -> Response:
    """One result table whole, as CSV (the page shows its first rows)."""
    allowed(who, Action.CALCULATIONS_READ)
    with hub.uow() as session:
        found = results.of_calculation(session, who.caller, calc_id)
    table = next((t for t in found.tables if t.name == name), None)
    if table is None:
        raise NotFound(f"calculation {calc_id} has no table {name!r}")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_headers(table))
    writer.writerows(["" if cell is None else cell for cell in row] for row in table.rows)
    headers = {"Content-Disposition": f'attachment; filename="calc-{calc_id}-{table.name}.csv"'}
    return who.finish(request, Response(out.getvalue(), media_type="text/csv", headers=headers))


@router.get("/calculations/{calc_id}/log/stream")
async def log_stream(
    hub: HubDep,
    request: Request,
    who: PageViewer,
    calc_id: int,
    attempt: Annotated[int, Query(ge=0, le=wire.MAX_ID)] = 0,
    offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
    error_offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
    after: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    """The log of ``attempt`` from ``offset`` on as it grows, and its standard error from
    ``error_offset`` (an attempt that has not started yet is waited for; attempt 0 is the first
    to start, from its start), as server-sent events, until the run ends; with ``after`` (an
    event id), the timeline's new events too."""
    allowed(who, Action.CALCULATIONS_READ)
    await run_in_threadpool(_log_view, hub, who, calc_id)
    body = _events(hub, who, calc_id, attempt, {"stdout": offset, "stderr": error_offset}, after)
    headers = {"Cache-Control": "no-store"}
    return who.finish(request, StreamingResponse(body, media_type="text/event-stream", headers=headers))


def _log_view(hub: HubDep, who: Viewer, calc_id: int) -> tuple[int, State]:
    caller = hub.user_for(who.secret)  # asked again each time: a block ends the stream
    with hub.uow() as session:
        return files.log_view(session, caller, calc_id, None)


@dataclass(frozen=True)
class Seen:
    """One look at the calculation for the stream: its attempt and state, new events, the buttons."""

    attempt: int
    state: State
    events: list[wire.Event]
    buttons: dict[str, Any]


def _look(hub: HubDep, who: Viewer, calc_id: int, after: int | None) -> Seen:
    caller = hub.user_for(who.secret)  # asked again each time: a block ends the stream
    with hub.uow() as session:
        attempt, state = files.log_view(session, caller, calc_id, None)
        events = [] if after is None else calcs.events(session, caller, calc_id, after)
        buttons = _buttons(caller, calc_id, state, calcs.actions_on(session, caller, [calc_id]))
    return Seen(attempt, state, events, buttons)


def _partial(name: str, **context: Any) -> str:
    return templates.get_template(f"partials/{name}.html").render(**context).strip()


#: The stream's event for what each log gained.
LOG_EVENTS = {"stdout": "log", "stderr": "stderr"}
#: The most of a log one event carries: a long log catches up over several.
LOG_CHUNK = 256 * 1024
#: While a log catches up, the stream asks again who is watching after this many rounds.
LOOK_EVERY = 8


def _decoders() -> dict[str, codecs.IncrementalDecoder]:
    """One decoder per log: a character split between two reads is sent whole with the second."""
    return {stream: codecs.getincrementaldecoder("utf-8")(errors="replace") for stream in LOG_EVENTS}


async def _events(
    hub: HubDep, who: Viewer, calc_id: int, attempt: int, offsets: dict[str, int], after: int | None
) -> AsyncIterator[bytes]:
    """``log`` and ``stderr`` events carry what the logs gained, ``event`` a new entry of the
    timeline, ``state`` the new state's badge, ``actions`` the buttons for it, ``end`` the last state."""
    shown: State | None = None
    decoders = _decoders()
    catching_up = 0
    while True:
        wakes = [hub.wakeups.current(f"calc:{calc_id}"), hub.wakeups.current(CALLERS)]
        grew = False
        for stream, name in LOG_EVENTS.items():
            data = hub.store.read_log(calc_id, attempt, stream, offsets[stream], LOG_CHUNK)
            if data:
                offsets[stream] += len(data)
                grew = True
                yield sse(name, html.escape(decoders[stream].decode(data)))
        # A log that grows as fast as it is read: still ask who is watching every few chunks.
        catching_up = catching_up + 1 if grew else 0
        if grew and catching_up % LOOK_EVERY:
            continue
        try:
            seen = await run_in_threadpool(_look, hub, who, calc_id, after)
        except ServiceError:
            return
        for event in seen.events:
            after = event.id
            yield sse("event", _partial("calc_page_event", e=event))
        if seen.state != shown:
            shown = seen.state
            yield sse("state", _partial("state", state=seen.state.value))
            yield sse("actions", _partial("calc_page_actions", **seen.buttons))
        if seen.attempt != attempt and attempt == 0:
            attempt, offsets, decoders = seen.attempt, dict.fromkeys(LOG_EVENTS, 0), _decoders()
            continue
        if seen.state in TERMINAL or seen.attempt > attempt:
            yield sse("end", seen.state.value)
            return
        await wait_first(wakes, 15.0)
