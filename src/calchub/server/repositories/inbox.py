"""A user's in-app feed: their ``inapp`` deliveries, newest first, read and marked read.

Every statement is bounded by the index ``ix_deliveries_feed (channel, recipient, id)``:
a user's deliveries are one range of it, in the order of their ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, select, update
from sqlalchemy.orm import Session

from calchub.server.db.tables import Calculation, Delivery, ModelVersion, Notice, Study

INAPP = "inapp"


@dataclass(frozen=True)
class FeedQuery:
    #: The user's id, as the deliveries name their recipient.
    recipient: str
    unread_only: bool = False
    #: Older than this delivery (the next page down).
    before_id: int | None = None
    limit: int = 50


_FEED_COLUMNS: tuple[Any, ...] = (
    Delivery.id,
    Delivery.read_at,
    Notice.at,
    Notice.kind,
    Notice.level,
    Notice.message,
    Notice.calculation_id,
    Calculation.name.label("calculation_name"),
    Notice.study_id,
    Study.name.label("study_name"),
    Notice.model_id,
    ModelVersion.name.label("model_name"),
    ModelVersion.version.label("model_version"),
)


def feed(session: Session, query: FeedQuery) -> Sequence[Row[Any]]:
    """Up to ``limit`` deliveries with their notice, and the calculation, study or model it tells
    of, newest first."""
    stmt = (
        select(*_FEED_COLUMNS)
        .join(Notice, Notice.id == Delivery.notice_id)
        .outerjoin(Calculation, Calculation.id == Notice.calculation_id)
        .outerjoin(Study, Study.id == Notice.study_id)
        .outerjoin(ModelVersion, ModelVersion.id == Notice.model_id)
        .where(Delivery.channel == INAPP, Delivery.recipient == query.recipient)
        .order_by(Delivery.id.desc())
        .limit(query.limit)
    )
    if query.unread_only:
        stmt = stmt.where(Delivery.read_at.is_(None))
    if query.before_id is not None:
        stmt = stmt.where(Delivery.id < query.before_id)
    return session.execute(stmt).all()


def unread_count(session: Session, recipient: str) -> int:
    stmt = (
        select(func.count())
        .select_from(Delivery)
        .where(Delivery.channel == INAPP, Delivery.recipient == recipient, Delivery.read_at.is_(None))
    )
    return session.scalar(stmt) or 0


def mark_read(session: Session, recipient: str, ids: Sequence[int] | None, at: datetime) -> int:
    """Mark the recipient's unread deliveries read (those of ``ids``, or all with None); how many."""
    stmt = (
        update(Delivery)
        .where(Delivery.channel == INAPP, Delivery.recipient == recipient, Delivery.read_at.is_(None))
        .values(read_at=at)
        .execution_options(synchronize_session=False)
    )
    if ids is not None:
        stmt = stmt.where(Delivery.id.in_(sorted(set(ids))))
    result = session.execute(stmt)
    return int(getattr(result, "rowcount", 0) or 0)
