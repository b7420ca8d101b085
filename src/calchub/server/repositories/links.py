"""Links between calculations: which waits for which, and what passes between them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, aliased

from calchub.domain.states import State
from calchub.server.db.tables import Calculation, CalculationFile, CalculationLink, Result


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


def waiting_with_parents(session: Session, after: int, limit: int) -> list[tuple[int, int, str]]:
    """(child, parent, parent's state) for the waiting calculations after id ``after``, at most
    ``limit`` of them (each with all its parents)."""
    children = (
        select(Calculation.id)
        .where(Calculation.state == State.WAITING.value, Calculation.id > after)
        .order_by(Calculation.id)
        .limit(limit)
        .scalar_subquery()
    )
    parent = aliased(Calculation)
    stmt = (
        select(CalculationLink.child_id, CalculationLink.parent_id, parent.state)
        .join(parent, parent.id == CalculationLink.parent_id)
        .where(CalculationLink.child_id.in_(children))
    )
    return [(child, parent, state) for child, parent, state in session.execute(stmt)]


def any_waiting(session: Session) -> bool:
    stmt = select(Calculation.id).where(Calculation.state == State.WAITING.value).limit(1)
    return session.scalar(stmt) is not None


def kept_files(session: Session, calc_ids: Sequence[int]) -> dict[tuple[int, str], CalculationFile]:
    """The output files these calculations kept, by (calculation, path)."""
    stmt = select(CalculationFile).where(
        CalculationFile.calculation_id.in_(sorted(set(calc_ids))), CalculationFile.kind == "output"
    )
    return {(f.calculation_id, f.path): f for f in session.scalars(stmt)}


def results_of(session: Session, calc_ids: Sequence[int]) -> dict[tuple[int, str], Result]:
    stmt = select(Result).where(Result.calculation_id.in_(sorted(set(calc_ids))))
    return {(r.calculation_id, r.name): r for r in session.scalars(stmt)}


def lock_waiting(session: Session, ids: Sequence[int]) -> list[Calculation]:
    """These calculations, if still waiting, locked for this transaction (others skip them)."""
    stmt = (
        select(Calculation)
        .where(Calculation.id.in_(sorted(ids)), Calculation.state == State.WAITING.value)
        .order_by(Calculation.id)
        .with_for_update(skip_locked=True)
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
