"""/users: accounts, for moderators (block, passwords) and admins (everything)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from calchub.contracts import users as wire
from calchub.server.api.deps import HubDep, PasswordResetter, UsersAdmin, UsersBlocker, UsersReader
from calchub.server.services import people

router = APIRouter(prefix="/users", tags=["users"])


@router.get("", response_model=list[wire.User])
def list_(hub: HubDep, user: UsersReader) -> list[wire.User]:
    with hub.uow() as session:
        return people.listing(session)


@router.post("", response_model=wire.User, status_code=status.HTTP_201_CREATED)
def create(hub: HubDep, user: UsersAdmin, body: wire.UserCreate) -> wire.User:
    """A new account, with its personal project ``~username``."""
    with hub.uow() as session:
        return people.add(session, user, body)


@router.get("/{username}", response_model=wire.User)
def show(hub: HubDep, user: UsersReader, username: str) -> wire.User:
    with hub.uow() as session:
        return people.show(session, username)


@router.patch("/{username}", response_model=wire.User)
def update(hub: HubDep, user: UsersAdmin, username: str, body: wire.UserUpdate) -> wire.User:
    """Role, email and quotas."""
    with hub.uow() as session:
        return people.update(session, user, username, body)


@router.delete("/{username}", status_code=status.HTTP_204_NO_CONTENT)
def delete(hub: HubDep, user: UsersAdmin, username: str) -> Response:
    with hub.uow() as session:
        people.remove(session, user, username)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{username}/block", response_model=wire.User)
def block(hub: HubDep, user: UsersBlocker, username: str) -> wire.User:
    """Lock the user out at once: sessions, refresh tokens and API tokens stop working."""
    with hub.uow() as session:
        return people.block(session, user, username, True)


@router.post("/{username}/unblock", response_model=wire.User)
def unblock(hub: HubDep, user: UsersBlocker, username: str) -> wire.User:
    with hub.uow() as session:
        return people.block(session, user, username, False)


@router.put("/{username}/password", status_code=status.HTTP_204_NO_CONTENT)
def reset_password(hub: HubDep, user: PasswordResetter, username: str, body: wire.PasswordSet) -> Response:
    """Set a new password; the user's sign-in sessions end."""
    with hub.uow() as session:
        people.reset_password(session, user, username, body.password)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{username}/sessions/revoke", response_model=wire.Revoked)
def revoke_sessions(hub: HubDep, user: UsersBlocker, username: str) -> wire.Revoked:
    """End every sign-in session of one user."""
    with hub.uow() as session:
        return wire.Revoked(revoked=people.revoke_sessions(session, user, username))
