"""What every page shares: the templates, rendering in the layout, and the permission check."""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, select_autoescape

from calchub.domain.permissions import Action
from calchub.server.services.errors import Forbidden
from calchub.server.web.session import Viewer

templates = Jinja2Templates(
    env=Environment(loader=PackageLoader("calchub.server.web", "templates"), autoescape=select_autoescape())
)


def render(request: Request, who: Viewer | None, page: str, status: int = 200, **context: Any) -> Response:
    """``page`` in the layout; the viewer's caller is ``viewer`` in the template."""
    context["viewer"] = who.caller if who else None
    response = templates.TemplateResponse(request, page, context, status_code=status)
    return who.finish(request, response) if who else response


def allowed(who: Viewer, action: Action) -> None:
    """Refuse the page, as the API would, to a viewer whose role may not do ``action``."""
    if not who.caller.may(action):
        raise Forbidden(f"a {who.caller.role} may not do this ({action.value})")


def local(next_url: str) -> str:
    """Only a path on this server is a place to go back to after signing in."""
    return next_url if next_url.startswith("/") and not next_url.startswith("//") else "/"


def sse(event: str, data: str) -> bytes:
    """One server-sent event; each line of ``data`` is a ``data:`` line. A carriage return ends
    a line too, as it does for the browser, so no text can start a line of its own (``event:``)."""
    lines = "".join(f"data: {line}\n" for line in re.split(r"\r\n|\r|\n", data))
    return f"event: {event}\n{lines}\n".encode()
