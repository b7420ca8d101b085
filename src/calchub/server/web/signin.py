"""Signing in and out of the pages; the session lives in two HttpOnly cookies."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from calchub.server.services import sessions
from calchub.server.services.errors import Unauthorized
from calchub.server.services.sessions import Throttled
from calchub.server.web.rendering import local, render
from calchub.server.web.session import (
    SESSION,
    HubDep,
    clear_cookies,
    set_cookies,
)

router = APIRouter(include_in_schema=False)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> Response:
    return render(request, None, "pages/login.html", next_url=local(next), username="", error=None)


@router.post("/login", response_class=HTMLResponse)
def login(
    hub: HubDep,
    request: Request,
    username: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=1000)],
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    address = request.client.host if request.client else "unknown"
    try:
        with hub.uow() as session:
            issued = sessions.sign_in(session, username, password, address, hub.key, hub.lifetimes)
    except (Unauthorized, Throttled) as error:
        context = {"next_url": local(next), "username": username, "error": error.message}
        return render(request, None, "pages/login.html", status=error.status, **context)
    response = RedirectResponse(local(next), status_code=303)
    set_cookies(request, response, issued)
    return response


@router.post("/logout")
def logout(hub: HubDep, request: Request) -> Response:
    with hub.uow() as session:
        sessions.sign_out(session, request.cookies.get(SESSION))
    response = RedirectResponse("/login", status_code=303)
    clear_cookies(response)
    return response
