"""/logs: the feed of agent and service events, filtered, paged, followed live; admins delete old ones."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from calchub.contracts import activity as wire
from calchub.contracts.calculations import MAX_ID
from calchub.server.api.deps import HubDep, LogReader, LogsAdmin, Recheck
from calchub.server.services import activity

router = APIRouter(prefix="/logs", tags=["logs"])
EntryId = Annotated[int | None, Query(ge=0, le=MAX_ID)]


def filters(
    level: Annotated[wire.Level | None, Query(description="this level and the more urgent ones")] = None,
    source: Annotated[str | None, Query(max_length=20, description="agent or server")] = None,
    kind: Annotated[str | None, Query(max_length=60, description="kinds starting so: agent, key.")] = None,
    cluster: Annotated[str | None, Query(max_length=100, description="a cluster's name")] = None,
    calculation: Annotated[int | None, Query(ge=1, le=MAX_ID, description="one calculation's")] = None,
    q: Annotated[str | None, Query(max_length=200, description="words in the message, case ignored")] = None,
    since: Annotated[datetime | None, Query(description="at or after (UTC without a zone)")] = None,
    before: Annotated[datetime | None, Query(description="before this time")] = None,
    before_id: Annotated[EntryId, Query(description="older than this entry: the next page")] = None,
    after_id: Annotated[
        EntryId, Query(description="newer than this entry (the first `limit` of them)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=wire.MAX_PAGE)] = 50,
) -> activity.Filters:
    return activity.Filters(
        level=level,
        source=source,
        kind=kind,
        cluster=cluster,
        calculation_id=calculation,
        text=q,
        since=since,
        before=before,
        before_id=before_id,
        after_id=after_id,
        limit=limit,
    )


Filtered = Annotated[activity.Filters, Depends(filters)]


@router.get(
    "",
    response_model=wire.LogPage,
    responses={
        200: {"content": {"application/x-ndjson": {}}, "description": "with follow: entries as they come"}
    },
)
async def feed(
    hub: HubDep,
    user: LogReader,
    again: Recheck,
    chosen: Filtered,
    follow: Annotated[
        bool, Query(description="stream new entries, one JSON line each, oldest first")
    ] = False,
) -> Response | wire.LogPage:
    """The entries you may see, newest first: your projects', every cluster's, and for moderators
    and admins the service's own. ``older`` is the ``before_id`` of the next page."""
    if not follow:
        return await run_in_threadpool(_page, hub, lambda: user, chosen)
    if chosen.after_id is None:
        chosen.after_id = await run_in_threadpool(_latest, hub)
    # The first round here, so that a bad filter (an unknown cluster) is answered, not streamed.
    events = activity.watched(hub.wakeups)
    first = await run_in_threadpool(_page, hub, lambda: user, chosen)
    return StreamingResponse(_follow(hub, again, chosen, events, first), media_type="application/x-ndjson")


def _page(hub: HubDep, again: Recheck, chosen: activity.Filters) -> wire.LogPage:
    user = again()  # asked again on every round of a stream: a block ends it
    with hub.uow() as session:
        return activity.feed(session, user, chosen)


def _latest(hub: HubDep) -> int:
    with hub.uow() as session:
        return activity.latest_id(session)


async def _follow(
    hub: HubDep, again: Recheck, chosen: activity.Filters, events: list[asyncio.Event], page: wire.LogPage
) -> AsyncIterator[bytes]:
    """Entries as they are committed, one JSON line each, oldest first."""

    async def read(filters: activity.Filters) -> wire.LogPage:
        return await run_in_threadpool(_page, hub, again, filters)

    async for entries in activity.follow(hub.wakeups, chosen, events, page, read):
        yield "".join(entry.model_dump_json() + "\n" for entry in reversed(entries)).encode()


@router.delete("", response_model=wire.Purged)
def purge(
    hub: HubDep,
    user: LogsAdmin,
    before: Annotated[
        datetime, Query(description="delete every entry older than this (ISO 8601; UTC without a zone)")
    ],
) -> wire.Purged:
    """Delete old entries (admins); a time in the future is refused (422)."""
    with hub.uow() as session:
        return activity.delete_before(session, user, before)
