"""Links between calculations (which waits for which, and what passes between them), and the
queue of calculations that ended with children to look at."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, insert, select, tuple_
from sqlalchemy.orm import Session, aliased

from calchub.domain.states import State
from calchub.server.db.tables import Calculation, CalculationFile, CalculationLink, ChainQueue, Result


def insert_links(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(CalculationLink), rows)


def parents_of(session: Session, child_ids: Iterable[int]) -> dict[int, list[CalculationLink]]:
    ids = sorted(set(child_ids))
    found: dict[int, list[CalculationLink]] = {i: [] for i in ids}
    if ids:
        stmt = (
            select(CalculationLink)
            .where(CalculationLink.child_id.in_(ids))
            .order_by(CalculationLink.parent_id)
        )
        for link in session.scalars(stmt):
            found[link.child_id].append(link)
    return found


def children_of(session: Session, parent_ids: Iterable[int]) -> list[tuple[int, int]]:
    """(parent, child) pairs of these parents."""
    ids = sorted(set(parent_ids))
    if not ids:
        return []
    stmt = select(CalculationLink.parent_id, CalculationLink.child_id).where(
        CalculationLink.parent_id.in_(ids)
    )
    return [(parent, child) for parent, child in session.execute(stmt)]


def queue_children_of(session: Session, ended: Sequence[int]) -> int:
    """Queue those of these calculations (which just ended) that have children; how many."""
    if not ended:
        return 0
    parents = (
        select(CalculationLink.parent_id).distinct().where(CalculationLink.parent_id.in_(sorted(set(ended))))
    )
    done = session.execute(insert(ChainQueue).from_select(["parent_id"], parents))
    return int(done.rowcount or 0)  # type: ignore[attr-defined]


def queue_parents_of(session: Session, child_ids: Sequence[int]) -> int:
    """Queue the parents of these calculations, so the follower looks at them again."""
    if not child_ids:
        return 0
    parents = (
        select(CalculationLink.parent_id)
        .distinct()
        .where(CalculationLink.child_id.in_(sorted(set(child_ids))))
    )
    done = session.execute(insert(ChainQueue).from_select(["parent_id"], parents))
    return int(done.rowcount or 0)  # type: ignore[attr-defined]


def queue_every_waiting(session: Session) -> int:
    """Queue the parents of every waiting calculation (at start-up: what a stop interrupted)."""
    child = aliased(Calculation)
    parents = (
        select(CalculationLink.parent_id)
        .distinct()
        .join(child, child.id == CalculationLink.child_id)
        .where(child.state == State.WAITING.value)
    )
    done = session.execute(insert(ChainQueue).from_select(["parent_id"], parents))
    return int(done.rowcount or 0)  # type: ignore[attr-defined]


def take_queued(session: Session, limit: int) -> list[int]:
    """The first ``limit`` queued parents, taken off the queue (if this transaction commits)."""
    rows = list(
        session.execute(select(ChainQueue.id, ChainQueue.parent_id).order_by(ChainQueue.id).limit(limit))
    )
    if rows:
        session.execute(delete(ChainQueue).where(ChainQueue.id.in_([row.id for row in rows])))
    return sorted({row.parent_id for row in rows})


def waiting_children(session: Session, parent_ids: Sequence[int]) -> list[int]:
    """The children of these calculations that are waiting."""
    if not parent_ids:
        return []
    stmt = (
        select(CalculationLink.child_id)
        .distinct()
        .join(Calculation, Calculation.id == CalculationLink.child_id)
        .where(
            CalculationLink.parent_id.in_(sorted(set(parent_ids))), Calculation.state == State.WAITING.value
        )
    )
    return sorted(session.scalars(stmt))


def parent_states(session: Session, child_ids: Sequence[int]) -> dict[int, list[tuple[int, State, int]]]:
    """For each of these children, its parents with their state and attempt, read now."""
    parent = aliased(Calculation)
    stmt = (
        select(CalculationLink.child_id, CalculationLink.parent_id, parent.state, parent.attempt)
        .join(parent, parent.id == CalculationLink.parent_id)
        .where(CalculationLink.child_id.in_(sorted(set(child_ids))))
    )
    found: dict[int, list[tuple[int, State, int]]] = {}
    for child, parent_id, state, attempt in session.execute(stmt):
        found.setdefault(child, []).append((parent_id, State(state), attempt))
    return found


def kept_files(session: Session, attempts: dict[int, int]) -> dict[tuple[int, str], CalculationFile]:
    """The output files these calculations kept in the given attempt of each, by (calculation, path)."""
    if not attempts:
        return {}
    stmt = select(CalculationFile).where(
        tuple_(CalculationFile.calculation_id, CalculationFile.attempt).in_(sorted(attempts.items())),
        CalculationFile.kind == "output",
    )
    return {(f.calculation_id, f.path): f for f in session.scalars(stmt)}


def results_of(session: Session, calc_ids: Sequence[int]) -> dict[tuple[int, str], Result]:
    stmt = select(Result).where(Result.calculation_id.in_(sorted(set(calc_ids))))
    return {(r.calculation_id, r.name): r for r in session.scalars(stmt)}


def lock_waiting(session: Session, ids: Sequence[int]) -> list[Calculation]:
    """These calculations, if still waiting, locked for this transaction in the order of their ids
    (two followers lock in the same order, so neither waits for the other in a circle)."""
    stmt = (
        select(Calculation)
        .where(Calculation.id.in_(sorted(ids)), Calculation.state == State.WAITING.value)
        .order_by(Calculation.id)
        .with_for_update()
    )
    return list(session.scalars(stmt))


def skipped_descendants(session: Session, calc_id: int) -> list[Calculation]:
    """The skipped calculations downstream of this one, nearest first."""
    found: list[Calculation] = []
    seen = {calc_id}
    frontier = [calc_id]
    while frontier:
        children = {child for _, child in children_of(session, frontier)} - seen
        seen |= children
        rows = (
            list(
                session.scalars(
                    select(Calculation)
                    .where(Calculation.id.in_(sorted(children)), Calculation.state == State.SKIPPED.value)
                    .with_for_update()
                )
            )
            if children
            else []
        )
        found += rows
        frontier = [row.id for row in rows]
    return found


def children_not_yet_run(session: Session, calc_id: int) -> list[int]:
    """Children of this calculation that never ran and were not rejected: they may still take
    from it (waiting, awaiting approval, or cancelled or skipped and retried later)."""
    child = aliased(Calculation)
    stmt = (
        select(child.id)
        .join(CalculationLink, CalculationLink.child_id == child.id)
        .where(
            CalculationLink.parent_id == calc_id,
            child.attempt == 0,
            child.state != State.REJECTED.value,
        )
        .order_by(child.id)
    )
    return list(session.scalars(stmt))
