"""Sign-in sessions (refresh token families) and failed sign-ins."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select, update
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


def failures(session: Session, keys: list[str]) -> list[SignInFailures]:
    return list(session.scalars(select(SignInFailures).where(SignInFailures.key.in_(keys))))


def record_failure(session: Session, key: str, at: datetime, window_start: datetime) -> None:
    found = session.get(SignInFailures, key, with_for_update=True)
    if found is None:
        session.add(SignInFailures(key=key, failures=1, last_at=at))
    elif found.last_at < window_start:
        found.failures, found.last_at = 1, at
    else:
        found.failures, found.last_at = found.failures + 1, at
    session.flush()


def clear_failures(session: Session, keys: list[str]) -> None:
    session.execute(delete(SignInFailures).where(SignInFailures.key.in_(keys)))
