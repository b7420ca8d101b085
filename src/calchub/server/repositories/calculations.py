"""Calculations, their events and their files."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Row,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.orm import Session

from calchub.domain.states import HELD, State
from calchub.server.db.tables import (
    Calculation,
    CalculationEvent,
    CalculationFile,
    Cluster,
    Favorite,
    Project,
    User,
)

_HELD = [s.value for s in HELD]


@dataclass
class ListQuery:
    """What a list of calculations asks for; every filter is optional and they all apply.

    Pages are keyset pages (``after`` the last row's sort value and id), never offsets, so a
    deep page costs what the first one does. Each filter the pages offer has an index that
    ends in the sort order (see ``db.tables.Calculation``), and each order has one that
    starts with the project, for viewers who see some projects only. The name is the
    exception: a pattern is checked row by row in the page's order, so a name that matches
    few calculations reads many (all of them, for one that matches none: about 0.3 s at a
    million rows, ``docs/performance.md``).
    """

    owner_id: int | None = None
    states: Sequence[str] = ()
    cluster_id: int | None = None
    name: str | None = None
    ids: Sequence[int] = ()
    project_id: int | None = None
    #: Only calculations of these projects; all when None (moderators, admins).
    project_ids: Sequence[int] | None = None
    #: Only the favorites of this user.
    favorites_of: int | None = None
    #: Only calculations of this type; ``untyped`` for plain commands.
    calctype: str | None = None
    untyped: bool = False
    #: Only the calculations of this study.
    study: str | None = None
    #: Submitted at or after ``created_from``, and before ``created_before``.
    created_from: datetime | None = None
    created_before: datetime | None = None
    #: Bounds on ids that hold every calculation submitted in those times (``id_bounds``).
    id_min: int | None = None
    id_max: int | None = None
    sort: str = "-id"
    after: tuple[Any, int] | None = None
    limit: int = 100


_SORT_COLUMNS: dict[str, Any] = {
    "id": Calculation.id,
    "created": Calculation.created_at,
    "priority": Calculation.priority,
    "name": Calculation.name,
}
#: A viewer of more projects than this is listed with one IN instead of one ordered scan each.
MAX_PROJECT_SCANS = 20


def insert_calculations(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Insert many calculations at once; their ids, in the order given.

    PostgreSQL returns them from batched ``INSERT ... RETURNING`` statements, in order.
    SQLite cannot batch an ordered ``RETURNING`` (SQLAlchemy sends a statement per row,
    which doubles the cost of a sweep's rows), so there the rows go in one executemany and
    their ids are read back: the transaction holds SQLite's write lock (``BEGIN IMMEDIATE``,
    ``db/engine.py``) and the ids are ``AUTOINCREMENT`` (each above every id before it), so
    the new rows are those above the highest id, in the order they were inserted.
    """
    table = Calculation.__table__
    connection = session.connection()
    if connection.dialect.name != "sqlite" or len(rows) < 2:
        stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)  # type: ignore[arg-type]
        return [row.id for row in connection.execute(stmt, rows)]
    highest = connection.execute(select(func.max(table.c.id))).scalar() or 0
    connection.execute(insert(table), rows)  # type: ignore[arg-type]
    made = list(connection.execute(select(table.c.id).where(table.c.id > highest).order_by(table.c.id)))
    ids = [row.id for row in made]
    if len(ids) != len(rows):
        raise RuntimeError(f"inserted {len(rows)} calculations but found {len(ids)} new ids")
    return ids


def get(session: Session, calc_id: int, *, lock: bool = False) -> Calculation | None:
    return session.get(Calculation, calc_id, with_for_update=lock or None)


def search(session: Session, query: ListQuery) -> list[tuple[Calculation, str, str, str]]:
    """Calculations with their owner's, cluster's and project's names, keyset-paginated.

    First the page's ids, from the indexes alone, then those rows with their names.
    """
    ids = page_ids(session, query)
    if not ids:
        return []
    stmt = (
        select(Calculation, User.username, Cluster.name, Project.name)
        .join(User, User.id == Calculation.owner_id)
        .join(Cluster, Cluster.id == Calculation.cluster_id)
        .join(Project, Project.id == Calculation.project_id)
        .where(Calculation.id.in_(ids))
    )
    found = {row[0].id: (row[0], row[1], row[2], row[3]) for row in session.execute(stmt)}
    return [found[i] for i in ids if i in found]


def page_ids(session: Session, query: ListQuery) -> list[int]:
    """The ids of one page, in the page's order.

    A viewer who sees some projects only gets one ordered, limited scan per project (each
    read off its ``(project_id, ...)`` index), merged: an ``IN`` over the projects would make
    the database collect every calculation of them and sort them all.
    """
    column = _SORT_COLUMNS[query.sort.lstrip("-")]
    descending = query.sort.startswith("-")
    order = [column.desc(), Calculation.id.desc()] if descending else [column, Calculation.id]
    conditions = _conditions(query, column, descending)
    projects = None if query.project_ids is None else sorted(set(query.project_ids))
    if projects is not None and not projects:
        return []
    if projects is None or len(projects) == 1 or len(projects) > MAX_PROJECT_SCANS:
        if projects is not None:
            conditions.append(
                Calculation.project_id == projects[0]
                if len(projects) == 1
                else Calculation.project_id.in_(projects)
            )
        stmt = select(Calculation.id).where(*conditions).order_by(*order).limit(query.limit)
        return list(session.scalars(stmt))
    scans = [
        select(Calculation.id, column.label("key"))
        .where(*conditions, Calculation.project_id == project)
        .order_by(*order)
        .limit(query.limit)
        .subquery()
        for project in projects
    ]
    merged = union_all(*(select(scan.c.id, scan.c.key) for scan in scans)).subquery()
    key = merged.c.key
    outer = [key.desc(), merged.c.id.desc()] if descending else [key, merged.c.id]
    if column is Calculation.id:
        outer = outer[1:]
    return list(session.scalars(select(merged.c.id).order_by(*outer).limit(query.limit)))


def _conditions(query: ListQuery, column: Any, descending: bool) -> list[ColumnElement[bool]]:
    """The query's filters, but for the projects seen."""
    conditions: list[ColumnElement[bool]] = []
    if query.owner_id is not None:
        conditions.append(Calculation.owner_id == query.owner_id)
    if query.project_id is not None:
        conditions.append(Calculation.project_id == query.project_id)
    if query.favorites_of is not None:
        mine = select(Favorite.calculation_id).where(Favorite.user_id == query.favorites_of)
        conditions.append(Calculation.id.in_(mine))
    if query.states:
        states = list(query.states)
        conditions.append(
            Calculation.state == states[0] if len(states) == 1 else Calculation.state.in_(states)
        )
    if query.cluster_id is not None:
        conditions.append(Calculation.cluster_id == query.cluster_id)
    if query.calctype is not None:
        conditions.append(Calculation.calctype == query.calctype)
    if query.untyped:
        conditions.append(Calculation.calctype.is_(None))
    if query.study is not None:
        conditions.append(Calculation.study == query.study)
    if query.name:
        # Case-insensitive on both databases (SQLite's LIKE already is, PostgreSQL's is not).
        conditions.append(func.lower(Calculation.name).like(_like(query.name.lower()), escape="\\"))
    if query.ids:
        conditions.append(Calculation.id.in_(query.ids))
    if query.created_from is not None:
        conditions.append(Calculation.created_at >= query.created_from)
    if query.created_before is not None:
        conditions.append(Calculation.created_at < query.created_before)
    if query.id_min is not None:
        conditions.append(Calculation.id >= query.id_min)
    if query.id_max is not None:
        conditions.append(Calculation.id <= query.id_max)
    if query.after is not None:
        conditions.append(_after(column, descending, *query.after))
    return conditions


def _after(column: Any, descending: bool, value: Any, last_id: int) -> ColumnElement[bool]:
    """Rows after the cursor, as one row-value comparison: the index range starts right there."""
    after: ColumnElement[bool]
    if column is Calculation.id:
        after = Calculation.id < last_id if descending else Calculation.id > last_id
        return after
    pair, cursor = tuple_(column, Calculation.id), tuple_(literal(value, column.type), literal(last_id))
    after = pair < cursor if descending else pair > cursor
    return after


def id_bounds(
    session: Session, since: datetime | None, before: datetime | None, skew: timedelta
) -> tuple[int | None, int | None]:
    """Bounds on the ids of the calculations submitted in ``[since, before)``: the lowest and the
    highest id one of them can have, or None where there is no bound.

    Ids grow in the order rows are written, and submission times with them to within ``skew``
    (the clocks of several replicas, the order in which writers commit). So a row stamped
    earlier than ``since - skew`` was written before any row stamped from ``since`` on, and a
    row stamped from ``before + skew`` on after any stamped before ``before``: the ids of such
    rows bound the range. The times are still checked row by row; a bound only narrows where
    the database looks, through the ``(created_at, id)`` index.
    """
    low = high = None
    if since is not None and (start := _shifted(since, -skew)) is not None:
        earlier = session.scalar(
            select(Calculation.id)
            .where(Calculation.created_at < start)
            .order_by(Calculation.created_at.desc(), Calculation.id.desc())
            .limit(1)
        )
        low = None if earlier is None else earlier + 1
    if before is not None and (end := _shifted(before, skew)) is not None:
        later = session.scalar(
            select(Calculation.id)
            .where(Calculation.created_at >= end)
            .order_by(Calculation.created_at, Calculation.id)
            .limit(1)
        )
        high = None if later is None else later - 1
    return low, high


def _shifted(moment: datetime, by: timedelta) -> datetime | None:
    """``moment + by``, or None past the calendar's ends (year 1 or 9999): no bound there."""
    try:
        return moment + by
    except OverflowError:
        return None


class RowFacts(NamedTuple):
    owner_id: int
    project_id: int
    state: str


def row_facts(session: Session, ids: Sequence[int]) -> dict[int, RowFacts]:
    """Owner, project and state of these calculations: what deciding who may act on them needs."""
    if not ids:
        return {}
    stmt = select(Calculation.id, Calculation.owner_id, Calculation.project_id, Calculation.state).where(
        Calculation.id.in_(ids)
    )
    return {row.id: RowFacts(row.owner_id, row.project_id, row.state) for row in session.execute(stmt)}


def favorites_among(session: Session, user_id: int, calc_ids: Sequence[int]) -> set[int]:
    if not calc_ids:
        return set()
    stmt = select(Favorite.calculation_id).where(
        Favorite.user_id == user_id, Favorite.calculation_id.in_(calc_ids)
    )
    return set(session.scalars(stmt))


def set_favorite(session: Session, user_id: int, calc_id: int, on: bool) -> None:
    found = session.get(Favorite, (user_id, calc_id))
    if on and found is None:
        session.add(Favorite(user_id=user_id, calculation_id=calc_id))
    elif not on and found is not None:
        session.delete(found)
    session.flush()


def _like(pattern: str) -> str:
    """A name pattern in which only ``*`` is a wildcard, as a LIKE pattern (``_`` and ``%`` are literal)."""
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%")


_CLAIM_COLUMNS = (
    Calculation.id,
    Calculation.cluster_id,
    Calculation.attempt,
    Calculation.state,
    Calculation.started_at,
    Calculation.name,
    Calculation.command,
    Calculation.env,
    Calculation.outputs,
    Calculation.cores,
    Calculation.gpus,
    Calculation.memory,
    Calculation.walltime,
    Calculation.calctype,
    Calculation.calctype_version,
    Calculation.inputs,
    Calculation.analyses,
    Calculation.scheduler,
    Calculation.project_id,
    Calculation.owner_id,
)


def queued_for(
    session: Session,
    cluster_id: int,
    limit: int,
    skip_projects: Iterable[int] = (),
    skip_owners: Iterable[int] = (),
) -> Sequence[Row[Any]]:
    """Queued work of a cluster, best first, locked so that no other replica takes it;
    none of the projects and owners to skip (those at their ``max_running``)."""
    stmt = (
        select(*_CLAIM_COLUMNS)
        .where(Calculation.cluster_id == cluster_id, Calculation.state == State.QUEUED.value)
        .order_by(Calculation.priority.desc(), Calculation.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if skip_projects := list(skip_projects):
        stmt = stmt.where(Calculation.project_id.not_in(skip_projects))
    if skip_owners := list(skip_owners):
        stmt = stmt.where(Calculation.owner_id.not_in(skip_owners))
    return session.execute(stmt).all()


_REPORT_COLUMNS = (
    Calculation.id,
    Calculation.cluster_id,
    Calculation.attempt,
    Calculation.state,
    Calculation.started_at,
    Calculation.max_attempts,
    Calculation.lease_agent,
    Calculation.provenance,
)


def snapshots(session: Session, ids: Iterable[int], *, lock: bool = False) -> Sequence[Row[Any]]:
    """What changing the state of these calculations needs to know, without loading them whole."""
    ids = list(set(ids))
    if not ids:
        return []
    stmt = select(*_REPORT_COLUMNS).where(Calculation.id.in_(ids))
    return session.execute(stmt.with_for_update() if lock else stmt).all()


def held_by(session: Session, cluster_id: int, ids: Iterable[int]) -> Sequence[Row[Any]]:
    ids = list(ids)
    if not ids:
        return []
    stmt = select(*_REPORT_COLUMNS).where(Calculation.cluster_id == cluster_id, Calculation.id.in_(ids))
    return session.execute(stmt).all()


def update_columns(session: Session, values_by_id: dict[int, dict[str, Any]]) -> None:
    """Set columns of many calculations: one executemany for each set of columns."""
    table = Calculation.__table__
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for calc_id, values in values_by_id.items():
        names = tuple(sorted(values))
        groups.setdefault(names, []).append({"_id": calc_id, **{f"v_{k}": v for k, v in values.items()}})
    for names, rows in groups.items():
        stmt = (
            update(table)  # type: ignore[arg-type]
            .where(table.c.id == bindparam("_id"))
            .values({name: bindparam(f"v_{name}", type_=table.c[name].type) for name in names})
        )
        session.connection().execute(stmt, rows)


def insert_files(session: Session, files: list[dict[str, Any]]) -> None:
    """Many files' records in one statement (a batch's rendered inputs)."""
    if files:
        session.connection().execute(insert(CalculationFile.__table__), files)  # type: ignore[arg-type]


def replace_input_files(session: Session, files: list[dict[str, Any]]) -> None:
    """Record these input files, in place of any their calculations had at the same paths."""
    if not files:
        return
    session.execute(
        delete(CalculationFile).where(
            CalculationFile.kind == "input",
            tuple_(CalculationFile.calculation_id, CalculationFile.path).in_(
                sorted({(f["calculation_id"], f["path"]) for f in files})
            ),
        )
    )
    insert_files(session, files)


def insert_events(session: Session, events: list[dict[str, Any]]) -> None:
    if events:
        session.connection().execute(insert(CalculationEvent.__table__), events)  # type: ignore[arg-type]


def renew_leases(session: Session, agent: str, ids: Sequence[int], until: datetime) -> None:
    if ids:
        session.execute(
            update(Calculation)
            .where(
                Calculation.id.in_(ids),
                Calculation.lease_agent == agent,
                Calculation.state.in_(_HELD),
            )
            .values(lease_expires_at=until)
        )


def extend_leases(session: Session, until: datetime) -> int:
    """Give every held lease at least until ``until`` (used after a server restart)."""
    result = session.execute(
        update(Calculation)
        .where(Calculation.state.in_(_HELD), Calculation.lease_expires_at < until)
        .values(lease_expires_at=until)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def expired(session: Session, at: datetime, limit: int = 500) -> list[Calculation]:
    stmt = (
        select(Calculation)
        .where(Calculation.state.in_(_HELD), Calculation.lease_expires_at < at)
        .order_by(Calculation.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(session.scalars(stmt))


def add_events(session: Session, events: Iterable[CalculationEvent]) -> None:
    session.add_all(list(events))


def events_of(session: Session, calc_id: int, after: int = 0) -> list[CalculationEvent]:
    """The calculation's events in order; only those with an id above ``after``, if given."""
    stmt = select(CalculationEvent).where(CalculationEvent.calculation_id == calc_id)
    if after:
        stmt = stmt.where(CalculationEvent.id > after)
    return list(session.scalars(stmt.order_by(CalculationEvent.id)))


def files_of(session: Session, calc_ids: Sequence[int]) -> dict[int, list[CalculationFile]]:
    found: dict[int, list[CalculationFile]] = {i: [] for i in calc_ids}
    if calc_ids:
        stmt = select(CalculationFile).where(CalculationFile.calculation_id.in_(calc_ids))
        for f in session.scalars(stmt.order_by(CalculationFile.kind, CalculationFile.path)):
            found[f.calculation_id].append(f)
    return found


def file_of(session: Session, calc_id: int, kind: str, path: str) -> CalculationFile | None:
    return session.scalar(
        select(CalculationFile).where(
            CalculationFile.calculation_id == calc_id,
            CalculationFile.kind == kind,
            CalculationFile.path == path,
        )
    )


def put_file(session: Session, record: CalculationFile) -> None:
    old = file_of(session, record.calculation_id, record.kind, record.path)
    if old is not None:
        session.delete(old)
        session.flush()
    session.add(record)
    session.flush()


def remove(session: Session, calc: Calculation) -> None:
    session.execute(delete(Favorite).where(Favorite.calculation_id == calc.id))
    session.execute(delete(CalculationEvent).where(CalculationEvent.calculation_id == calc.id))
    session.execute(delete(CalculationFile).where(CalculationFile.calculation_id == calc.id))
    session.delete(calc)
    session.flush()


def digest_in_use(session: Session, calctype: str, version: str, digest: str) -> int | None:
    """A calculation that ran ``calctype`` ``version`` with another definition, if any."""
    stmt = (
        select(Calculation.id)
        .where(
            Calculation.calctype == calctype,
            Calculation.calctype_version == version,
            Calculation.calctype_digest != digest,
        )
        .limit(1)
    )
    return session.scalar(stmt)


def state_counts(session: Session, project_ids: Sequence[int] | None) -> dict[str, int]:
    """How many calculations are in each state, of these projects (all when None)."""
    stmt = select(Calculation.state, func.count()).group_by(Calculation.state)
    if project_ids is not None:
        stmt = stmt.where(Calculation.project_id.in_(project_ids))
    return {row[0]: row[1] for row in session.execute(stmt)}
