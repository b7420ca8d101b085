"""Quotas of projects and users: checked at submit, and what is used of them.

- ``max_queued``: calculations waiting to run (queued, waiting, pending
  approval); a submission that would go over it is refused, nothing created.
- ``core_hours`` over the last ``quota_days``: cores times hours run, the
  runs still going counted up to now; a submission is refused once nothing
  is left, or when its own cores times walltime would not fit.
- ``max_running``: calculations held by agents; checked when agents claim
  (``services.agents``): work over the limit simply waits in the queue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from calchub.contracts import projects as wire
from calchub.server.db.tables import Calculation, Project, User, now
from calchub.server.repositories import projects as repo
from calchub.server.services.errors import Conflict


@dataclass(frozen=True)
class Asked:
    """What one submission asks of one project: how many calculations, and how many core-hours
    (cores times walltime, of those that give a walltime)."""

    project: Project
    count: int
    core_hours: float


def check(session: Session, owner: User, asked: Sequence[Asked]) -> None:
    """Each project's quotas against what is asked of it, then the owner's against all of it."""
    for a in asked:
        what = f"project {a.project.name!r}"
        _check_one(session, a.project, Calculation.project_id, what, a.count, a.core_hours)
    count, hours = sum(a.count for a in asked), sum(a.core_hours for a in asked)
    _check_one(session, owner, Calculation.owner_id, f"user {owner.username!r}", count, hours)


def _check_one(
    session: Session, holder: Project | User, column: object, what: str, count: int, hours: float
) -> None:
    if holder.max_queued is not None:
        _, waiting = repo.counts(session, column, holder.id)
        left = holder.max_queued - waiting
        if count > left:
            raise Conflict(
                f"over the max_queued quota of {what}: {waiting} of {holder.max_queued} calculations wait "
                f"already, {max(left, 0)} more may be queued, and this asks for {count}",
                "quota.max_queued",
            )
    if holder.core_hours is not None:
        used = core_hours_used(session, column, holder.id, now() - timedelta(days=holder.quota_days))
        left_hours = holder.core_hours - used
        if left_hours <= 0 or hours > left_hours:
            raise Conflict(
                f"over the core_hours quota of {what}: {used:.2f} of {holder.core_hours:g} core-hours used "
                f"in the last {holder.quota_days} days, {max(left_hours, 0):.2f} left"
                + (f", and this asks for up to {hours:.2f}" if hours else ""),
                "quota.core_hours",
            )


def core_hours_used(session: Session, column: object, key: int, since: datetime) -> float:
    at = now()
    total = 0.0
    for row in repo.runs_since(session, column, key, since):
        begin = max(row.started_at, since)
        end = row.finished_at or at
        cores = row.cores
        if end > begin:
            total += cores * (end - begin).total_seconds() / 3600
    return total


def usage(session: Session, project: Project) -> wire.Usage:
    held, waiting = repo.counts(session, Calculation.project_id, project.id)
    since = now() - timedelta(days=project.quota_days)
    hours = core_hours_used(session, Calculation.project_id, project.id, since)
    return wire.Usage(
        project=project.name,
        running=held,
        queued=waiting,
        core_hours=round(hours, 4),
        since=since,
        quotas=[
            _use("max_running", held, project.max_running),
            _use("max_queued", waiting, project.max_queued),
            _use("core_hours", round(hours, 4), project.core_hours),
        ],
    )


def _use(name: str, used: float, limit: float | None) -> wire.QuotaUse:
    left = None if limit is None else max(limit - used, 0)
    return wire.QuotaUse(quota=name, used=used, limit=limit, left=left)
