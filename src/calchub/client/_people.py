"""The client's calls about people: signing in, your own account, notices and tokens, and users
(admins)."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Any

from calchub.client._base import BaseClient, given, segment
from calchub.contracts.inbox import Marked, MarkRead, NoticePage
from calchub.contracts.users import (
    AccessToken,
    Login,
    Me,
    MeUpdate,
    NotifyLevel,
    PasswordChange,
    PasswordSet,
    Quotas,
    Revoked,
    Token,
    TokenCreate,
    TokenIssued,
    User,
    UserCreate,
    UserUpdate,
)
from calchub.domain.permissions import Role, Scope


class PeopleMixin(BaseClient):
    # -- signing in, and your own account -------------------------------------

    def sign_in(self, username: str, password: str) -> AccessToken:
        """Exchange a password for a short-lived access token (the client keeps its own credential)."""
        body = Login(username=username, password=password).model_dump(mode="json")
        return AccessToken.model_validate(self._call("POST", "/auth/login", json=body).json())

    def login(self, username: str, password: str, days: int = 30) -> TokenIssued:
        """Sign in, then issue a personal API token named after this machine; the client uses it next."""
        access = self.sign_in(username, password)
        name = f"calchub login on {socket.gethostname()}"[:100]
        body = TokenCreate(name=name, days=days, scope=Scope.FULL).model_dump(mode="json")
        headers = {"Authorization": f"Bearer {access.access_token}"}
        issued = TokenIssued.model_validate(self._call("POST", "/tokens", json=body, headers=headers).json())
        # The sign-in was only a way to the token: end its session (the refresh cookie is in the jar).
        self._call("POST", "/auth/logout")
        self._http.cookies.clear()
        self._http.headers["Authorization"] = f"Bearer {issued.token}"
        return issued

    def me(self) -> Me:
        """Who the client's credential belongs to, with their role, scope and projects."""
        return Me.model_validate(self._call("GET", "/me").json())

    def update_me(
        self, *, email: str | None = None, notify: NotifyLevel | str | None = None, clear_email: bool = False
    ) -> Me:
        """Change your own settings: your email address (``clear_email`` removes it) and how much
        you are told about your calculations (``info``, ``error`` or ``none``)."""
        if clear_email and email is not None:
            raise ValueError("give an email address or clear_email=True, not both")
        update = MeUpdate(email=email, notify=NotifyLevel(notify) if notify is not None else None)
        body = given(update) | ({"email": None} if clear_email else {})
        return Me.model_validate(self._call("PATCH", "/me", json=body).json())

    def change_password(self, current: str, new: str) -> None:
        body = PasswordChange(current=current, password=new).model_dump(mode="json")
        self._call("POST", "/me/password", json=body)

    def notices(self, unread: bool = False, *, before: int | None = None, limit: int = 50) -> NoticePage:
        """Your notices, newest first (``unread=True``: those not read yet), with the unread count.
        Pass ``page.older`` as ``before`` for the next page. Reading them marks nothing."""
        params: dict[str, Any] = {"unread": unread, "limit": limit}
        if before is not None:
            params["before"] = before
        return NoticePage.model_validate(self._call("GET", "/me/notices", params=params).json())

    def mark_read(self, ids: Sequence[int] | None = None, all: bool = False) -> Marked:
        """Mark your notices ``ids`` read, or ``all=True`` every one; ids of others' are ignored."""
        body = MarkRead(ids=list(ids or []), all=all).model_dump(mode="json")
        return Marked.model_validate(self._call("POST", "/me/notices/read", json=body).json())

    def tokens(self) -> list[Token]:
        return [Token.model_validate(t) for t in self._call("GET", "/tokens").json()]

    def create_token(
        self, name: str, days: int | None = None, scope: Scope | str = Scope.FULL
    ) -> TokenIssued:
        """A personal API token (``scope="read"`` may only look); its secret is in ``.token``, shown once."""
        body = TokenCreate(name=name, days=days, scope=Scope(scope)).model_dump(mode="json")
        return TokenIssued.model_validate(self._call("POST", "/tokens", json=body).json())

    def revoke_token(self, token_id: int) -> Token:
        return Token.model_validate(self._call("DELETE", f"/tokens/{token_id}").json())

    # -- users (moderators read and block, admins manage) ---------------------

    def users(self) -> list[User]:
        return [User.model_validate(u) for u in self._call("GET", "/users").json()]

    def create_user(
        self,
        username: str,
        password: str | None = None,
        role: Role | str = Role.USER,
        email: str | None = None,
        projects: Sequence[str] = (),
    ) -> User:
        """A new account; without a password it cannot sign in until one is set."""
        request = UserCreate(
            username=username, password=password, role=Role(role), email=email, projects=list(projects)
        )
        return User.model_validate(self._call("POST", "/users", json=request.model_dump(mode="json")).json())

    def user(self, username: str) -> User:
        return User.model_validate(self._call("GET", f"/users/{segment(username)}").json())

    def update_user(
        self,
        username: str,
        *,
        role: Role | str | None = None,
        email: str | None = None,
        quotas: Quotas | None = None,
    ) -> User:
        """Change what is given; ``quotas`` replaces all of the user's limits (None in it: no limit)."""
        request = UserUpdate(role=Role(role) if role else None, email=email, quotas=quotas)
        return User.model_validate(
            self._call("PATCH", f"/users/{segment(username)}", json=given(request)).json()
        )

    def delete_user(self, username: str) -> None:
        self._call("DELETE", f"/users/{segment(username)}")

    def block_user(self, username: str) -> User:
        """Refuse the user's sign-ins and tokens until unblocked."""
        return User.model_validate(self._call("POST", f"/users/{segment(username)}/block").json())

    def unblock_user(self, username: str) -> User:
        return User.model_validate(self._call("POST", f"/users/{segment(username)}/unblock").json())

    def set_password(self, username: str, password: str) -> None:
        body = PasswordSet(password=password).model_dump(mode="json")
        self._call("PUT", f"/users/{segment(username)}/password", json=body)

    def revoke_sessions(self, username: str) -> Revoked:
        """End the user's sign-in sessions: their refresh tokens stop working."""
        return Revoked.model_validate(
            self._call("POST", f"/users/{segment(username)}/sessions/revoke").json()
        )

    def revoke_all_sessions(self) -> Revoked:
        """End everyone's sign-in sessions (admins)."""
        return Revoked.model_validate(self._call("POST", "/auth/sessions/revoke-all").json())
