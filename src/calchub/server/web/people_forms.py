"""What the settings, users and projects pages share: form values, problems by field, answers.

A form's values are checked by the same wire models the API takes, so a page and
the API refuse the same input with the same words; each problem is keyed by the
form field it concerns (``prefix`` tells forms on one page apart).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from calchub.server.services.errors import Forbidden, NotFound, ServiceError
from calchub.server.web.session import Viewer

Problems = dict[str, str]


def problems_of(error: ValidationError, prefix: str = "", fallback: str = "") -> Problems:
    """Each field's first problem, under ``prefix + field``; a whole-form problem under ``fallback``."""
    found: Problems = {}
    for e in error.errors():
        loc = [str(p) for p in e["loc"]]
        key = prefix + (loc[-1] if loc else fallback)
        found.setdefault(key, str(e["msg"]).removeprefix("Value error, "))
    return found


def problem(error: ServiceError, prefix: str = "", fallback: str = "") -> Problems:
    return {prefix + (error.field or fallback): error.message}


def values(form: Mapping[str, str]) -> dict[str, Any]:
    """The fields that were filled in (a blank field means "not set")."""
    return {key: value.strip() for key, value in form.items() if value.strip() != ""}


def is_htmx(request: Request) -> bool:
    """An HTMX swap asks for the part it replaces; restoring history asks for the whole page."""
    headers = request.headers
    return headers.get("HX-Request") == "true" and "HX-History-Restore-Request" not in headers


def back(request: Request, who: Viewer, url: str) -> Response:
    """After a button: the page again (and no form to post twice)."""
    return who.finish(request, RedirectResponse(url, status_code=303))


def shown_on_page(error: ServiceError, record: str) -> bool:
    """Whether a form shows ``error`` by its field; a refusal, or a ``record`` the viewer may not
    see, is the error page instead (403, 404), as the API answers."""
    return not isinstance(error, Forbidden) and not (isinstance(error, NotFound) and error.field == record)
