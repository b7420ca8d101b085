"""The log feed: what agents and the service did, recorded where it happens and read by who may see it.

``record`` adds an entry to the caller's transaction and queues the ``logs`` wake-up, so
every live feed (on every replica) looks again once the change is committed, and an
entry is there exactly when the change it tells of is. Who sees an entry follows
``domain.permissions.log_scope``: its project's members, everyone for a cluster's own
entries, moderators and admins for the service's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from calchub.contracts import activity as wire
from calchub.domain.permissions import Action, LogScope, log_scope
from calchub.server.db.tables import Cluster, LogEntry, as_utc, now
from calchub.server.repositories import clusters as cluster_repo
from calchub.server.repositories import log_entries as repo
from calchub.server.services.auth import Caller
from calchub.server.services.errors import Forbidden, Invalid, NotFound, ServiceError
from calchub.server.services.unit import CALLERS, wake
from calchub.server.services.wakeups import Wakeups, wait_first

#: The wake-up of every live feed: a new entry was committed.
LOGS = "logs"


def record(
    session: Session,
    kind: str,
    message: str,
    *,
    level: wire.Level = "info",
    source: wire.Source = "server",
    cluster: Cluster | int | None = None,
    project_id: int | None = None,
    calculation_id: int | None = None,
    actor: str = "",
    data: dict[str, Any] | None = None,
) -> None:
    """One entry, in the caller's transaction; the live feeds wake when it commits."""
    cluster_id = cluster.id if isinstance(cluster, Cluster) else cluster
    entry = LogEntry(
        at=now(),
        level=level,
        source=source,
        kind=kind,
        cluster_id=cluster_id,
        project_id=project_id,
        calculation_id=calculation_id,
        actor=actor[:200],
        message=message,
        data=data,
    )
    repo.add(session, entry)
    wake(session, LOGS)


def record_about_calculations(session: Session, entries: list[dict[str, Any]]) -> None:
    """Many entries about calculations at once (a batch of reports); each is seen by its project.

    Each has ``calculation_id``, ``kind``, ``message`` and may have ``level``, ``source``,
    ``actor``, ``data`` and ``at``; the project and cluster are the calculation's.
    """
    if not entries:
        return
    defaults = {"level": "info", "source": "server", "actor": "", "data": None}
    rows = [{**defaults, "at": now(), **entry} for entry in entries]
    repo.add_about_calculations(session, rows)
    wake(session, LOGS)


@dataclass
class Filters:
    """What a viewer asks of the feed; every field is optional."""

    #: This level and the more urgent ones.
    level: wire.Level | None = None
    source: str | None = None
    kind: str | None = None
    cluster: str | None = None
    calculation_id: int | None = None
    text: str | None = None
    since: datetime | None = None
    before: datetime | None = None
    before_id: int | None = None
    after_id: int | None = None
    limit: int = 50


def scope_of(caller: Caller) -> LogScope:
    return log_scope(caller.role, caller.projects)


def feed(session: Session, caller: Caller, filters: Filters) -> wire.LogPage:
    """The entries ``caller`` may see that match ``filters``, newest first."""
    if not caller.may(Action.LOGS_READ):
        raise Forbidden(f"a {caller.role} may not read the log feed ({Action.LOGS_READ.value})")
    query = repo.FeedQuery(
        scope=scope_of(caller),
        levels=wire.at_least(filters.level) if filters.level else (),
        source=filters.source or None,
        kind=filters.kind or None,
        cluster_id=_cluster_id(session, filters.cluster),
        calculation_id=filters.calculation_id,
        text=filters.text or None,
        since=filters.since and as_utc(filters.since),
        before=filters.before and as_utc(filters.before),
        before_id=filters.before_id,
        after_id=filters.after_id,
        limit=filters.limit,
    )
    rows = repo.feed(session, query)
    items = [to_wire(entry, cluster, project) for entry, cluster, project in rows]
    full = len(items) == filters.limit
    older = items[-1].id if full and filters.after_id is None else None
    return wire.LogPage(items=items, older=older)


def latest_id(session: Session) -> int:
    return repo.latest_id(session)


def _cluster_id(session: Session, name: str | None) -> int | None:
    if not name:
        return None
    cluster = cluster_repo.by_name(session, name)
    if cluster is None:
        raise NotFound(f"no cluster named {name!r}", "cluster")
    return cluster.id


def to_wire(entry: LogEntry, cluster: str | None, project: str | None) -> wire.LogEntry:
    return wire.LogEntry(
        id=entry.id,
        at=entry.at,
        level=entry.level,
        source=entry.source,
        kind=entry.kind,
        cluster=cluster,
        project=project,
        calculation_id=entry.calculation_id,
        actor=entry.actor,
        message=entry.message,
        data=entry.data,
    )


def count_before(session: Session, caller: Caller, before: datetime) -> int:
    """How many entries ``delete_before`` would delete: what a confirmation asks about."""
    return repo.count_before(session, _cutoff(caller, before))


def delete_before(session: Session, caller: Caller, before: datetime) -> wire.Purged:
    """Delete every entry older than ``before`` (admins); the deletion is itself an entry."""
    cutoff = _cutoff(caller, before)
    deleted = repo.delete_before(session, cutoff)
    message = f"{caller.username} deleted {deleted} log entries older than {cutoff.isoformat()}"
    record(session, "logs.deleted", message, actor=caller.actor, data={"deleted": deleted})
    return wire.Purged(deleted=deleted, before=cutoff)


def _cutoff(caller: Caller, before: datetime) -> datetime:
    """``before`` in UTC, for an admin, and not in the future."""
    if not caller.may(Action.LOGS_DELETE):
        raise Forbidden(f"a {caller.role} may not delete log entries ({Action.LOGS_DELETE.value})")
    cutoff = as_utc(before)
    if cutoff > now():
        raise Invalid(
            f"{cutoff:%Y-%m-%d %H:%M} UTC is in the future: only entries older than a past time are deleted",
            "before",
        )
    return cutoff


def watched(wakeups: Wakeups) -> list[asyncio.Event]:
    """What wakes a follower of the feed: a new entry (here or on another replica), or a change
    to anyone's rights, after which it asks again whether its caller may go on."""
    return [wakeups.current(LOGS), wakeups.current(CALLERS)]


async def follow(
    wakeups: Wakeups,
    filters: Filters,
    events: list[asyncio.Event],
    first: wire.LogPage,
    read: Callable[[Filters], Awaitable[wire.LogPage]],
) -> AsyncIterator[list[wire.LogEntry]]:
    """The new entries, newest first, each time some are committed, until ``read`` is refused
    (the caller lost the right). ``first`` is the first round, read after ``events`` were taken
    (:func:`watched`), so nothing committed in between is missed."""
    page = first
    while True:
        if page.items:
            filters.after_id = page.items[0].id
            yield page.items
        if len(page.items) < filters.limit:  # else more came than one round holds: read on at once
            await wait_first(events, 15.0)
        events = watched(wakeups)
        try:
            page = await read(filters)
        except ServiceError:
            return
