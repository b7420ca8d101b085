"""Errors on pages are pages: the service's message, in the layout, with its status."""

from __future__ import annotations

from fastapi import Request, Response

from calchub.server.services.errors import ServiceError
from calchub.server.web.rendering import templates
from calchub.server.web.session import ACCESS, SESSION

TITLES = {401: "Sign in needed", 403: "Not allowed", 404: "Not found", 409: "Not now", 422: "Not valid"}


def page(request: Request, error: ServiceError) -> Response:
    context = {"status": error.status, "title": TITLES.get(error.status, "Error"), "message": error.message}
    context["viewer"] = None
    context["signed_in"] = ACCESS in request.cookies or SESSION in request.cookies
    return templates.TemplateResponse(request, "pages/error.html", context, status_code=error.status)
