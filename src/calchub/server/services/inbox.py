"""A user's in-app notices: the feed, the unread count every page shows, marking read.

The notifier (``services.notices.spread``) gives each notice one ``inapp`` delivery per user
told of it, sent at once and unread (``read_at`` empty). A user reads and marks only their
own: another's delivery id is not an error, it is simply not theirs, so it is left alone.
Opening the feed marks nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from sqlalchemy import Row
from sqlalchemy.orm import Session

from calchub.contracts import inbox as wire
from calchub.server.db.tables import now
from calchub.server.repositories import inbox as repo
from calchub.server.services.auth import Caller
from calchub.server.services.errors import Invalid

ALL: Literal["all"] = "all"


def feed(
    session: Session,
    caller: Caller,
    unread_only: bool = False,
    before_id: int | None = None,
    limit: int = 50,
) -> wire.NoticePage:
    """The caller's notices, newest first, from ``before_id`` down; with the unread count."""
    if not 1 <= limit <= wire.MAX_PAGE:
        raise Invalid(f"limit is 1 to {wire.MAX_PAGE}, not {limit}", "limit")
    query = repo.FeedQuery(_recipient(caller), unread_only, before_id, limit + 1)
    rows = repo.feed(session, query)
    items = [_to_wire(row) for row in rows[:limit]]
    older = items[-1].id if len(rows) > limit else None
    return wire.NoticePage(items=items, unread=unread_count(session, caller), older=older)


def unread_count(session: Session, caller: Caller) -> int:
    """How many of the caller's notices are unread: one query on the feed's index (every page
    shows it)."""
    return repo.unread_count(session, _recipient(caller))


def mark_read(session: Session, caller: Caller, ids: Sequence[int] | Literal["all"]) -> int:
    """Mark the caller's notices ``ids`` (or ``"all"``) read; how many were unread until now.
    Ids of others' notices, or of none, are ignored."""
    chosen = None if ids == ALL else list(ids)
    if chosen is not None and len(chosen) > wire.MAX_MARK:
        raise Invalid(f"mark at most {wire.MAX_MARK} notices at a time", "ids")
    if chosen == []:
        return 0
    return repo.mark_read(session, _recipient(caller), chosen, now())


def _recipient(caller: Caller) -> str:
    """How the in-app deliveries name their user."""
    return str(caller.id)


def _to_wire(row: Row[Any]) -> wire.Notice:
    return wire.Notice(
        id=row.id,
        at=row.at,
        kind=row.kind,
        level=row.level,
        message=row.message,
        calculation_id=row.calculation_id,
        calculation_name=row.calculation_name,
        study_id=row.study_id,
        study_name=row.study_name,
        model_id=row.model_id,
        model_name=row.model_name,
        model_version=row.model_version,
        read=row.read_at is not None,
    )
