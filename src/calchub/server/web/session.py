"""Who is looking at a page: a browser session in two HttpOnly, SameSite=Strict cookies.

``calchub_access`` holds a short-lived access token (the API's JWT) and
``calchub_session`` the refresh token of the sign-in. A page whose access
token has expired is served all the same after the refresh token is rotated
(the new cookies go out with the page); without a working session the
browser is sent to the sign-in page, which brings it back afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.responses import RedirectResponse
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from calchub.server.hub import Hub
from calchub.server.services import auth, sessions
from calchub.server.services.errors import Unauthorized

ACCESS = "calchub_access"
SESSION = "calchub_session"


class SignInNeeded(Exception):
    """No working session: go to the sign-in page, then back to ``next``."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def to_sign_in(_: Request, error: Exception) -> Response:
    assert isinstance(error, SignInNeeded)
    return RedirectResponse(f"/login?next={quote(error.next_url, safe='/?=&')}", status_code=303)


@dataclass
class Viewer:
    """The caller of a page, and the cookies to set on its answer (after a refresh)."""

    caller: auth.Caller
    #: The access token the caller was found by, to ask again during a long stream.
    secret: str
    renewed: sessions.Issued | None = None

    def finish(self, request: Request, response: Response) -> Response:
        if self.renewed is not None:
            set_cookies(request, response, self.renewed)
        return response


def set_cookies(request: Request, response: Response, issued: sessions.Issued) -> None:
    secure = request.url.scheme == "https"
    common = {"httponly": True, "samesite": "strict", "secure": secure, "path": "/"}
    response.set_cookie(ACCESS, issued.access_token, max_age=issued.expires_in, **common)  # type: ignore[arg-type]
    if issued.refresh_token is not None:
        response.set_cookie(SESSION, issued.refresh_token, expires=issued.refresh_expires, **common)  # type: ignore[arg-type]


def clear_cookies(response: Response) -> None:
    for name in (ACCESS, SESSION):
        response.delete_cookie(name, path="/")


def viewer(hub: HubDep, request: Request) -> Viewer:
    """The signed-in viewer of a page. Only a sign-in session's access token is a page's
    credential: a personal API token (read-only or not) or an agent key put in the cookie is
    ignored, so a page form never acts with less care than the API gives that credential."""
    token = request.cookies.get(ACCESS)
    if token and not token.startswith((auth.USER_PREFIX, auth.AGENT_PREFIX)):
        try:
            return Viewer(hub.user_for(token), token)
        except Unauthorized:
            pass
    refresh = request.cookies.get(SESSION)
    if refresh:
        try:
            with hub.uow() as session:
                issued = sessions.refresh(session, refresh, hub.key, hub.lifetimes)
            renewed = Viewer(hub.user_for(issued.access_token), issued.access_token, issued)
        except Unauthorized:
            pass
        else:
            # The refresh token is used up: whatever this request answers, even an error page,
            # must carry its successor, or the browser's next request ends the session.
            request.state.renewed = renewed
            return renewed
    raise SignInNeeded(str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""))


def get_hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


HubDep = Annotated[Hub, Depends(get_hub)]
PageViewer = Annotated[Viewer, Depends(viewer)]


class RenewedCookies:
    """Whatever a request that renewed its session answers (a page, an error from any handler,
    FastAPI's own 422, a stream), it carries the new cookies: the old refresh token is used up,
    and a browser left with it would end its session at the next request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            renewed: Viewer | None = scope.get("state", {}).get("renewed")
            if message["type"] == "http.response.start" and renewed and renewed.renewed:
                headers = MutableHeaders(scope=message)
                if not any(value.startswith(f"{ACCESS}=") for value in headers.getlist("set-cookie")):
                    cookies = Response()
                    set_cookies(Request(scope), cookies, renewed.renewed)
                    for value in cookies.headers.getlist("set-cookie"):
                        headers.append("set-cookie", value)
            await send(message)

        await self.app(scope, receive, sending)
