"""The viewer's notices (``/notices``), and the unread count in every page's navigation.

The page asks the same service as ``GET /api/v1/me/notices``, as the same caller: newest
first, the unread ones marked, each linking to its calculation or study. Opening it marks
nothing; **Mark all read** does (a form, then back to the page).

The count beside "Notices" in the navigation comes with every full page: the layout calls
``unread_notices`` (a template global), one count on the feed's index in a transaction of its
own, so a full page is rendered after its handler's transaction has ended, as every page is.
It is not live: an event stream on every page would hold one more connection per open tab,
and a browser gives a server only six (HTTP/1.1) across all its tabs; the count is fresh at
each page.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse

from calchub.contracts.calculations import MAX_ID
from calchub.domain.permissions import Action
from calchub.server.hub import Hub
from calchub.server.services import inbox
from calchub.server.services.auth import Caller
from calchub.server.web.people_forms import back
from calchub.server.web.rendering import allowed, render, templates
from calchub.server.web.session import HubDep, PageViewer

router = APIRouter(include_in_schema=False)
PAGE = 50
#: What the page says after a change, by the code in its address (never text from the address).
DONE = {"read": "Every notice is marked read."}


def unread_notices(request: Request, viewer: Caller | None) -> int:
    """How many notices the page's viewer has not read (none without a viewer)."""
    if viewer is None:
        return 0
    hub: Hub = request.app.state.hub
    with hub.uow() as session:
        return inbox.unread_count(session, viewer)


templates.env.globals["unread_notices"] = unread_notices


@router.get("/notices", response_class=HTMLResponse)
def notices(
    hub: HubDep,
    request: Request,
    who: PageViewer,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    done: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    """The viewer's notices, 50 to a page, newest first; looking marks none read."""
    allowed(who, Action.SELF)
    with hub.uow() as session:
        found = inbox.feed(session, who.caller, before_id=before, limit=PAGE)
    return render(
        request,
        who,
        "pages/notices.html",
        active="notices",
        feed=found,
        older_page=before is not None,
        notice=DONE.get(done),
    )


@router.post("/notices/read", response_class=HTMLResponse)
def read_all(hub: HubDep, request: Request, who: PageViewer) -> Response:
    """Mark every notice of the viewer's read, then back to the page."""
    allowed(who, Action.SELF)
    with hub.uow() as session:
        inbox.mark_read(session, who.caller, inbox.ALL)
    return back(request, who, "/notices?done=read")
