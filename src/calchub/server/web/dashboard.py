"""The dashboard: clusters and their load (live), counts by state, recent and running work, and
the latest events of the log feed the viewer may see."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from calchub.domain.permissions import Action
from calchub.server.services import activity, overview
from calchub.server.web.rendering import allowed, render
from calchub.server.web.session import (
    HubDep,
    PageViewer,
)

router = APIRouter(include_in_schema=False)
#: How many of the feed's latest entries the dashboard shows.
RECENT_EVENTS = 8


@router.get("/", response_class=HTMLResponse)
def dashboard(hub: HubDep, request: Request, who: PageViewer) -> Response:
    allowed(who, Action.CALCULATIONS_READ)
    stale_after = timedelta(seconds=hub.settings.lease_seconds)
    with hub.uow() as session:
        found = overview.overview(session, who.caller, stale_after)
        latest = activity.Filters(limit=RECENT_EVENTS)
        events = activity.feed(session, who.caller, latest) if who.caller.may(Action.LOGS_READ) else None
    loads = {name: load.model_dump(mode="json") for name, load in found.loads.items()}
    return render(
        request,
        who,
        "pages/dashboard.html",
        active="dashboard",
        overview=found,
        loads=loads,
        hours=overview.DASHBOARD_HOURS,
        events=events.items if events else None,
    )
