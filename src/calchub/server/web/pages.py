"""The pages: sign-in, dashboard, calculations and one calculation, with its live log.

Each page asks the same services as the API, as the same ``Caller``; a
request that carries ``HX-Request`` (HTMX) gets only the fragment it swaps.
Forms post with the session cookies, which are SameSite=Strict, so another
site cannot make a signed-in browser post them.
"""

from __future__ import annotations

import base64
import html
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, StreamingResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import ValidationError

from calchub.contracts import calculations as wire
from calchub.domain.permissions import Action
from calchub.domain.states import TERMINAL, State
from calchub.server.repositories.calculations import ListQuery
from calchub.server.services import calctypes, clusters, files, overview, projects, results, sessions
from calchub.server.services import calculations as calcs
from calchub.server.services.errors import Forbidden, Invalid, InvalidInputs, ServiceError, Unauthorized
from calchub.server.services.sessions import Throttled
from calchub.server.services.unit import CALLERS
from calchub.server.services.wakeups import wait_first
from calchub.server.web import forms
from calchub.server.web.session import (
    SESSION,
    HubDep,
    PageViewer,
    Viewer,
    clear_cookies,
    set_cookies,
)

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(
    env=Environment(loader=PackageLoader("calchub.server.web", "templates"), autoescape=select_autoescape())
)
SORTS = [("-id", "newest"), ("id", "oldest"), ("-priority", "priority"), ("name", "name")]
#: How much of a log a page shows before the live tail takes over.
LOG_TAIL = 64 * 1024


def render(request: Request, who: Viewer | None, page: str, status: int = 200, **context: Any) -> Response:
    context["viewer"] = who.caller if who else None
    response = templates.TemplateResponse(request, page, context, status_code=status)
    return who.finish(request, response) if who else response


def _allowed(who: Viewer, action: Action) -> None:
    if not who.caller.may(action):
        raise Forbidden(f"a {who.caller.role} may not do this ({action.value})")


def _local(next_url: str) -> str:
    """Only a path on this server is a place to go back to after signing in."""
    return next_url if next_url.startswith("/") and not next_url.startswith("//") else "/"


# -- signing in and out -------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> Response:
    return render(request, None, "pages/login.html", next_url=_local(next), username="", error=None)


@router.post("/login", response_class=HTMLResponse)
def login(
    hub: HubDep,
    request: Request,
    username: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=1000)],
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    address = request.client.host if request.client else "unknown"
    try:
        with hub.uow() as session:
            issued = sessions.sign_in(session, username, password, address, hub.key, hub.lifetimes)
    except (Unauthorized, Throttled) as error:
        context = {"next_url": _local(next), "username": username, "error": error.message}
        return render(request, None, "pages/login.html", status=error.status, **context)
    response = RedirectResponse(_local(next), status_code=303)
    set_cookies(request, response, issued)
    return response


@router.post("/logout")
def logout(hub: HubDep, request: Request) -> Response:
    with hub.uow() as session:
        sessions.sign_out(session, request.cookies.get(SESSION))
    response = RedirectResponse("/login", status_code=303)
    clear_cookies(response)
    return response


# -- dashboard and lists ------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def dashboard(hub: HubDep, request: Request, who: PageViewer) -> Response:
    _allowed(who, Action.CALCULATIONS_READ)
    with hub.uow() as session:
        found = overview.overview(session, who.caller)
    return render(request, who, "pages/dashboard.html", overview=found, active="dashboard")


@router.get("/calculations", response_class=HTMLResponse)
def calculations(
    hub: HubDep,
    request: Request,
    who: PageViewer,
    state: State | None = None,
    project: Annotated[str | None, Query(max_length=100)] = None,
    owner: Annotated[str | None, Query(max_length=100)] = None,
    cluster: Annotated[str | None, Query(max_length=100)] = None,
    name: Annotated[str | None, Query(max_length=200)] = None,
    sort: wire.SortKey = "-id",
    favorite: bool = False,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
) -> Response:
    _allowed(who, Action.CALCULATIONS_READ)
    filters: dict[str, Any] = {"state": state.value if state else None, "project": project or None}
    filters |= {"owner": owner or None, "cluster": cluster or None, "name": name or None}
    filters |= {"sort": sort, "favorite": favorite}
    query = ListQuery(states=[state.value] if state else [], name=name or None, sort=sort, limit=50)
    query.favorites_of = who.caller.id if favorite else None
    error = None
    try:
        if cursor:
            query.after = calcs.decode_cursor(cursor)
        with hub.uow() as session:
            page = calcs.search(session, who.caller, query, owner or None, cluster or None, project or None)
    except ServiceError as problem:
        page, error = wire.CalculationPage(items=[]), problem.message
    kept = {k: v for k, v in filters.items() if v not in (None, False, "")}
    more = urlencode({**kept, "cursor": page.next_cursor}) if page.next_cursor else ""
    context: dict[str, Any] = {"rows": page.items, "next_cursor": page.next_cursor, "more_query": more}
    context |= {"filters": filters, "error": error}
    if request.headers.get("HX-Request"):
        return render(request, who, "partials/calc_table.html", **context)
    states = [s.value for s in State]
    return render(
        request, who, "pages/calculations.html", states=states, sorts=SORTS, active="calculations", **context
    )


# -- a new calculation --------------------------------------------------------------------


@router.get("/calculations/new", response_class=HTMLResponse)
def new_form(
    hub: HubDep, request: Request, who: PageViewer, type: Annotated[str, Query(max_length=100)] = "shell"
) -> Response:
    _allowed(who, Action.CALCULATIONS_WRITE)
    return _new_page(hub, request, who, type, {}, {})


def _new_page(
    hub: HubDep,
    request: Request,
    who: Viewer,
    type_name: str,
    form: dict[str, str],
    problems: dict[str, str],
    status: int = 200,
) -> Response:
    info = calctypes.describe(hub.calctypes, type_name)
    with hub.uow() as session:
        found_clusters = [c for c in clusters.all_clusters(session) if c.enabled]
        found_projects = projects.listing(session, who.caller)
    mine = [p for p in found_projects if p.my_role is not None]
    context = {
        "types": calctypes.listing(hub.calctypes).items,
        "info": info,
        "fields": forms.fields(info.input_schema),
    }
    context |= {"clusters": found_clusters, "projects": mine, "form": form, "problems": problems}
    return render(request, who, "pages/new.html", status=status, active="new", **context)


@router.post("/calculations/new", response_class=HTMLResponse)
async def submit(hub: HubDep, request: Request, who: PageViewer) -> Response:
    """The form's inputs and files as one typed submission; problems are shown by their field."""
    _allowed(who, Action.CALCULATIONS_WRITE)
    async with request.form() as posted:  # closes the uploaded files' spools
        form = {k: v for k, v in posted.items() if isinstance(v, str)}
        analyses = [str(a) for a in posted.getlist("analyses")]
        uploads = []
        for key, value in posted.multi_items():
            if key.startswith("upload:") and not isinstance(value, str) and value.filename:
                path = key.removeprefix("upload:")
                uploads.append((path if "*" not in path else value.filename, await value.read()))
    type_name = form.get("type", "shell")
    return await run_in_threadpool(_submit, hub, request, who, type_name, form, analyses, uploads)


def _submit(
    hub: HubDep,
    request: Request,
    who: Viewer,
    type_name: str,
    form: dict[str, str],
    analyses: list[str],
    uploads: list[tuple[str, bytes]],
) -> Response:
    try:
        info = calctypes.describe(hub.calctypes, type_name)
        body: dict[str, Any] = {"type": type_name, "inputs": forms.inputs(info.input_schema, form)}
        body |= {"name": form.get("name") or type_name, "cluster": form.get("cluster", "local")}
        body |= {"project": form.get("project") or None, "analyses": analyses or None}
        resources = {k: form[k] for k in ("cores", "walltime") if form.get(k)}
        body["resources"] = resources
        body["files"] = [
            {"path": path, "content": base64.b64encode(data).decode(), "encoding": "base64"}
            for path, data in uploads
        ]
        request_model = wire.CalculationCreate.model_validate(body)
        with hub.uow() as session:
            (made,) = calcs.submit(session, hub.store, who.caller, [request_model], hub.calctypes)
    except InvalidInputs as error:
        problems = {field: message for field, _, message in error.problems}
        return _new_page(hub, request, who, type_name, form, problems, status=422)
    except ServiceError as error:
        return _new_page(
            hub, request, who, type_name, form, {error.field or "": error.message}, status=error.status
        )
    except ValidationError as error:
        problems = {".".join(str(p) for p in e["loc"]): e["msg"] for e in error.errors()}
        return _new_page(hub, request, who, type_name, form, problems or {"": str(error)}, status=422)
    return who.finish(request, RedirectResponse(f"/calculations/{made.id}", status_code=303))


# -- one calculation ----------------------------------------------------------------------


@router.get("/calculations/{calc_id}", response_class=HTMLResponse)
def calculation(hub: HubDep, request: Request, who: PageViewer, calc_id: int) -> Response:
    _allowed(who, Action.CALCULATIONS_READ)
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
    _allowed(who, Action.CALCULATIONS_WRITE)
    with hub.uow() as session:
        calcs.cancel(session, who.caller, calc_id, f"cancelled by {who.caller.username} from the web")
    return _back_to(request, who, calc_id)


def _back_to(request: Request, who: Viewer, calc_id: int) -> Response:
    """After a button: the calculation's page again (and no form to post twice)."""
    return who.finish(request, RedirectResponse(f"/calculations/{calc_id}", status_code=303))


@router.post("/calculations/{calc_id}/approve")
def approve(hub: HubDep, request: Request, who: PageViewer, calc_id: int) -> Response:
    _allowed(who, Action.CALCULATIONS_APPROVE)
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
    _allowed(who, Action.CALCULATIONS_APPROVE)
    with hub.uow() as session:
        calcs.decide(session, who.caller, calc_id, False, comment)
    return _back_to(request, who, calc_id)


@router.get("/calculations/{calc_id}/files/{path:path}")
def download(
    hub: HubDep, request: Request, who: PageViewer, calc_id: int, path: str, kind: str = "output"
) -> Response:
    _allowed(who, Action.CALCULATIONS_READ)
    if kind not in {"output", "input"}:
        raise Invalid("kind is output or input", "kind")
    with hub.uow() as session:
        record, where = files.one(session, hub.store, who.caller, calc_id, path, kind)
    response = FileResponse(where, filename=Path(record.path).name, media_type="application/octet-stream")
    return who.finish(request, response)


@router.get("/calculations/{calc_id}/archive")
def archive(hub: HubDep, request: Request, who: PageViewer, calc_id: int) -> Response:
    _allowed(who, Action.CALCULATIONS_READ)
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
    _allowed(who, Action.CALCULATIONS_READ)
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
            yield _sse("log", html.escape(data.decode(errors="replace")))
            continue
        try:
            current, state = await run_in_threadpool(_log_view, hub, who, calc_id)
        except ServiceError:
            return
        if state != shown:
            shown = state
            yield _sse(
                "state", templates.get_template("partials/state.html").render(state=state.value).strip()
            )
        if current != attempt and attempt == 0:
            attempt, offset = current, 0
            continue
        if state in TERMINAL or current != attempt:
            yield _sse("end", state.value)
            return
        await wait_first(events, 15.0)


def _sse(event: str, data: str) -> bytes:
    lines = "".join(f"data: {line}\n" for line in data.split("\n"))
    return f"event: {event}\n{lines}\n".encode()
