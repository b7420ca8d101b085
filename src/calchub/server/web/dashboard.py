"""The dashboard: clusters and their load (live), counts by state, recent and running work."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from calchub.domain.permissions import Action
from calchub.server.services import overview
from calchub.server.web.rendering import allowed, render
from calchub.server.web.session import (
    HubDep,
    PageViewer,
)

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def dashboard(hub: HubDep, request: Request, who: PageViewer) -> Response:
    allowed(who, Action.CALCULATIONS_READ)
    stale_after = timedelta(seconds=hub.settings.lease_seconds)
    with hub.uow() as session:
        found = overview.overview(session, who.caller, stale_after)
    loads = {name: load.model_dump(mode="json") for name, load in found.loads.items()}
    return render(
        request,
        who,
        "pages/dashboard.html",
        active="dashboard",
        overview=found,
        loads=loads,
        hours=overview.DASHBOARD_HOURS,
    )
