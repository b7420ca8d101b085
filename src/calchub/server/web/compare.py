"""Compare: calculations side by side, their results in one table and their figures overlaid.

``/compare?ids=3,5,9`` (or ``ids=3&ids=5``, as a form of checkboxes sends them)
compares those calculations; the form on the page adds or changes ids and
answers HTMX with the comparison alone. A bad list, too many ids or an id the
viewer may not see is said next to the field (422, 404), and nothing else is
shown.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse

from calchub.domain.permissions import Action
from calchub.server.services import comparison
from calchub.server.services.errors import Invalid, NotFound
from calchub.server.web.rendering import allowed, render
from calchub.server.web.session import HubDep, PageViewer

router = APIRouter(include_in_schema=False)


@router.get("/compare", response_class=HTMLResponse)
def compare(
    hub: HubDep,
    request: Request,
    who: PageViewer,
    ids: Annotated[list[str] | None, Query(max_length=1000)] = None,
) -> Response:
    allowed(who, Action.CALCULATIONS_READ)
    given = ",".join(ids or [])
    context: dict[str, Any] = {"ids_text": given, "error": None, "found": None, "without": {}}
    context["most"] = comparison.MAX_COMPARED
    status = 200
    try:
        chosen = comparison.parse_ids(ids or [])
        if chosen:
            with hub.uow() as session:
                context["found"] = comparison.compare(session, who.caller, chosen)
            context["ids_text"] = ",".join(map(str, chosen))
            context["without"] = {i: ",".join(str(o) for o in chosen if o != i) for i in chosen}
    except (Invalid, NotFound) as problem:
        context["error"], status = problem.message, problem.status
    if request.headers.get("HX-Request"):
        # htmx swaps only 2xx answers: the message is in the fragment, said as the page says it.
        return render(request, who, "partials/comparison.html", **context)
    return render(request, who, "pages/compare.html", status=status, active="compare", **context)
