"""/users: accounts for moderators (block, passwords of users) and admins (everything else too).

Each row carries only the buttons its viewer may press, worked out with the
rules the services apply (``may_moderate``, the role's actions); each button's
POST goes through the same service, which refuses anything else.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from calchub.contracts import users as wire
from calchub.domain.permissions import Action, Role, may_moderate
from calchub.server.services import people
from calchub.server.services.auth import Caller
from calchub.server.services.errors import ServiceError
from calchub.server.web.people_forms import (
    Problems,
    back,
    is_htmx,
    problem,
    problems_of,
    shown_on_page,
    values,
)
from calchub.server.web.rendering import allowed, render
from calchub.server.web.session import HubDep, PageViewer, Viewer

router = APIRouter(include_in_schema=False)
Short = Annotated[str, Form(max_length=1000)]
STATES = {"active": False, "blocked": True}


def may_do(caller: Caller, user: wire.User) -> dict[str, bool]:
    """The buttons of one row: what the services would let ``caller`` do to ``user``."""
    other = user.id != caller.id
    moderates = other and may_moderate(caller.role, user.role)
    return {
        "block": moderates and caller.may(Action.USERS_BLOCK),
        "password": moderates and caller.may(Action.USERS_PASSWORD),
        "manage": other and caller.may(Action.USERS_MANAGE),
    }


@router.get("/users", response_class=HTMLResponse)
def users(
    hub: HubDep,
    request: Request,
    who: PageViewer,
    q: Annotated[str, Query(max_length=200)] = "",
    role: Annotated[str, Query(max_length=20)] = "",
    state: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    allowed(who, Action.USERS_READ)
    filters = {"q": q, "role": role if role in set(Role) else "", "state": state if state in STATES else ""}
    return _page(hub, request, who, filters)


def _page(
    hub: HubDep,
    request: Request,
    who: Viewer,
    filters: dict[str, str] | None = None,
    problems: Problems | None = None,
    status: int = 200,
    new: dict[str, str] | None = None,
) -> Response:
    chosen = filters or {"q": "", "role": "", "state": ""}
    with hub.uow() as session:
        found = people.find(session, chosen["q"], chosen["role"] or None, STATES.get(chosen["state"]))
    context: dict[str, Any] = {"users": [(u, may_do(who.caller, u)) for u in found], "filters": chosen}
    context |= {"roles": [r.value for r in Role], "problems": problems or {}, "new": new or {}}
    context["may_create"] = who.caller.may(Action.USERS_MANAGE)
    page = "partials/people_users_table.html" if is_htmx(request) else "pages/users.html"
    response = render(request, who, page, status=status, active="users", **context)
    response.headers["Vary"] = "HX-Request"  # one address, two answers: never cache one for the other
    return response


@router.post("/users", response_class=HTMLResponse)
def create(
    hub: HubDep,
    request: Request,
    who: PageViewer,
    username: Short = "",
    email: Short = "",
    password: Short = "",
    role: Short = "user",
) -> Response:
    allowed(who, Action.USERS_MANAGE)
    typed = {"username": username, "email": email, "role": role}
    try:
        body = wire.UserCreate.model_validate(values(typed | {"password": password}))
        with hub.uow() as session:
            people.add(session, who.caller, body)
    except ValidationError as error:
        return _page(hub, request, who, problems=problems_of(error, "new."), status=422, new=typed)
    except ServiceError as error:
        if not shown_on_page(error, ""):
            raise
        found = problem(error, "new.", "username")
        return _page(hub, request, who, problems=found, status=error.status, new=typed)
    return back(request, who, "/users")


def _act(hub: HubDep, request: Request, who: Viewer, username: str, field: str, act: Any) -> Response:
    """Run ``act(session)``; a problem is shown in ``username``'s row, by ``field``."""
    try:
        with hub.uow() as session:
            act(session)
    except ValidationError as error:
        return _page(hub, request, who, problems=problems_of(error, f"{username}."), status=422)
    except ServiceError as error:
        if not shown_on_page(error, "username"):
            raise
        key = error.field or field
        found = {f"{username}.{key}" if key else username: error.message}
        return _page(hub, request, who, problems=found, status=error.status)
    return back(request, who, "/users")


@router.post("/users/{username}/block", response_class=HTMLResponse)
def block(hub: HubDep, request: Request, who: PageViewer, username: str) -> Response:
    allowed(who, Action.USERS_BLOCK)
    return _act(hub, request, who, username, "", lambda s: people.block(s, who.caller, username, True))


@router.post("/users/{username}/unblock", response_class=HTMLResponse)
def unblock(hub: HubDep, request: Request, who: PageViewer, username: str) -> Response:
    allowed(who, Action.USERS_BLOCK)
    return _act(hub, request, who, username, "", lambda s: people.block(s, who.caller, username, False))


@router.post("/users/{username}/password", response_class=HTMLResponse)
def reset_password(
    hub: HubDep, request: Request, who: PageViewer, username: str, password: Short = ""
) -> Response:
    allowed(who, Action.USERS_PASSWORD)

    def act(session: Any) -> None:
        body = wire.PasswordSet(password=password)
        people.reset_password(session, who.caller, username, body.password)

    return _act(hub, request, who, username, "password", act)


@router.post("/users/{username}/role", response_class=HTMLResponse)
def change_role(hub: HubDep, request: Request, who: PageViewer, username: str, role: Short = "") -> Response:
    allowed(who, Action.USERS_MANAGE)

    def act(session: Any) -> None:
        people.update(session, who.caller, username, wire.UserUpdate.model_validate({"role": role}))

    return _act(hub, request, who, username, "role", act)


@router.post("/users/{username}/delete", response_class=HTMLResponse)
def delete(hub: HubDep, request: Request, who: PageViewer, username: str) -> Response:
    allowed(who, Action.USERS_MANAGE)
    return _act(hub, request, who, username, "", lambda s: people.remove(s, who.caller, username))
