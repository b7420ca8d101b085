"""The list of calculations: filters, sort and keyset pages, favorites, and bulk cancel, retry, delete.

The filters are the API's: the page reads them from its address and asks
``calculation_lists.list_query`` and ``.search``, as ``GET /api/v1/calculations``
does; a filter the service refuses (a date range the wrong way round, an
unknown project) is its message on the page. HTMX asks for the results alone.

A row carries a box only if its viewer may do something to it, and the bar
offers only what some row allows (``calcs.actions_on``: one query for the
page). A bulk action asks the same service functions as the API, one
calculation per transaction, so one refusal undoes nothing else, and answers
with what was done and each refusal's reason. Like every page, these forms
post with the session's SameSite=Strict cookies, which no other site can send.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Annotated, Any, get_args
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Form, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException

from calchub.contracts import calculations as wire
from calchub.domain.permissions import Action
from calchub.domain.states import State
from calchub.server.services import calctypes
from calchub.server.services import calculation_lists as lists
from calchub.server.services import calculations as calcs
from calchub.server.services.auth import Caller
from calchub.server.services.errors import Invalid, ServiceError
from calchub.server.web.people_forms import back, is_htmx
from calchub.server.web.rendering import allowed, render
from calchub.server.web.session import HubDep, PageViewer, Viewer

router = APIRouter(include_in_schema=False)
SORTS = [("-id", "newest"), ("id", "oldest"), ("-priority", "priority"), ("name", "name")]
PAGE_SIZE = 50
#: The most calculations one bulk action takes.
MAX_BULK = 1000
#: The filters the address may carry, each with its longest value.
FILTERS = {
    "name": 200,
    "state": 40,
    "type": 100,
    "project": 100,
    "owner": 100,
    "cluster": 100,
    "submitted_from": 10,
    "submitted_before": 10,
    "sort": 10,
    "favorite": 5,
    "cursor": 1000,
}
TRUE = {"true", "on", "1", "yes"}
CalcId = Annotated[int, Path(ge=1, le=wire.MAX_ID)]
Kept = dict[str, str]


@dataclass(frozen=True)
class Bulk:
    label: str
    done: str
    act: Callable[[Any, Caller, int], object]


BULK = {
    "cancel": Bulk(
        "Cancel selected",
        "cancelled",
        lambda s, c, i: calcs.cancel(s, c, i, f"cancelled by {c.username} from the web"),
    ),
    "retry": Bulk("Retry selected", "retried", calcs.retry),
    "delete": Bulk("Delete selected", "deleted", calcs.delete),
}
#: The bar's buttons in order: compare is for anyone who reads; the others as ``actions_on`` allows.
BAR = [("compare", "Compare selected"), *((name, b.label) for name, b in BULK.items())]


@dataclass(frozen=True)
class Summary:
    """What a bulk action did: how many, and why each refused one was refused."""

    done: str
    count: int
    refused: list[str]

    @property
    def headline(self) -> str:
        text = f"{self.done} {self.count}"
        return text + (f"; {len(self.refused)} refused:" if self.refused else "")


@router.get("/calculations", response_class=HTMLResponse)
def calculations(hub: HubDep, request: Request, who: PageViewer) -> Response:
    allowed(who, Action.CALCULATIONS_READ)
    kept = kept_filters(request.query_params.multi_items())
    context = _listing(hub, who, kept)
    return _answer(hub, request, who, context)


@router.post("/calculations/{calc_id}/favorite", response_class=HTMLResponse)
def favorite(
    hub: HubDep,
    request: Request,
    who: PageViewer,
    calc_id: CalcId,
    on: Annotated[str, Form(max_length=10)] = "",
    back_to: Annotated[str, Form(alias="back", max_length=4000)] = "",
) -> Response:
    """Star (``on=true``) or unstar (``on=false``) a calculation; HTMX gets the star's cell back."""
    allowed(who, Action.CALCULATIONS_READ)
    if on not in {"true", "false"}:
        raise Invalid("on is true (add to favorites) or false (remove)", "on")
    with hub.uow() as session:
        calcs.set_favorite(session, who.caller, calc_id, on == "true")
    kept = kept_filters(parse_qsl(back_to))
    if is_htmx(request):
        star = {"id": calc_id, "favorite": on == "true"}
        page = "partials/calc_list_star.html"
        return render(request, who, page, c=star, back=urlencode(kept))
    return back(request, who, address(kept))


@router.post("/calculations/bulk", response_class=HTMLResponse)
async def bulk(hub: HubDep, request: Request, who: PageViewer) -> Response:
    """Compare, cancel, retry or delete the calculations ticked (form fields ``action`` and ``ids``)."""
    allowed(who, Action.CALCULATIONS_READ)
    try:  # room for MAX_BULK ids and the other fields; more is refused as the page's problem
        form = await request.form(max_fields=MAX_BULK + 20)
    except HTTPException as unread:
        problem = _too_many() if "Too many fields" in str(unread.detail) else Invalid(str(unread.detail))
        return await run_in_threadpool(_refuse_bulk, hub, request, who, {}, problem)
    action, given, back_to = str(form.get("action", "")), form.getlist("ids"), str(form.get("back", ""))
    kept = kept_filters(parse_qsl(back_to[:4000]))
    ids = [value for value in given if isinstance(value, str)]
    return await run_in_threadpool(_bulk, hub, request, who, action, ids, kept)


def _bulk(hub: HubDep, request: Request, who: Viewer, action: str, given: list[str], kept: Kept) -> Response:
    try:
        chosen = BULK.get(action)
        if chosen is None and action != "compare":
            raise Invalid(f"unknown action {action[:40]!r}: compare, cancel, retry or delete", "action")
        ids = bulk_ids(given)
    except Invalid as problem:
        return _refuse_bulk(hub, request, who, kept, problem)
    if chosen is None:  # compare: the compare page checks the ids, as it does those typed there
        return _go(request, who, "/compare?" + urlencode({"ids": ",".join(map(str, ids))}))
    allowed(who, Action.CALCULATIONS_WRITE)
    done: list[int] = []
    refused: list[str] = []
    try:
        for calc_id in ids:
            try:
                with hub.uow() as session:  # each its own transaction: a refusal undoes nothing else
                    chosen.act(session, who.caller, calc_id)
            except ServiceError as refusal:
                refused.append(_about(calc_id, refusal.message))
            else:
                done.append(calc_id)
    finally:
        if action == "delete":
            hub.store.delete(done)  # the files go once their records have, as in the API, even
            # when something unforeseen stops the loop half-way
    context = _listing(hub, who, kept) | {"summary": Summary(chosen.done, len(done), refused)}
    return _answer(hub, request, who, context)


def _refuse_bulk(hub: HubDep, request: Request, who: Viewer, kept: Kept, problem: Invalid) -> Response:
    context = _listing(hub, who, kept) | {"problem": problem.message}
    return _answer(hub, request, who, context, status=problem.status)


def bulk_ids(given: Iterable[str]) -> list[int]:
    """The ids of a bulk action, once each in the order given: 1 to ``MAX_BULK`` calculation numbers."""
    ids: dict[int, None] = {}
    for raw in given:
        text = raw.strip()
        if not (text.isascii() and text.isdigit() and len(text) <= 10 and 0 < int(text) <= wire.MAX_ID):
            raise Invalid(f"ids are calculation numbers; {text[:20]!r} is not one", "ids")
        ids[int(text)] = None
    if not ids:
        raise Invalid("choose at least one calculation", "ids")
    if len(ids) > MAX_BULK:
        raise _too_many()
    return list(ids)


def _too_many() -> Invalid:
    return Invalid(f"choose at most {MAX_BULK} calculations at a time", "ids")


def _about(calc_id: int, message: str) -> str:
    """A refusal's message, naming its calculation if the service's words do not."""
    return message if re.search(rf"\b{calc_id}\b", message) else f"calculation {calc_id}: {message}"


def _go(request: Request, who: Viewer, url: str) -> Response:
    """Another page: HTMX is told to load it whole (``HX-Redirect``), a plain form is sent there."""
    if is_htmx(request):
        return who.finish(request, Response(status_code=204, headers={"HX-Redirect": url}))
    return back(request, who, url)


# -- the filters and the listing ------------------------------------------------


def kept_filters(given: Iterable[tuple[str, str]]) -> Kept:
    """The filters that were filled in (the first of each), in the order of ``FILTERS``."""
    found: Kept = {}
    for key, value in given:
        if key in FILTERS and key not in found and value.strip():
            found[key] = value.strip()
    return {key: found[key] for key in FILTERS if key in found}


def address(kept: Kept) -> str:
    return "/calculations" + (f"?{urlencode(kept)}" if kept else "")


def _search(session: Any, caller: Caller, kept: Kept) -> wire.CalculationPage:
    """The page the filters ask for, through the same query the API builds."""
    for key, value in kept.items():
        if len(value) > FILTERS[key]:
            raise Invalid(f"{key} is too long (at most {FILTERS[key]} characters)", key)
    sort = kept.get("sort", "-id")
    if sort not in get_args(wire.SortKey):
        raise Invalid(f"sort by one of {', '.join(key for key, _ in SORTS)}", "sort")
    query = lists.list_query(
        caller,
        states=_states(kept.get("state")),
        name=kept.get("name"),
        sort=sort,
        limit=PAGE_SIZE,
        favorite=kept.get("favorite", "").lower() in TRUE,
        calctype=kept.get("type"),
        submitted_from=_day(kept, "submitted_from"),
        submitted_before=_day(kept, "submitted_before"),
        cursor=kept.get("cursor"),
    )
    return lists.search(session, caller, query, kept.get("owner"), kept.get("cluster"), kept.get("project"))


def _states(given: str | None) -> list[State]:
    try:
        return [State(given)] if given else []
    except ValueError:
        raise Invalid(f"no state named {given!r}", "state") from None


def _day(kept: Kept, key: str) -> datetime | None:
    """A date field as the start of that day (UTC, as the service reads a time without a zone)."""
    if key not in kept:
        return None
    try:
        return datetime.combine(date.fromisoformat(kept[key]), time())
    except ValueError:
        raise Invalid(f"{key.replace('_', ' ')} is a date: YYYY-MM-DD", key) from None


def _listing(hub: HubDep, who: Viewer, kept: Kept) -> dict[str, Any]:
    """One page of the list: its rows, what the viewer may do to each, and any filter refused."""
    caller = who.caller
    actions: dict[int, frozenset[str]] = {}
    error, status = None, 200
    try:
        with hub.uow() as session:
            page = _search(session, caller, kept)
            if caller.may(Action.CALCULATIONS_WRITE) and page.items:
                actions = calcs.actions_on(session, caller, [c.id for c in page.items])
    except ServiceError as problem:
        page, error, status = wire.CalculationPage(items=[]), problem.message, problem.status
    offered = set().union(*actions.values())
    shown: dict[str, Any] = {key: kept.get(key, "") for key in FILTERS} | {"sort": kept.get("sort", "-id")}
    shown["favorite"] = kept.get("favorite", "").lower() in TRUE
    rest = {key: value for key, value in kept.items() if key != "cursor"}
    more = urlencode(rest | {"cursor": page.next_cursor}) if page.next_cursor else ""
    return {
        "rows": page.items,
        "next_cursor": page.next_cursor,
        "more_query": more,
        "filters": shown,
        "error": error,
        "status": status,
        "selectable": True,
        "actions": actions,
        "bulk": [(name, label) for name, label in BAR if name in offered | {"compare"}] if page.items else [],
        "back": urlencode(kept),
    }


def _answer(
    hub: HubDep, request: Request, who: Viewer, context: dict[str, Any], status: int | None = None
) -> Response:
    """The results alone for HTMX, else the whole page; a refusal answers with its status."""
    listed = context.pop("status")
    status = status or listed
    if is_htmx(request):
        response = render(request, who, "partials/calc_list_results.html", status=status, **context)
    else:
        types = [t.name for t in calctypes.listing(hub.calctypes).items]
        extra = {"states": [s.value for s in State], "sorts": SORTS, "types": types, "active": "calculations"}
        response = render(request, who, "pages/calculations.html", status=status, **context, **extra)
    response.headers["Vary"] = "HX-Request"  # one address, two answers: never cache one for the other
    return response
