"""Models: every version the viewer sees with its state, and one version's page with its facts,
versions, log and a "Try it" form; Start, Stop, Make current and (admins) Delete.

The pages ask ``services.models`` as their viewer, as the API does: a model of a project the
viewer does not belong to is not found, and each button is shown only to whom the registry
lets press it (owner, the project's managers, admins; Delete: admins), and refused to anyone
else. "Try it" asks ``services.model_proxy``, the API's inference proxy, as the viewer.

Both pages stay live over server-sent events that wait on the ``models`` wake-up (any
version's wanted state or state changed) and ``callers`` (someone's rights changed: who is
watching is asked again), never on a timer alone: ``/live/models`` sends the list's ``rows``;
``/models/{name}/live`` sends a version's ``status``, ``actions`` and ``versions`` as they
change, and ``log`` with what its log gained, looked for every ``LOG_SECONDS`` while the
stream waits, as a calculation's page follows its log.
"""

from __future__ import annotations

import asyncio
import codecs
import html
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Form, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse
from sqlalchemy.orm import Session

from calchub.contracts import models as wire
from calchub.domain.permissions import Action
from calchub.server.services import model_proxy, models
from calchub.server.services.auth import Caller
from calchub.server.services.errors import Forbidden, Invalid, NotFound, ServiceError
from calchub.server.services.unit import CALLERS
from calchub.server.services.wakeups import wait_first
from calchub.server.web import model_views as views
from calchub.server.web.people_forms import is_htmx
from calchub.server.web.rendering import allowed, local, render, sse, templates
from calchub.server.web.session import HubDep, PageViewer, Viewer

router = APIRouter(include_in_schema=False)
Version = Annotated[str | None, Query(max_length=40)]
FormVersion = Annotated[str, Form(min_length=1, max_length=40)]
Next = Annotated[str, Form(max_length=2000)]
#: The wake-ups the streams wait on.
WAKEUPS = (models.MODELS, CALLERS)
#: A stream looks again at least this often when nothing wakes it (to ask who is watching, and
#: to say how long ago the last ping was); the list's stream ends after ``STREAM_SECONDS``
#: (the browser opens it again at once, as the viewer it is then).
QUIET_SECONDS = 15.0
STREAM_SECONDS = 600.0
#: The list's stream looks at most once this often.
EVERY_SECONDS = 0.5
#: A version's stream reads its log again after this long without a wake-up.
LOG_SECONDS = 2.0
#: The most of a log one event carries: a long log catches up over several.
LOG_CHUNK = 256 * 1024
STREAM_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def _now() -> datetime:
    return datetime.now(UTC)


def _page_of(name: str, version: str | None) -> str:
    where = f"/models/{quote(name)}"
    return f"{where}?version={quote(version)}" if version else where


def _back(request: Request, who: Viewer, next_url: str, fallback: str) -> Response:
    """After a button: the page it was pressed on, by GET (and no form to post twice)."""
    where = local(next_url) if next_url else fallback
    return who.finish(request, RedirectResponse(where, status_code=303))


# -- the list ---------------------------------------------------------------------------------


@router.get("/models", response_class=HTMLResponse)
def model_list(hub: HubDep, request: Request, who: PageViewer) -> Response:
    allowed(who, Action.MODELS_READ)
    context = _list(hub, who.caller)
    return render(request, who, "pages/models.html", active="models", **context)


def _list(hub: HubDep, caller: Caller) -> dict[str, Any]:
    with hub.uow() as session:
        found = models.listing(session, caller)
        changeable = views.changeable(session, caller, found)
    return {"groups": views.grouped(found), "changeable": changeable, "at": _now(), "ago": views.ago}


@router.get("/live/models")
async def list_live(hub: HubDep, request: Request, who: PageViewer) -> Response:
    """``rows``: the list's table, again whenever a version's state or wanted state changes."""
    allowed(who, Action.MODELS_READ)
    events = [hub.wakeups.current(key) for key in WAKEUPS]  # before the first look: nothing missed

    def rows() -> str:
        return _partial("model_rows", **_list(hub, _recheck(hub, who)))

    first = await run_in_threadpool(rows)
    body = _list_events(hub, events, first, rows)
    return who.finish(
        request, StreamingResponse(body, media_type="text/event-stream", headers=STREAM_HEADERS)
    )


async def _list_events(
    hub: HubDep, events: list[asyncio.Event], first: str, rows: Callable[[], str]
) -> AsyncIterator[bytes]:
    """``first`` now, then the rows again after each change (changes close together make one
    look), or after ``QUIET_SECONDS``, until ``STREAM_SECONDS`` have passed."""
    yield b"retry: 2000\n\n"
    ends = time.monotonic() + STREAM_SECONDS
    sent, shown = "", first
    while True:
        if shown != sent:
            sent = shown
            yield sse("rows", shown)
        looked = time.monotonic()
        if (left := ends - looked) <= 0:
            return
        if await wait_first(events, min(QUIET_SECONDS, left)):
            if (pause := looked + EVERY_SECONDS - time.monotonic()) > 0:
                await asyncio.sleep(pause)
            events = [hub.wakeups.current(key) for key in WAKEUPS]
        try:
            shown = await run_in_threadpool(rows)
        except ServiceError:
            return


def _recheck(hub: HubDep, who: Viewer) -> Caller:
    """Who is watching, asked again each time: a block or a lost role ends the stream."""
    caller = hub.user_for(who.secret)
    if not caller.may(Action.MODELS_READ):
        raise Forbidden("you may no longer see models")
    return caller


def _partial(name: str, **context: Any) -> str:
    return templates.get_template(f"partials/{name}.html").render(**context).strip()


# -- one version ------------------------------------------------------------------------------


@router.get("/models/{name}", response_class=HTMLResponse)
def model_page(
    hub: HubDep, request: Request, who: PageViewer, name: str, version: Version = None
) -> Response:
    allowed(who, Action.MODELS_READ)
    context = _page(hub, who.caller, name, version)
    return render(request, who, "pages/model.html", active="models", **context)


def _parts(hub: HubDep, caller: Caller, name: str, version: str | None) -> dict[str, Any]:
    """What the page and its stream share: the version, its versions, and who may press what."""
    with hub.uow() as session:
        shown = models.show(session, caller, name, version)
        found = models.versions(session, caller, name)
        changeable = views.changeable(session, caller, found)
    return {
        "model": shown,
        "versions": found,
        "changeable": changeable,
        "can_change": shown.id in changeable,
        "can_delete": caller.may(Action.MODELS_DELETE),
        "here": _page_of(name, version),
        "at": _now(),
        "ago": views.ago,
    }


def _page(
    hub: HubDep,
    caller: Caller,
    name: str,
    version: str | None,
    answer: views.Answer | None = None,
    **form: str,
) -> dict[str, Any]:
    context = _parts(hub, caller, name, version)
    model: wire.Model = context["model"]
    log, offset = views.log_tail(hub.store, model.id)
    body, kind = views.first_body(model)
    context |= {
        "log": log,
        "stream": f"/models/{quote(name)}/live?version={quote(model.version)}&offset={offset}",
        "can_try": caller.may(Action.MODELS_INVOKE),
        "kinds": views.KINDS,
        "body": form.get("body", body),
        "kind": form.get("kind", kind),
        "answer": answer,
        "facts": views.facts(model),
    }
    return context


@router.post("/models/{name}/delete")
def delete(hub: HubDep, request: Request, who: PageViewer, name: str, version: FormVersion) -> Response:
    """Delete a version (admins): the runtime stops it if it runs; its package and log go."""
    allowed(who, Action.MODELS_DELETE)
    with hub.uow() as session:
        model_id = models.delete(session, who.caller, name, version)
    models.delete_files(hub.store, model_id)  # once the record is gone for good
    return who.finish(request, RedirectResponse("/models", status_code=303))


@router.post("/models/{name}/try", response_class=HTMLResponse)
async def try_it(
    hub: HubDep,
    request: Request,
    who: PageViewer,
    name: str,
    version: FormVersion,
    body: Annotated[str, Form(max_length=wire.MAX_INVOCATION_BYTES)] = "",
    content_type: Annotated[str, Form(max_length=100)] = "application/json",
) -> Response:
    """The "Try it" form: the body goes to the version as the API's proxy sends it, and the
    model's answer (whatever its status) is shown; to HTMX, the answer alone. calchub's own
    refusal (not healthy: 503, no answer in time: 502, a content type it does not send: 422)
    is shown in its place with its status."""
    allowed(who, Action.MODELS_INVOKE)
    shown, status = await _invoke(hub, who.caller, name, version, body, content_type)
    if is_htmx(request):
        return render(request, who, "partials/model_answer.html", status=status, answer=shown)
    context = await run_in_threadpool(
        _page, hub, who.caller, name, version, shown, body=body, kind=content_type
    )
    return render(request, who, "pages/model.html", status=status, active="models", **context)


async def _invoke(
    hub: HubDep, caller: Caller, name: str, version: str, body: str, kind: str
) -> tuple[views.Answer, int]:
    try:
        if kind not in views.KINDS:
            raise Invalid(f"send {' or '.join(views.KINDS)}, not {kind!r}", "content_type")
        headers = {"content-type": kind, "accept": kind}
        status, data, answered = await model_proxy.invoke(hub, caller, name, version, body.encode(), headers)
    except NotFound:
        raise
    except ServiceError as error:
        return views.Answer(error.status, problem=error.message), error.status
    return views.answer(status, data, answered), 200


# -- one version, live ------------------------------------------------------------------------


#: What each button of a version does, as the viewer: the registry's start, stop, make current.
PRESSES: dict[str, Callable[[Session, Caller, str, str, HubDep], object]] = {
    "start": lambda session, caller, name, version, hub: models.start(
        session, caller, name, version, list(hub.settings.model_runtimes)
    ),
    "stop": lambda session, caller, name, version, hub: models.stop(session, caller, name, version),
    "current": lambda session, caller, name, version, hub: models.patch(
        session, caller, name, version, wire.ModelPatch(current=True)
    ),
}


@router.post("/models/{name}/{press}")
def press_button(
    hub: HubDep,
    request: Request,
    who: PageViewer,
    name: str,
    press: Literal["start", "stop", "current"],
    version: FormVersion,
    next: Next = "",
) -> Response:
    """Start, Stop or Make current; then back to the page it was pressed on. (After the
    fixed paths: ``delete`` and ``try`` are not presses.)"""
    allowed(who, Action.MODELS_WRITE)
    with hub.uow() as session:
        PRESSES[press](session, who.caller, name, version, hub)
    return _back(request, who, next, _page_of(name, version))


@router.get("/models/{name}/live")
async def model_live(
    hub: HubDep,
    request: Request,
    who: PageViewer,
    name: str,
    version: Annotated[str, Query(min_length=1, max_length=40)],
    offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
) -> Response:
    """The version's ``status``, ``actions`` and ``versions`` as they change, and ``log`` with
    what its log gained from ``offset`` on; ``end`` once the version is gone or the viewer may
    no longer see it. Each ``log`` event's id is where the log goes on from: a browser that
    connects again (it sends the last id it had) gets the rest, and nothing twice."""
    allowed(who, Action.MODELS_READ)
    if last_event_id is not None and last_event_id.isdigit():
        offset = int(last_event_id)
    events = [hub.wakeups.current(key) for key in WAKEUPS]  # before the first look: nothing missed
    first = await run_in_threadpool(_look, hub, who, name, version)  # a version not seen: 404
    body = _model_events(hub, who, name, version, events, first, offset)
    return who.finish(
        request, StreamingResponse(body, media_type="text/event-stream", headers=STREAM_HEADERS)
    )


@dataclass(frozen=True)
class Look:
    """One look at a version for its stream: its id, and each part as the page shows it."""

    model_id: int
    parts: dict[str, str]


def _look(hub: HubDep, who: Viewer, name: str, version: str) -> Look:
    context = _parts(hub, _recheck(hub, who), name, version)
    parts = {part: _partial(f"model_{part}", **context) for part in ("status", "actions", "versions")}
    return Look(context["model"].id, parts)


async def _model_events(
    hub: HubDep, who: Viewer, name: str, version: str, events: list[asyncio.Event], look: Look, offset: int
) -> AsyncIterator[bytes]:
    sent: dict[str, str] = {}
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    looked = time.monotonic()
    while True:
        for part, shown in look.parts.items():
            if sent.get(part) != shown:
                sent[part] = shown
                yield sse(part, shown)
        data = await run_in_threadpool(views.log_from, hub.store, look.model_id, offset, LOG_CHUNK)
        if data:
            offset += len(data)
            text = html.escape(decoder.decode(data))
            whole = offset - len(decoder.getstate()[0])  # a character cut short is sent with the rest
            yield f"id: {whole}\n".encode() + sse("log", text)
        # A log that grew by a whole chunk has more: read on at once.
        woken = await wait_first(events, 0.0 if len(data) == LOG_CHUNK else LOG_SECONDS)
        if not woken and time.monotonic() - looked < QUIET_SECONDS:
            continue
        if woken:
            events = [hub.wakeups.current(key) for key in WAKEUPS]
        try:
            look = await run_in_threadpool(_look, hub, who, name, version)
        except NotFound:
            yield sse("end", "gone")
            return
        except ServiceError:
            return  # signed out or blocked: the browser asks again, as whoever it is then
        looked = time.monotonic()
