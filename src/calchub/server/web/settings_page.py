"""The viewer's own settings: their account, their password, their personal API tokens, their sessions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from calchub.contracts import users as wire
from calchub.contracts.calculations import MAX_ID
from calchub.domain.permissions import Action, Scope
from calchub.server.db.tables import now
from calchub.server.services import auth, people, sessions
from calchub.server.services.errors import ServiceError
from calchub.server.web.people_forms import Problems, back, is_htmx, problem, problems_of
from calchub.server.web.rendering import allowed, render
from calchub.server.web.session import HubDep, PageViewer, Viewer, clear_cookies, set_cookies

router = APIRouter(include_in_schema=False)
TokenId = Annotated[int, Path(ge=1, le=MAX_ID)]
#: What a page says after a change, by the code in its address (never text from the address).
NOTICES = {
    "password": "Your password is changed. Your other sign-in sessions were ended; this one goes on.",
    "revoked": "The token is revoked: it no longer works.",
    "notifications": "Your notification settings are saved.",
}
#: The choices of the notifications form, in the order shown.
NOTIFY_CHOICES = [
    (wire.NotifyLevel.INFO, "Every change", "each state change of your calculations and studies"),
    (wire.NotifyLevel.ERROR, "Problems only", "a calculation that failed, turned out invalid or was lost"),
    (wire.NotifyLevel.NONE, "Nothing", "no messages; the pages still show everything"),
]


@router.get("/settings", response_class=HTMLResponse)
def settings(hub: HubDep, request: Request, who: PageViewer, done: str = "") -> Response:
    allowed(who, Action.SELF)
    return _page(hub, request, who, notice=NOTICES.get(done))


def _page(
    hub: HubDep,
    request: Request,
    who: Viewer,
    problems: Problems | None = None,
    status: int = 200,
    **extra: object,
) -> Response:
    with hub.uow() as session:
        account = people.me(session, who.caller)
        tokens = auth.tokens_of(session, who.caller)
    context = {"account": account, "tokens": tokens, "now": now(), "problems": problems or {}}
    context |= {"notify_choices": NOTIFY_CHOICES, "notify_form": {}}
    context |= {"issued": None, "token_form": {}, "notice": None, "token_notice": None} | extra
    page = "partials/people_tokens.html" if is_htmx(request) else "pages/settings.html"
    return render(request, who, page, status=status, active="settings", **context)


@router.post("/settings/password", response_class=HTMLResponse)
def change_password(
    hub: HubDep,
    request: Request,
    who: PageViewer,
    current: Annotated[str, Form(max_length=1000)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    repeat: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """A new password ends every sign-in session; this browser is signed in again with it."""
    allowed(who, Action.SELF)
    found: Problems = {}
    try:
        body = wire.PasswordChange(current=current, password=password)
    except ValidationError as error:
        found = problems_of(error)
    if password and repeat != password:
        found.setdefault("repeat", "the two new passwords differ")
    if found:
        return _page(hub, request, who, found, status=422)
    address = request.client.host if request.client else "unknown"
    try:
        with hub.uow() as session:
            people.change_password(session, who.caller, body.current, body.password)
            issued = sessions.sign_in(
                session, who.caller.username, body.password, address, hub.key, hub.lifetimes
            )
    except ServiceError as error:
        return _page(hub, request, who, problem(error, fallback="current"), status=error.status)
    response = RedirectResponse("/settings?done=password", status_code=303)
    set_cookies(request, response, issued)
    return response


@router.post("/settings/notifications", response_class=HTMLResponse)
def notifications(
    hub: HubDep,
    request: Request,
    who: PageViewer,
    email: Annotated[str, Form(max_length=1000)] = "",
    notify: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Where messages go and how many: an empty address removes it."""
    allowed(who, Action.SELF)
    typed = {"email": email, "notify": notify}
    try:
        body = wire.MeUpdate.model_validate({"email": email.strip() or None, "notify": notify or None})
    except ValidationError as error:
        found = problems_of(error, prefix="notify.")
        return _page(hub, request, who, found, status=422, notify_form=typed)
    with hub.uow() as session:
        people.update_me(session, who.caller, body)
    return back(request, who, "/settings?done=notifications")


@router.post("/settings/tokens", response_class=HTMLResponse)
def create_token(
    hub: HubDep,
    request: Request,
    who: PageViewer,
    name: Annotated[str, Form(max_length=1000)] = "",
    read_only: Annotated[str, Form(max_length=10)] = "",
    days: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """A personal API token; its secret is on this answer only (only its digest is kept)."""
    allowed(who, Action.SELF)
    typed = {"name": name, "read_only": read_only, "days": days}
    try:
        scope = Scope.READ if read_only else Scope.FULL
        asked = {"name": name.strip(), "days": days.strip() or None, "scope": scope}
        body = wire.TokenCreate.model_validate(asked)
    except ValidationError as error:
        found = problems_of(error, prefix="token.")
        return _page(hub, request, who, found, status=422, token_form=typed)
    with hub.uow() as session:
        record, secret = auth.issue_token(
            session, who.caller.id, body.name, auth.token_lifetime(body.days), body.scope.value
        )
        issued = {"id": record.id, "name": record.name, "secret": secret}
    response = _page(hub, request, who, status=201, issued=issued)
    response.headers["Cache-Control"] = "no-store"  # the secret is in this answer, and only here
    return response


@router.post("/settings/tokens/{token_id}/revoke", response_class=HTMLResponse)
def revoke_token(hub: HubDep, request: Request, who: PageViewer, token_id: TokenId) -> Response:
    allowed(who, Action.SELF)
    with hub.uow() as session:
        auth.revoke_token(session, who.caller, token_id)
    if is_htmx(request):
        return _page(hub, request, who, token_notice=NOTICES["revoked"])
    return back(request, who, "/settings?done=revoked")


@router.post("/settings/sessions/revoke")
def sign_out_everywhere(hub: HubDep, request: Request, who: PageViewer) -> Response:
    """End every sign-in session of the viewer, this one too (API tokens stay)."""
    allowed(who, Action.SELF)
    with hub.uow() as session:
        people.revoke_sessions(session, who.caller, who.caller.username)
    response = RedirectResponse("/login", status_code=303)
    clear_cookies(response)
    return response
