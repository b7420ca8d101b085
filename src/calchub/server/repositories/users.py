"""Users and their API tokens."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from calchub.server.db.tables import ApiToken, Calculation, Project, Study, User


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def by_username(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def by_id(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def add(session: Session, user: User) -> User:
    session.add(user)
    session.flush()
    return user


def add_token(session: Session, token: ApiToken) -> ApiToken:
    session.add(token)
    session.flush()
    return token


def token_by_hash(session: Session, token_hash: str) -> tuple[ApiToken, User] | None:
    row = session.execute(select(ApiToken, User).join(User).where(ApiToken.token_hash == token_hash)).first()
    return (row[0], row[1]) if row else None


def tokens_of(session: Session, user_id: int) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id)))


def token_of(session: Session, user_id: int, token_id: int) -> ApiToken | None:
    return session.scalar(select(ApiToken).where(ApiToken.user_id == user_id, ApiToken.id == token_id))


def revoke_token(session: Session, token: ApiToken, at: datetime) -> None:
    token.revoked_at = at
    session.flush()


def listing(
    session: Session, text: str | None = None, role: str | None = None, blocked: bool | None = None
) -> list[User]:
    """Accounts by username: those whose username or email holds ``text`` (any case), of ``role``,
    blocked or not."""
    stmt = select(User).order_by(User.username)
    if text:
        escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        stmt = stmt.where(
            func.lower(User.username).like(pattern, escape="\\")
            | func.lower(func.coalesce(User.email, "")).like(pattern, escape="\\")
        )
    if role:
        stmt = stmt.where(User.role == role)
    if blocked is not None:
        stmt = stmt.where(User.is_active.is_(not blocked))
    return list(session.scalars(stmt))


def remove(session: Session, user: User) -> None:
    session.delete(user)
    session.flush()


def owned_calculations(session: Session, user_id: int) -> int:
    stmt = select(func.count()).select_from(Calculation).where(Calculation.owner_id == user_id)
    return session.scalar(stmt) or 0


def owned_studies(session: Session, user_id: int) -> list[str]:
    """The names of the studies this user made, each as ``project/name``."""
    stmt = (
        select(Project.name, Study.name)
        .join(Project, Project.id == Study.project_id)
        .where(Study.owner_id == user_id)
        .order_by(Study.id)
    )
    return [f"{project}/{name}" for project, name in session.execute(stmt)]


def by_ids(session: Session, user_ids: Iterable[int]) -> dict[int, User]:
    ids = sorted(set(user_ids))
    return {u.id: u for u in session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
