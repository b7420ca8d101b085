"""The log feed: agent and service events as they happen, filterable; admins delete old entries.

The first page is the newest entries; from there a server-sent-events stream
(``/logs/stream?after_id=``, with the same filters) puts each new entry at the top,
woken by the ``logs`` wake-up, which reaches every replica. The stream asks again
who the viewer is on every round, so a blocked viewer's feed stops.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, StreamingResponse

from calchub.contracts import activity as wire
from calchub.contracts.calculations import MAX_ID
from calchub.domain.permissions import Action
from calchub.server.services import activity, clusters
from calchub.server.services.errors import Invalid, ServiceError
from calchub.server.web.rendering import allowed, render, sse, templates
from calchub.server.web.session import HubDep, PageViewer, Viewer

router = APIRouter(include_in_schema=False)
PAGE = 50
#: The most new entries one event of the stream carries.
STREAM_BATCH = 100
SOURCES = ("agent", "server")
Short = Annotated[str, Query(max_length=100)]
LABELS = {"level": "Level", "source": "Source", "cluster": "Cluster", "kind": "Kind", "q": "Search"}


def feed_form(
    level: Short = "",
    source: Short = "",
    cluster: Short = "",
    kind: Short = "",
    q: Annotated[str, Query(max_length=200)] = "",
) -> dict[str, str]:
    """The filter form's fields as the page and its stream take them."""
    return {"level": level, "source": source, "cluster": cluster, "kind": kind, "q": q}


FeedForm = Annotated[dict[str, str], Depends(feed_form)]


def _filters(level: str, source: str, cluster: str, kind: str, q: str) -> activity.Filters:
    """The filter form's fields as the service's filters; a value no field offers is ``Invalid``."""
    if level and level not in wire.LEVELS:
        raise Invalid(f"the level is one of {', '.join(wire.LEVELS)}, not {level!r}", "level")
    if source and source not in SOURCES:
        raise Invalid(f"the source is agent or server, not {source!r}", "source")
    if len(kind) > 60:
        raise Invalid("a kind is at most 60 characters", "kind")
    return activity.Filters(
        level=level or None,
        source=source or None,
        cluster=cluster or None,
        kind=kind or None,
        text=q or None,
    )


@router.get("/logs", response_class=HTMLResponse)
def logs(
    hub: HubDep,
    request: Request,
    who: PageViewer,
    form: FeedForm,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    allowed(who, Action.LOGS_READ)
    context = _feed(hub, who, form, before_id)
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "log-feed":
        return render(request, who, "partials/log_feed.html", **context)
    purge = _purge_form() if who.caller.may(Action.LOGS_DELETE) else None
    return render(request, who, "pages/logs.html", **context, **_around(hub, who), purge=purge)


def _feed(hub: HubDep, who: Viewer, form: dict[str, str], before_id: int | None) -> dict[str, Any]:
    """The table's page of entries, its links and its live stream, or what is wrong with a filter."""
    kept = {k: v for k, v in form.items() if v}
    context: dict[str, Any] = {"form": form, "error": None, "rows": [], "older_query": "", "live": False}
    context["newest_query"] = urlencode(kept)
    try:
        filters = _filters(**form)
        filters.before_id, filters.limit = before_id, PAGE
        with hub.uow() as session:
            page = activity.feed(session, who.caller, filters)
    except ServiceError as problem:
        context["error"] = f"{LABELS.get(problem.field or '', 'Filter')}: {problem.message}"
        return context
    context["rows"] = page.items
    if page.older is not None:
        context["older_query"] = urlencode({**kept, "before_id": page.older})
    # Live only on the newest page; with no entry shown, none matches yet, so every match is new.
    context["live"] = before_id is None
    after = page.items[0].id if page.items else 0
    context["stream"] = "/logs/stream?" + urlencode({**kept, "after_id": after})
    return context


def _around(hub: HubDep, who: Viewer) -> dict[str, Any]:
    """What the page shows around the table: the choices of the filter form, what the viewer sees."""
    with hub.uow() as session:
        names = [c.name for c in clusters.all_clusters(session)]
    context = {"levels": wire.LEVELS, "sources": SOURCES, "clusters": names, "active": "logs"}
    return context | {"service_events": activity.scope_of(who.caller).service}


@router.get("/logs/stream")
async def stream(
    hub: HubDep,
    request: Request,
    who: PageViewer,
    form: FeedForm,
    after_id: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> Response:
    """New entries as server-sent ``entry`` events, each the table rows to put at the top."""
    allowed(who, Action.LOGS_READ)
    filters = _filters(**form)
    filters.after_id, filters.limit = after_id, STREAM_BATCH
    # The first round here, so that a bad filter or a lost right is answered, not streamed.
    events = activity.watched(hub.wakeups)
    first = await run_in_threadpool(_round, hub, who, filters)
    body = _entries(hub, who, filters, events, first)
    headers = {"Cache-Control": "no-store"}
    return who.finish(request, StreamingResponse(body, media_type="text/event-stream", headers=headers))


def _round(hub: HubDep, who: Viewer, filters: activity.Filters) -> wire.LogPage:
    caller = hub.user_for(who.secret)  # asked again each time: a block ends the stream
    with hub.uow() as session:
        return activity.feed(session, caller, filters)


async def _entries(
    hub: HubDep, who: Viewer, filters: activity.Filters, events: list[Any], page: wire.LogPage
) -> AsyncIterator[bytes]:
    rows = templates.get_template("partials/log_rows.html")

    async def read(chosen: activity.Filters) -> wire.LogPage:
        return await run_in_threadpool(_round, hub, who, chosen)

    async for entries in activity.follow(hub.wakeups, filters, events, page, read):
        yield sse("entry", rows.render(rows=entries).strip())


def _purge_form(**state: Any) -> dict[str, Any]:
    """What the admins' form shows: a date to ask, a count to confirm, or what was deleted."""
    return {"before": "", "error": None, "confirm": None, "done": None} | state


def _cutoff(before: str) -> datetime:
    """The form's date (or date and time); without a zone, the service reads it as UTC."""
    if not before.strip():
        raise Invalid("give the date before which entries are deleted", "before")
    try:
        parsed = datetime.fromisoformat(before.strip())
    except ValueError:
        raise Invalid(f"{before!r} is not a date such as 2026-01-31", "before") from None
    return parsed


@router.post("/logs/delete", response_class=HTMLResponse)
def delete(
    hub: HubDep,
    request: Request,
    who: PageViewer,
    before: Annotated[str, Form(max_length=40)] = "",
    confirmed: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """First the count to confirm, then the deletion; each answers with the form's new state."""
    allowed(who, Action.LOGS_DELETE)
    status = 200
    try:
        cutoff = _cutoff(before)
        with hub.uow() as session:
            if confirmed == "yes":
                purged = activity.delete_before(session, who.caller, cutoff)
                state = _purge_form(done=purged)
            else:
                count = activity.count_before(session, who.caller, cutoff)
                state = _purge_form(before=before, confirm={"count": count, "cutoff": cutoff})
    except Invalid as problem:
        state, status = _purge_form(before=before, error=problem.message), 422
    if request.headers.get("HX-Request"):
        # htmx swaps only successful answers: the form with its problem is one.
        return render(request, who, "partials/log_purge.html", purge=state)
    context = _feed(hub, who, dict.fromkeys(LABELS, ""), None)
    return render(request, who, "pages/logs.html", status, **context, **_around(hub, who), purge=state)
