"""Signing in and out, the refresh cookie, the caller's own account, notices and API tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from calchub.contracts import inbox as notices
from calchub.contracts import users as wire
from calchub.contracts.calculations import MAX_ID
from calchub.domain.permissions import Role
from calchub.server.api.deps import Anyone, HubDep, RecordId, Self, SessionsAdmin
from calchub.server.db.tables import ApiToken
from calchub.server.services import auth, inbox, people, sessions

router = APIRouter(tags=["auth"])
COOKIE = "calchub_refresh"
COOKIE_PATH = "/api/v1/auth"


def _signed_in(request: Request, response: Response, issued: sessions.Issued) -> wire.AccessToken:
    if issued.refresh_token is not None:  # None: a second tab's renewal, the first's cookie serves
        response.set_cookie(
            COOKIE,
            issued.refresh_token,
            expires=issued.refresh_expires,
            path=COOKIE_PATH,
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )
    response.headers["Cache-Control"] = "no-store"
    return wire.AccessToken(
        access_token=issued.access_token,
        expires_in=issued.expires_in,
        username=issued.user.username,
        role=Role(issued.user.role),
    )


@router.post("/auth/login", response_model=wire.AccessToken, dependencies=[Anyone])
def login(hub: HubDep, body: wire.Login, request: Request, response: Response) -> wire.AccessToken:
    """Sign in: an access token in the answer, a refresh token in an HttpOnly cookie."""
    address = request.client.host if request.client else "unknown"
    with hub.uow() as session:
        issued = sessions.sign_in(session, body.username, body.password, address, hub.key, hub.lifetimes)
    return _signed_in(request, response, issued)


@router.post("/auth/refresh", response_model=wire.AccessToken, dependencies=[Anyone])
def refresh(hub: HubDep, request: Request, response: Response) -> wire.AccessToken:
    """A new access token for the session's refresh cookie, which is rotated."""
    with hub.uow() as session:
        issued = sessions.refresh(session, request.cookies.get(COOKIE), hub.key, hub.lifetimes)
    return _signed_in(request, response, issued)


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT, dependencies=[Anyone])
def logout(hub: HubDep, request: Request) -> Response:
    """End this browser's session (its refresh token family)."""
    with hub.uow() as session:
        sessions.sign_out(session, request.cookies.get(COOKIE))
    done = Response(status_code=status.HTTP_204_NO_CONTENT)
    done.delete_cookie(COOKIE, path=COOKIE_PATH)
    return done


@router.post("/auth/sessions/revoke-all", response_model=wire.Revoked)
def revoke_all(hub: HubDep, user: SessionsAdmin) -> wire.Revoked:
    """End every sign-in session of every user (API tokens stay)."""
    with hub.uow() as session:
        return wire.Revoked(revoked=people.revoke_everyones_sessions(session))


@router.get("/me", response_model=wire.Me)
def me(hub: HubDep, user: Self) -> wire.Me:
    with hub.uow() as session:
        return people.me(session, user)


@router.patch("/me", response_model=wire.Me)
def update_me(hub: HubDep, user: Self, body: wire.MeUpdate) -> wire.Me:
    """Your email address and how much you are told about your calculations (``notify``)."""
    with hub.uow() as session:
        return people.update_me(session, user, body)


@router.post("/me/password", status_code=status.HTTP_204_NO_CONTENT)
def change_password(hub: HubDep, user: Self, body: wire.PasswordChange) -> Response:
    """Change your own password; every sign-in session ends."""
    with hub.uow() as session:
        people.change_password(session, user, body.current, body.password)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me/notices", response_model=notices.NoticePage)
def my_notices(
    hub: HubDep,
    user: Self,
    unread: Annotated[bool, Query(description="only those not read yet")] = False,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID, description="older than this: next page")] = None,
    limit: Annotated[int, Query(ge=1, le=notices.MAX_PAGE)] = 50,
) -> notices.NoticePage:
    """Your notices (your calculations, studies and models; every error, for admins), newest first, with
    how many are unread. ``older`` is the ``before`` of the next page. Reading marks nothing."""
    with hub.uow() as session:
        return inbox.feed(session, user, unread, before, limit)


@router.post("/me/notices/read", response_model=notices.Marked)
def mark_notices_read(hub: HubDep, user: Self, body: notices.MarkRead) -> notices.Marked:
    """Mark your notices ``ids`` (others' ids are ignored) or ``all`` of them read."""
    with hub.uow() as session:
        marked = inbox.mark_read(session, user, inbox.ALL if body.all else body.ids)
        return notices.Marked(marked=marked, unread=inbox.unread_count(session, user))


def _token(record: ApiToken, secret: str | None = None) -> wire.Token:
    fields = {k: getattr(record, k) for k in wire.Token.model_fields}
    return wire.TokenIssued(**fields, token=secret) if secret else wire.Token(**fields)


@router.get("/tokens", response_model=list[wire.Token])
def tokens(hub: HubDep, user: Self) -> list[wire.Token]:
    with hub.uow() as session:
        return [_token(t) for t in auth.tokens_of(session, user)]


@router.post("/tokens", response_model=wire.TokenIssued, status_code=status.HTTP_201_CREATED)
def create_token(hub: HubDep, user: Self, body: wire.TokenCreate) -> wire.Token:
    """A personal API token, shown once; only its digest is kept."""
    with hub.uow() as session:
        expires = auth.token_lifetime(body.days)
        record, secret = auth.issue_token(session, user.id, body.name, expires, body.scope.value)
        return _token(record, secret)


@router.delete("/tokens/{token_id}", response_model=wire.Token)
def revoke_token(hub: HubDep, user: Self, token_id: RecordId) -> wire.Token:
    with hub.uow() as session:
        return _token(auth.revoke_token(session, user, token_id))
