"""The list of calculations: filters, sort and keyset pages; HTMX asks for the table only."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse

from calchub.contracts import calculations as wire
from calchub.domain.permissions import Action
from calchub.domain.states import State
from calchub.server.repositories.calculations import ListQuery
from calchub.server.services import calculations as calcs
from calchub.server.services.errors import ServiceError
from calchub.server.web.rendering import allowed, render
from calchub.server.web.session import (
    HubDep,
    PageViewer,
)

router = APIRouter(include_in_schema=False)
SORTS = [("-id", "newest"), ("id", "oldest"), ("-priority", "priority"), ("name", "name")]


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
    allowed(who, Action.CALCULATIONS_READ)
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
