"""Signing in: a short-lived access token, and a refresh token that rotates on each use.

A sign-in starts a session: a family of refresh tokens. Refreshing uses up
the presented token and issues the next one of the family. A used token
presented again means it was stolen (or replayed): the whole family is
revoked, so both the thief and the owner must sign in again.

Failed sign-ins are counted per account and per address; past a few, each
further attempt must wait twice as long as the last (up to 15 minutes).
"""

from __future__ import annotations

import math
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from calchub.server.db.tables import RefreshToken, SignInFailures, User, now
from calchub.server.repositories import sessions as repo
from calchub.server.repositories import users as user_repo
from calchub.server.services import access
from calchub.server.services.auth import digest, password_matches
from calchub.server.services.errors import ServiceError, Unauthorized
from calchub.server.services.unit import CALLERS, wake

#: Failures allowed before sign-ins slow down, per account and per address.
FREE_FAILURES = {"user": 5, "addr": 20}
MAX_DELAY = timedelta(minutes=15)
#: Failures older than this are forgotten.
WINDOW = timedelta(hours=1)


class Throttled(ServiceError):
    """429: too many failed sign-ins; ``retry_after`` seconds until the next try is heard."""

    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Lifetimes:
    access: timedelta
    refresh: timedelta
    #: How soon after its first use a refresh token may be presented again (two tabs renewing at
    #: once) and still get an access token; later, it is a stolen copy and ends the session.
    reuse: timedelta = timedelta(0)


@dataclass(frozen=True)
class Issued:
    access_token: str
    expires_in: int
    #: None for a second use within the grace: the first use's successor is the browser's cookie.
    refresh_token: str | None
    refresh_expires: datetime
    user: User


def sign_in(
    session: Session, username: str, password: str, address: str, key: str, lifetimes: Lifetimes
) -> Issued:
    at = now()
    counts = repo.lock_failures(session, [f"user:{username.lower()[:100]}", f"addr:{address[:100]}"], at)
    _check_throttle(counts, at)
    user = user_repo.by_username(session, username)
    if not password_matches(user, password) or user is None or not user.is_active:
        for row in counts:
            repo.record_failure(row, at, at - WINDOW)
        raise Unauthorized("wrong username or password", keep_changes=True)
    repo.clear_failures(session, [counts[0].key])
    return _issue(session, user, str(uuid.uuid4()), key, lifetimes)


def _check_throttle(counts: list[SignInFailures], at: datetime) -> None:
    for record in counts:
        kind = record.key.split(":", 1)[0]
        extra = record.failures - FREE_FAILURES[kind]
        if extra < 0 or record.last_at < at - WINDOW:
            continue
        delay = min(timedelta(seconds=2**extra), MAX_DELAY)
        wait = record.last_at + delay - at
        if wait > timedelta(0):
            what = "this account" if kind == "user" else "your address"
            seconds = math.ceil(wait.total_seconds())
            raise Throttled(f"too many failed sign-ins for {what}: try again in {seconds} s", seconds)


def _issue(session: Session, user: User, family: str, key: str, lifetimes: Lifetimes) -> Issued:
    at = now()
    secret = secrets.token_urlsafe(32)
    expires = at + lifetimes.refresh
    repo.add(
        session,
        RefreshToken(
            user_id=user.id, family=family, token_hash=digest(secret), created_at=at, expires_at=expires
        ),
    )
    token = access.issue(key, user.id, family, lifetimes.access, at)
    return Issued(token, int(lifetimes.access.total_seconds()), secret, expires, user)


def refresh(session: Session, secret: str | None, key: str, lifetimes: Lifetimes) -> Issued:
    """Use up a refresh token and issue the next of its family, with a fresh access token."""
    if not secret:
        raise Unauthorized("no sign-in session: sign in first (POST /auth/login)")
    record = repo.by_hash(session, digest(secret))
    at = now()
    if record is None:
        raise Unauthorized("unknown sign-in session: sign in again")
    if record.used_at is not None and not _racing(record, at, lifetimes.reuse):
        # Presented twice: someone else has a copy. End the whole session.
        repo.revoke_family(session, record.family, at)
        wake(session, CALLERS)
        raise Unauthorized(
            "this refresh token was used already; the session is ended for safety: sign in again",
            keep_changes=True,
        )
    if record.revoked_at is not None or record.expires_at <= at:
        raise Unauthorized("the sign-in session has ended: sign in again")
    user = user_repo.by_id(session, record.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("this account is blocked")
    if record.used_at is not None:
        # A second tab raced the first: an access token only, no second successor (the browser's
        # cookie jar gets the first use's), so a copy used within the grace cannot fork the session.
        token = access.issue(key, user.id, record.family, lifetimes.access, at)
        return Issued(token, int(lifetimes.access.total_seconds()), None, record.expires_at, user)
    record.used_at = at
    # The next token lives no longer than the session it continues.
    remaining = Lifetimes(lifetimes.access, min(lifetimes.refresh, record.expires_at - at))
    return _issue(session, user, record.family, key, remaining)


def _racing(record: RefreshToken, at: datetime, grace: timedelta) -> bool:
    """A used token presented again within ``grace`` of its use, its session still going: a
    second tab or a retried request that raced the first, which gets an access token."""
    assert record.used_at is not None
    return record.revoked_at is None and at - record.used_at <= grace


def sign_out(session: Session, secret: str | None) -> None:
    if not secret:
        return
    record = repo.by_hash(session, digest(secret))
    if record is not None:
        repo.revoke_family(session, record.family, now())
        wake(session, CALLERS)
