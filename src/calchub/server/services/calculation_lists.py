"""Lists of calculations: the filters the API and the pages share, keyset pages and cursors.

Only the calculations of the projects the caller sees are listed (every project, for
moderators and admins). A page is one query for its rows plus one each for their files and
the caller's favorites, however deep it is (no ``OFFSET``, no ``COUNT``).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from calchub.contracts import calculations as wire
from calchub.domain.states import TERMINAL, State
from calchub.server.db.tables import as_utc
from calchub.server.repositories import calculations as repo
from calchub.server.repositories import clusters as cluster_repo
from calchub.server.repositories import users as user_repo
from calchub.server.services import projects as project_service
from calchub.server.services.auth import Caller
from calchub.server.services.calculations import to_wire
from calchub.server.services.errors import Invalid, NotFound


def encode_cursor(value: Any, last_id: int) -> str:
    if isinstance(value, datetime):
        value = {"t": value.isoformat()}
    return base64.urlsafe_b64encode(json.dumps([value, last_id]).encode()).decode()


def decode_cursor(cursor: str) -> tuple[Any, int]:
    try:
        value, last_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if isinstance(value, dict):
            value = datetime.fromisoformat(value["t"])
        return value, int(last_id)
    except (ValueError, TypeError, KeyError):
        raise Invalid("cursor is not one this server gave out; start again without it", "cursor") from None


_SORT_VALUE = {"id": "id", "created": "created_at", "priority": "priority", "name": "name"}
#: How far the clocks of several replicas may disagree: ids grow with submission time to within this.
CLOCK_SKEW = timedelta(minutes=5)


def list_query(
    caller: Caller,
    *,
    states: Sequence[State] = (),
    name: str | None = None,
    sort: str = "-id",
    limit: int = 100,
    favorite: bool = False,
    calctype: str | None = None,
    study: str | None = None,
    submitted_from: datetime | None = None,
    submitted_before: datetime | None = None,
    cursor: str | None = None,
) -> repo.ListQuery:
    """The filters the API and the pages share, as one query. ``calctype`` ``command`` means
    plain commands; times without a zone are UTC."""
    query = repo.ListQuery(states=[s.value for s in states], name=name or None, sort=sort, limit=limit)
    query.favorites_of = caller.id if favorite else None
    if calctype == "command":
        query.untyped = True
    elif calctype:
        query.calctype = calctype
    query.study = study or None
    query.created_from = submitted_from and as_utc(submitted_from)
    query.created_before = submitted_before and as_utc(submitted_before)
    if cursor:
        query.after = decode_cursor(cursor)
    return query


def search(
    session: Session,
    caller: Caller,
    query: repo.ListQuery,
    owner: str | None = None,
    cluster: str | None = None,
    project: str | None = None,
) -> wire.CalculationPage:
    """The calculations of the projects the caller sees, filtered."""
    query.project_ids = None if caller.sees_all else sorted(caller.projects)
    if query.created_from is not None or query.created_before is not None:
        if query.created_from and query.created_before and query.created_from >= query.created_before:
            raise Invalid("the first day is after the last one", "submitted_from")
        query.id_min, query.id_max = repo.id_bounds(
            session, query.created_from, query.created_before, CLOCK_SKEW
        )
    if owner is not None:
        user = user_repo.by_username(session, owner)
        if user is None:
            return wire.CalculationPage(items=[])
        query.owner_id = user.id
    if project is not None:
        query.project_id = project_service.visible(session, caller, project).id
    if cluster is not None:
        found = cluster_repo.by_name(session, cluster)
        if found is None:
            raise NotFound(f"no cluster named {cluster!r}", "cluster")
        query.cluster_id = found.id
    rows = repo.search(session, query)
    ids = [c.id for c, _, _, _ in rows]
    files = repo.files_of(session, ids)
    favorites = repo.favorites_among(session, caller.id, ids)
    items = [to_wire(c, o, cl, files[c.id], p, c.id in favorites) for c, o, cl, p in rows]
    next_cursor = None
    if len(rows) == query.limit:
        last = rows[-1][0]
        next_cursor = encode_cursor(getattr(last, _SORT_VALUE[query.sort.lstrip("-")]), last.id)
    return wire.CalculationPage(items=items, next_cursor=next_cursor)


def finished_among(session: Session, caller: Caller, ids: Sequence[int]) -> list[wire.Calculation]:
    query = repo.ListQuery(ids=ids, states=[s.value for s in TERMINAL], limit=len(ids), sort="id")
    return search(session, caller, query).items
