"""Studies: the list, and one study's page with its progress, graph, results table and plots.

The pages ask ``services.studies`` (the study, its counts, a pipeline's steps) and
``services.study_views`` (the graph of its calculations, its table, a plot) as their viewer,
as the API does: a study of a project the viewer does not belong to is not found. While a
study has work that has not finished, its page keeps one server-sent-events stream open
(``/studies/{id}/stream``) that waits on the ``calcs`` wake-up (any calculation changed
state), never on a timer, asks again who is watching on every round, and sends the parts
that changed: ``progress``, ``graph``, ``results``, then ``choices`` and ``scalars`` when new
results came (the plot is fetched again), and ``end`` once every calculation has finished.

``/studies/{id}?x=<parameter>&y=<result>`` draws result ``y`` against parameter ``x``; the
form on the page asks the same address with HTMX and gets the plot alone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse
from sqlalchemy.orm import Session

from calchub.contracts import studies as wire
from calchub.contracts.calculations import MAX_ID
from calchub.domain.permissions import Action
from calchub.domain.states import TERMINAL
from calchub.server.services import studies, study_views
from calchub.server.services.auth import Caller
from calchub.server.services.errors import Invalid, ServiceError
from calchub.server.services.unit import CALLERS
from calchub.server.services.wakeups import wait_first
from calchub.server.web.people_forms import is_htmx
from calchub.server.web.rendering import allowed, render, sse, templates
from calchub.server.web.session import HubDep, PageViewer, Viewer
from calchub.server.web.study_drawing import layout, progress

router = APIRouter(include_in_schema=False)
StudyId = Annotated[int, Path(ge=1, le=MAX_ID)]
Name = Annotated[str | None, Query(max_length=200)]
#: Rows of the results table the page shows; the CSV has them all.
TABLE_ROWS = 100
#: The values of a parameter the page names before it says how many more there are.
SHOWN_VALUES = 8
#: The wake-ups a study's stream waits on: any calculation changed state; a viewer changed.
WAKEUPS = ("calcs", CALLERS)
#: A stream looks at most once this often (changes close together make one look), and at
#: least this often, to ask again who is watching when nothing happens.
EVERY_SECONDS = 1.0
QUIET_SECONDS = 15.0


@router.get("/studies", response_class=HTMLResponse)
def study_list(hub: HubDep, request: Request, who: PageViewer) -> Response:
    allowed(who, Action.CALCULATIONS_READ)
    with hub.uow() as session:
        found = studies.listing(session, who.caller)
    rows = [(s, progress(s.counts)) for s in found.items]
    return render(request, who, "pages/studies.html", active="studies", rows=rows)


@router.get("/studies/{study_id}", response_class=HTMLResponse)
def study_page(
    hub: HubDep, request: Request, who: PageViewer, study_id: StudyId, x: Name = None, y: Name = None
) -> Response:
    """The whole page; to HTMX (the plot's form, or new results), the plot alone."""
    allowed(who, Action.CALCULATIONS_READ)
    with hub.uow() as session:
        if is_htmx(request):
            found = study_views.table(session, who.caller, study_id)
            response = render(request, who, "partials/study_plot.html", **_plot(found, x, y))
            response.headers["Vary"] = "HX-Request"
            return response
        context = _page(session, who.caller, study_id, x, y)
    status = 422 if context["plot_problem"] else 200
    response = render(request, who, "pages/study.html", status=status, active="studies", **context)
    response.headers["Vary"] = "HX-Request"  # one address, two answers: never cache one for the other
    return response


def _page(session: Session, caller: Caller, study_id: int, x: str | None, y: str | None) -> dict[str, Any]:
    shown = studies.describe(session, caller, study_id)
    found = study_views.table(session, caller, study_id)
    context = _parts(session, caller, shown, found)
    context |= _plot(found, x, y)
    live = shown.total == 0 or shown.finished < shown.total
    context |= {
        "live": live,
        "can_cancel": shown.finished < shown.total and studies.may_cancel(session, caller, study_id),
        "stream": f"/studies/{study_id}/stream?scalars={found.scalar_count}",
        "varied": _varied(found),
    }
    return context


def _parts(session: Session, caller: Caller, shown: wire.Study, found: study_views.Table) -> dict[str, Any]:
    """What the page and its stream share: the study, its progress, its graph and its table."""
    drawn = study_views.graph(session, caller, shown)
    return {
        "study": shown,
        "progress": progress(shown.counts),
        "graph": drawn,
        "drawing": layout(drawn) if drawn is not None and drawn.nodes else None,
        "table": found,
        "rows": found.rows[:TABLE_ROWS],
        "total": shown.total,
        "in_csv": min(shown.total, study_views.MAX_ROWS),
        "parameters": found.parameters,
        "results": [c.name for c in found.results],
    }


def _chosen(found: study_views.Table, x: str | None, y: str | None) -> dict[str, Any]:
    """The parameter and result asked for, else the first of each there is."""
    names = [c.name for c in found.results]
    return {"x": x or next(iter(found.parameters), None), "y": y or next(iter(names), None)}


def _plot(found: study_views.Table, x: str | None, y: str | None) -> dict[str, Any]:
    """The plot asked for, or of the first result against the first parameter when there are
    both; a name the study lacks is the plot's problem."""
    context: dict[str, Any] = _chosen(found, x, y) | {"plot": None, "plot_problem": None}
    x, y = context["x"], context["y"]
    if x is None or y is None:
        return context
    try:
        context["plot"] = study_views.plot(found, x, y)
    except Invalid as problem:
        context["plot_problem"] = problem.message
    return context


def _varied(found: study_views.Table) -> list[tuple[str, str]]:
    """Each parameter with the values its calculations ran at, as the page names them."""
    named = []
    for n, parameter in enumerate(found.parameters):
        values = list(dict.fromkeys(str(r.values[n]) for r in found.rows if r.values[n] is not None))
        text = ", ".join(values[:SHOWN_VALUES])
        if len(values) > SHOWN_VALUES:
            text += f" … ({len(values)} values)"
        named.append((parameter, text))
    return named


@router.post("/studies/{study_id}/cancel")
def cancel(hub: HubDep, request: Request, who: PageViewer, study_id: StudyId) -> Response:
    """The study's Cancel button: its unfinished calculations, then its page again."""
    allowed(who, Action.CALCULATIONS_WRITE)
    with hub.uow() as session:
        studies.cancel(
            session, who.caller, study_id, f"study cancelled by {who.caller.username} from the web"
        )
    return who.finish(request, RedirectResponse(f"/studies/{study_id}", status_code=303))


@router.get("/studies/{study_id}/results.csv")
def results_csv(hub: HubDep, request: Request, who: PageViewer, study_id: StudyId) -> Response:
    """The whole table (up to ``study_views.MAX_ROWS`` calculations) as CSV."""
    allowed(who, Action.CALCULATIONS_READ)
    with hub.uow() as session:
        study = studies.describe(session, who.caller, study_id)
        text = study_views.as_csv(study_views.table(session, who.caller, study_id))
    headers = {"Content-Disposition": f'attachment; filename="study-{study_id}-{study.name}.csv"'}
    return who.finish(request, Response(text, media_type="text/csv; charset=utf-8", headers=headers))


# -- live ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Look:
    """One look at the study for its stream: each part as the page shows it."""

    parts: dict[str, str]
    choices: str
    scalars: int
    over: bool


def _look(hub: HubDep, who: Viewer, study_id: int) -> Look:
    caller = hub.user_for(who.secret)  # asked again each time: a block ends the stream
    with hub.uow() as session:
        shown = studies.describe(session, caller, study_id)
        found = study_views.table(session, caller, study_id, TABLE_ROWS)
        context = _parts(session, caller, shown, found)
    parts = {name: _partial(f"study_{name}", **context) for name in ("progress", "graph", "results")}
    choices = _partial("study_choices", **context, **_chosen(found, None, None))
    over = shown.total > 0 and all(state in TERMINAL for state in shown.counts)
    return Look(parts, choices, found.scalar_count, over)


def _partial(name: str, **context: Any) -> str:
    return templates.get_template(f"partials/{name}.html").render(**context).strip()


@router.get("/studies/{study_id}/stream")
async def stream(
    hub: HubDep,
    request: Request,
    who: PageViewer,
    study_id: StudyId,
    scalars: Annotated[int, Query(ge=0, le=2**62)] = 0,
) -> Response:
    """The study's parts as server-sent events as they change; ``scalars`` is how many scalar
    results the page has (new ones send ``choices`` and ``scalars``)."""
    allowed(who, Action.CALCULATIONS_READ)
    events = [hub.wakeups.current(key) for key in WAKEUPS]  # before the first look: no change is missed
    first = await run_in_threadpool(_look, hub, who, study_id)  # a study not seen: 404, not a stream
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    body = _updates(hub, who, study_id, events, first, scalars)
    return who.finish(request, StreamingResponse(body, media_type="text/event-stream", headers=headers))


async def _updates(
    hub: HubDep, who: Viewer, study_id: int, events: list[asyncio.Event], look: Look, scalars: int
) -> AsyncIterator[bytes]:
    sent: dict[str, str] = {}
    while True:
        for name, part in look.parts.items():
            if sent.get(name) != part:
                sent[name] = part
                yield sse(name, part)
        if look.scalars != scalars:
            scalars = look.scalars
            yield sse("choices", look.choices)
            yield sse("scalars", str(scalars))
        if look.over:
            yield sse("end", "finished")
            return
        looked = time.monotonic()
        await wait_first(events, QUIET_SECONDS)
        # Changes that come close together make one look: those during the pause are in it,
        # as the events are taken again only after it.
        if (pause := looked + EVERY_SECONDS - time.monotonic()) > 0:
            await asyncio.sleep(pause)
        events = [hub.wakeups.current(key) for key in WAKEUPS]
        try:
            look = await run_in_threadpool(_look, hub, who, study_id)
        except ServiceError:
            return
