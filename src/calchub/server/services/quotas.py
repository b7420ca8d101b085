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
    return core_hours_of(session, column, {key: since}).get(key, 0.0)


def core_hours_of(session: Session, column: object, since: dict[int, datetime]) -> dict[int, float]:
    """Core-hours used by each project or owner (``column``) since its own start: the runs that
    finished since then, summed by the database (one query for each length of period, most often
    one), and those running now."""
    at = now()
    totals = dict.fromkeys(since, 0.0)
    by_start: dict[datetime, list[int]] = {}
    for key, start in since.items():
        by_start.setdefault(start, []).append(key)
    for start, keys in by_start.items():
        for key, seconds in repo.core_seconds_finished(session, column, keys, start).items():
            totals[key] += seconds / 3600
    for row in repo.running(session, column, list(since)) if since else []:
        begin = max(row.started_at, since[row.key])
        if at > begin:
            totals[row.key] += row.cores * (at - begin).total_seconds() / 3600
    return totals


def usage(session: Session, project: Project) -> wire.Usage:
    return usage_of(session, [project])[project.id]


def usage_of(session: Session, projects: Sequence[Project]) -> dict[int, wire.Usage]:
    """What each project uses of its quotas, from two queries however many projects."""
    at = now()  # one moment for all: projects of the same period are summed together
    starts = {p.id: at - timedelta(days=p.quota_days) for p in projects}
    counts = repo.counts_of(session, Calculation.project_id, list(starts))
    hours = core_hours_of(session, Calculation.project_id, starts)
    found: dict[int, wire.Usage] = {}
    for project in projects:
        held, waiting = counts.get(project.id, (0, 0))
        used = round(hours[project.id], 4)
        found[project.id] = wire.Usage(
            project=project.name,
            running=held,
            queued=waiting,
            core_hours=used,
            since=starts[project.id],
            quotas=[
                _use("max_running", held, project.max_running),
                _use("max_queued", waiting, project.max_queued),
                _use("core_hours", used, project.core_hours),
            ],
        )
    return found


def _use(name: str, used: float, limit: float | None) -> wire.QuotaUse:
    left = None if limit is None else max(limit - used, 0)
    return wire.QuotaUse(quota=name, used=used, limit=limit, left=left)
