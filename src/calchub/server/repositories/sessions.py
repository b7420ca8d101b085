"""Sign-in sessions (refresh token families) and failed sign-ins."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from calchub.server.db.tables import RefreshToken, SignInFailures


def add(session: Session, token: RefreshToken) -> RefreshToken:
    session.add(token)
    session.flush()
    return token


def by_hash(session: Session, token_hash: str) -> RefreshToken | None:
    stmt = select(RefreshToken).where(RefreshToken.token_hash == token_hash).with_for_update()
    return session.scalar(stmt)


def family_alive(session: Session, family: str, at: datetime) -> bool:
    """Whether a session still has a token that is neither revoked nor expired."""
    stmt = (
        select(func.count())
        .select_from(RefreshToken)
        .where(RefreshToken.family == family, RefreshToken.revoked_at.is_(None), RefreshToken.expires_at > at)
    )
    return (session.scalar(stmt) or 0) > 0


def revoke_family(session: Session, family: str, at: datetime) -> None:
    stmt = (
        update(RefreshToken)
        .where(RefreshToken.family == family, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=at)
    )
    session.execute(stmt)
    session.flush()


def revoke_user(session: Session, user_id: int | None, at: datetime) -> int:
    """End every session of one user, or of everyone (``user_id`` None); how many were live."""
    mine = [RefreshToken.user_id == user_id] if user_id is not None else []
    live = select(func.count(func.distinct(RefreshToken.family))).where(
        *mine, RefreshToken.revoked_at.is_(None), RefreshToken.expires_at > at
    )
    ended = session.scalar(live) or 0
    session.execute(
        update(RefreshToken).where(*mine, RefreshToken.revoked_at.is_(None)).values(revoked_at=at)
    )
    session.flush()
    return ended


def lock_failures(session: Session, keys: list[str], at: datetime) -> list[SignInFailures]:
    """The failure counts of ``keys``, made when missing and locked until the transaction ends,
    so that sign-ins tried at once for one account or address take turns."""
    found = []
    for key in keys:
        row = session.get(SignInFailures, key, with_for_update=True)
        if row is None:
            try:
                with session.begin_nested():
                    row = SignInFailures(key=key, failures=0, last_at=at)
                    session.add(row)
            except IntegrityError:  # another sign-in made it first
                row = session.get(SignInFailures, key, with_for_update=True, populate_existing=True)
        assert row is not None
        found.append(row)
    return found


def record_failure(row: SignInFailures, at: datetime, window_start: datetime) -> None:
    row.failures = 1 if row.last_at < window_start else row.failures + 1
    row.last_at = at


def clear_failures(session: Session, keys: list[str]) -> None:
    session.execute(delete(SignInFailures).where(SignInFailures.key.in_(keys)))
